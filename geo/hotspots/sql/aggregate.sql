-- Every resolution's cells in one pass over the reports, in groups of reports that share
-- a cell, reasons, time band, feeling, month and area; Python sums the groups of a cell.
-- Reasons arrive as the bits of reason_bits, band and month as the database keeps them, so
-- no array is searched and no timestamp converted.
--
-- A point's cell is the nearer of the nearest centres in the two columns either side of
-- it (PostGIS's flat-topped hexagons, see grid.py): with u = x / (1.5 size), v = y /
-- (sqrt(3) size), column i0 = floor(u) has centres at v = j + (i0 mod 2) / 2, and the
-- left one wins when (2 fu - 1) <= 4/3 (e1^2 - e0^2), fu the fraction of u and e0, e1 the
-- point's distances to the nearest centre of each column in units of sqrt(3) size.
-- OFFSET 0 keeps each step's values computed once per row instead of copied into the next.
-- One range of the table's pages: connections in parallel share the table between them.
SELECT
    resolution,
    -- (i, j) in one bigint and the report's attributes in one int: a hash on four columns
    -- instead of nine.
    (CASE WHEN left_wins THEN i0 ELSE i0 + 1 END)::int8 << 32
        | ((CASE WHEN left_wins THEN j0 ELSE j1 END)::int8 & 4294967295) AS cell,
    bits | (band << 10) | (safe << 12) | (month << 13) AS attributes,
    area, count(*)::int AS reports, sum(weight)::float8 AS score
FROM (
    SELECT resolution, i0, j0, j1, bits, band, safe, month, area, weight,
           (2.0 * (u - i0) - 1.0) <= (4.0 / 3.0) * (e1 * e1 - e0 * e0) AS left_wins
    FROM (
        SELECT resolution, u, i0, bits, band, safe, month, area, weight,
               round(a0)::int AS j0, a0 - round(a0) AS e0,
               round(a1)::int AS j1, a1 - round(a1) AS e1
        FROM (
            SELECT resolution, u, i0, bits, band, safe, month, area, weight,
                   v - 0.5 * (i0 & 1) AS a0, v - 0.5 * ((i0 + 1) & 1) AS a1
            FROM (
                SELECT
                    grid.resolution,
                    report.x / grid.w AS u,
                    report.y / grid.h AS v,
                    floor(report.x / grid.w)::int AS i0,
                    report.bits, report.band, report.safe, report.area, report.weight,
                    CASE WHEN grid.resolution = %(monthly_resolution)s
                        THEN report.month ELSE 0 END AS month
                FROM (
                    SELECT
                        ST_X(r.location_projected) AS x,
                        ST_Y(r.location_projected) AS y,
                        r.reason_bits AS bits,
                        r.felt_band::int AS band,
                        r.felt_month AS month,
                        (r.feeling = 'safe')::int AS safe,
                        coalesce(r.area_id, 0)::int AS area,
                        CASE r.severity WHEN 1 THEN %(weight1)s WHEN 3 THEN %(weight3)s
                            ELSE %(weight2)s END
                        -- date_part, not extract: extract's numeric is many times slower.
                        * power(0.5, greatest(
                            date_part('epoch', %(now)s - coalesce(r.felt_at, r.received_at)), 0
                        ) / %(half_life_seconds)s) AS weight
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
                CROSS JOIN unnest(%(resolutions)s::int[], %(ws)s::float8[], %(hs)s::float8[])
                    AS grid (resolution, w, h)
                OFFSET 0
            ) located
            OFFSET 0
        ) columns
        OFFSET 0
    ) nearest
    OFFSET 0
) chosen
GROUP BY resolution, cell, attributes, area
