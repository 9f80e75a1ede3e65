-- Every resolution's cell of every report in one pass: one row per report, with a cell
-- key per resolution, its attributes and its weight; numpy then sums the reports of each
-- cell. (Grouping here, once per resolution, took PostgreSQL longer than the binning.)
-- Reasons arrive as the bits of reason_bits, band and month as the database keeps them, so
-- no array is searched and no timestamp converted.
--
-- A point's cell is the nearer of the nearest centres in the two columns either side of
-- it (PostGIS's flat-topped hexagons, see grid.py): with u = x / (1.5 size), v = y /
-- (sqrt(3) size), column i0 = floor(u) has centres at v = j + (i0 mod 2) / 2, and the
-- left one wins when (2 fu - 1) <= 4/3 (e1^2 - e0^2), fu the fraction of u and e0, e1 the
-- point's distances to the nearest centre of each column in units of sqrt(3) size.
-- {located}, {columns}, {nearest}, {chosen} and {cells} repeat a step for each resolution k, whose
-- column width and row height are the parameters w_k and h_k.
-- OFFSET 0 keeps each step's values computed once per row instead of copied into the next.
-- One range of the table's pages: connections in parallel share the table between them.
SELECT
    {cells},
    bits | (band << 10) | (safe << 12) | (month << 13) AS attributes,
    area, weight
FROM (
    SELECT bits, band, safe, month, area, weight, {chosen}
    FROM (
        SELECT bits, band, safe, month, area, weight, {nearest}
        FROM (
            SELECT bits, band, safe, month, area, weight, {columns}
            FROM (
                SELECT bits, band, safe, month, area, weight, {located}
                FROM (
                    SELECT
                        ST_X(r.location_projected) AS x,
                        ST_Y(r.location_projected) AS y,
                        r.reason_bits AS bits,
                        r.felt_band::int AS band,
                        r.felt_month AS month,
                        (r.feeling = 'safe')::int AS safe,
                        coalesce(r.area_id, 0)::int AS area,
                        {weight} AS weight
                    FROM reports_report r
                    WHERE r.ctid >= %(first_tid)s::tid AND r.ctid < %(end_tid)s::tid
                      AND (%(reason_mask)s = 0 OR r.reason_bits & %(reason_mask)s <> 0)
                      AND (%(band)s < 0 OR r.felt_band = %(band)s)
                      AND (%(since)s::timestamptz IS NULL
                           OR coalesce(r.felt_at, r.received_at) >= %(since)s::timestamptz)
                      AND (%(until)s::timestamptz IS NULL
                           OR coalesce(r.felt_at, r.received_at) < %(until)s::timestamptz)
                    OFFSET 0
                ) report
                OFFSET 0
            ) located
            OFFSET 0
        ) columns
        OFFSET 0
    ) nearest
    OFFSET 0
) chosen
