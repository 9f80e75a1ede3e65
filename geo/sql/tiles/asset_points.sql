-- Street lights or cameras of one tile, when there are at most $10 of them: the count (up to
-- $10 + 1) and the tile, which is empty when there are more. $1 z, $2 x, $3 y; $4..$7 the
-- box to search (WGS84: the tile and its buffer, clipped to the data and to the in_bbox
-- filter); $8 the areas a planner may see; $9 one of them (NULL: any). The braces take the
-- table, the layer's name and its own columns (fixed SQL, never a value).
--
-- An asset lies in an area when one of the area's indexed pieces holds it (geo_areapart's
-- GiST index), whoever owns it. A point's tile coordinates are worked out from its
-- longitude and latitude, as in report_points.sql.
WITH hits AS MATERIALIZED (
    SELECT a.id, a.working, a.label, {columns}, ST_X(a.location) AS lon, ST_Y(a.location) AS lat
    FROM {table} a
    WHERE a.location && ST_MakeEnvelope($4, $5, $6, $7, 4326)
      AND EXISTS (
          SELECT 1 FROM geo_areapart p
          WHERE p.area_id = ANY($8)
            AND ($9::bigint IS NULL OR p.area_id = $9)
            AND ST_Intersects(p.geom, a.location)
      )
    LIMIT $10 + 1
), found AS (
    SELECT count(*) AS n FROM hits
)
SELECT
    (SELECT n FROM found),
    (SELECT ST_AsMVT(tile, '{layer}', 4096, 'geom') FROM (
        SELECT
            id, working, nullif(label, '') AS label, {names},
            ST_MakePoint(
                round(((lon / 360.0 + 0.5) * power(2.0, $1) - $2) * 4096),
                round(((0.5 - ln(tan(pi() / 4 + radians(lat) / 2)) / (2 * pi()))
                       * power(2.0, $1) - $3) * 4096)
            ) AS geom
        FROM hits
        WHERE (SELECT n FROM found) <= $10
    ) tile)
