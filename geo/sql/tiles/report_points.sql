-- Report points of one tile, when there are at most $14 of them: the count (up to $14 + 1)
-- and the tile, which is empty when there are more. $1 z, $2 x, $3 y; $4..$7 the box to
-- search (WGS84: the tile and its buffer, clipped to the data and to the in_bbox filter);
-- $8 the areas a planner may see; $9 one area (NULL: any); $10 a mask of reason bits, any
-- of which (NULL: all); $11 a time band, 0..3 (NULL: all); $12 since and $13 until, on
-- when felt or, where unknown, when received (NULL: open).
--
-- Never the free text. A point's tile coordinates are worked out from its longitude and
-- latitude (Web Mercator is a formula), not transformed and clipped report by report.
WITH hits AS MATERIALIZED (
    SELECT r.id, r.feeling, r.severity, r.felt_band, r.reasons,
           ST_X(r.location) AS lon, ST_Y(r.location) AS lat
    FROM reports_report r
    WHERE r.location && ST_MakeEnvelope($4, $5, $6, $7, 4326)
      AND r.area_id = ANY($8)
      AND ($9::bigint IS NULL OR r.area_id = $9)
      AND ($10::int IS NULL OR r.reason_bits & $10 <> 0)
      AND ($11::int IS NULL OR r.felt_band = $11)
      AND ($12::timestamptz IS NULL OR r.felt_at >= $12
           OR (r.felt_at IS NULL AND r.received_at >= $12))
      AND ($13::timestamptz IS NULL OR r.felt_at < $13
           OR (r.felt_at IS NULL AND r.received_at < $13))
    LIMIT $14 + 1
), found AS (
    SELECT count(*) AS n FROM hits
)
SELECT
    (SELECT n FROM found),
    (SELECT ST_AsMVT(tile, 'reports', 4096, 'geom') FROM (
        SELECT
            id::text AS id, feeling, severity,
            (ARRAY['day', 'evening', 'night', 'unknown'])[felt_band + 1] AS band,
            array_to_string(reasons, ',') AS reasons,
            ST_MakePoint(
                round(((lon / 360.0 + 0.5) * power(2.0, $1) - $2) * 4096),
                round(((0.5 - ln(tan(pi() / 4 + radians(lat) / 2)) / (2 * pi()))
                       * power(2.0, $1) - $3) * 4096)
            ) AS geom
        FROM hits
        WHERE (SELECT n FROM found) <= $14
    ) tile)
