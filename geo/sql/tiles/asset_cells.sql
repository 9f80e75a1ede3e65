-- Street lights or cameras of one tile counted in a $10 by $10 grid of square cells (so
-- never more than $10 squared features), each drawn at the mean position of its assets,
-- with how many work and how many do not. $1 z, $2 x, $3 y; $4..$7 the box to search
-- (WGS84: the tile without buffer, so that no asset is counted in two tiles, clipped to the
-- data and to the in_bbox filter); $8 the areas a planner may see; $9 one of them (NULL:
-- any). The braces take the table and the layer's name, as in asset_points.sql.
WITH hits AS (
    SELECT
        a.working,
        ((ST_X(a.location) / 360.0 + 0.5) * power(2.0, $1) - $2) * 4096 AS px,
        ((0.5 - ln(tan(pi() / 4 + radians(ST_Y(a.location)) / 2)) / (2 * pi()))
            * power(2.0, $1) - $3) * 4096 AS py
    FROM {table} a
    WHERE a.location && ST_MakeEnvelope($4, $5, $6, $7, 4326)
      AND EXISTS (
          SELECT 1 FROM geo_areapart p
          WHERE p.area_id = ANY($8)
            AND ($9::bigint IS NULL OR p.area_id = $9)
            AND ST_Intersects(p.geom, a.location)
      )
), cells AS (
    SELECT
        least(greatest(floor(px * $10 / 4096.0), 0), $10 - 1) AS cx,
        least(greatest(floor(py * $10 / 4096.0), 0), $10 - 1) AS cy,
        count(*) AS n,
        count(*) FILTER (WHERE working) AS working,
        avg(px) AS ax,
        avg(py) AS ay
    FROM hits
    GROUP BY 1, 2
)
SELECT ST_AsMVT(tile, '{layer}', 4096, 'geom') FROM (
    SELECT n::int AS count, working::int AS working, (n - working)::int AS faulty,
           ST_MakePoint(round(ax), round(ay)) AS geom
    FROM cells
) tile
