-- Reports of one tile counted in a $14 by $14 grid of square cells (so never more than
-- $14 squared features), each drawn at the mean position of its reports. $1 z, $2 x, $3 y;
-- $4..$7 the box to search (WGS84: the tile without buffer, so that no report is counted
-- in two tiles, clipped to the data and to the in_bbox filter); $8..$13 the filters, as in
-- report_points.sql.
WITH hits AS (
    SELECT
        r.feeling,
        ((ST_X(r.location) / 360.0 + 0.5) * power(2.0, $1) - $2) * 4096 AS px,
        ((0.5 - ln(tan(pi() / 4 + radians(ST_Y(r.location)) / 2)) / (2 * pi()))
            * power(2.0, $1) - $3) * 4096 AS py
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
), cells AS (
    SELECT
        least(greatest(floor(px * $14 / 4096.0), 0), $14 - 1) AS cx,
        least(greatest(floor(py * $14 / 4096.0), 0), $14 - 1) AS cy,
        count(*) AS n,
        count(*) FILTER (WHERE feeling = 'unsafe') AS unsafe,
        avg(px) AS ax,
        avg(py) AS ay
    FROM hits
    GROUP BY 1, 2
)
SELECT ST_AsMVT(tile, 'reports', 4096, 'geom') FROM (
    SELECT n::int AS count, unsafe::int AS unsafe, (n - unsafe)::int AS safe,
           ST_MakePoint(round(ax), round(ay)) AS geom
    FROM cells
) tile
