-- One tile of the public hotspot layer, as /api/v1/public/hotspots: the generation's own
-- cells of one (the coarsest) resolution with at least $9 unsafe reports (K), each with
-- its resolution and its count of unsafe reports and nothing else. $1 z, $2 x, $3 y;
-- $4..$7 the box to search (EPSG:3857); $8 the generation; $10 the resolution; $11 the
-- analysis SRID; $12..$15 a box the cells must meet, EPSG:3857 (NULL: anywhere). See
-- hotspots.sql for the ranges.
WITH search AS (
    SELECT ST_Transform(
        ST_Segmentize(ST_MakeEnvelope($4, $5, $6, $7, 3857), ($6 - $4) / 16.0), $11
    ) AS box
), ranges AS (
    SELECT
        floor(ST_XMin(box) / (0.75 * $10))::int - 1 AS imin,
        ceil(ST_XMax(box) / (0.75 * $10))::int + 1 AS imax,
        floor(ST_YMin(box) / (sqrt(3.0) * $10 / 2.0))::int - 1 AS jmin,
        ceil(ST_YMax(box) / (sqrt(3.0) * $10 / 2.0))::int + 1 AS jmax
    FROM search
), cells AS (
    SELECT
        c.resolution, c.unsafe,
        ST_Transform(
            ST_Hexagon(c.resolution / 2.0, c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), $11)), 3857
        ) AS hexagon
    FROM geo_hotspotcell c
    WHERE c.generation_id = $8
      AND c.slice_id IS NULL
      AND c.resolution = $10
      AND c.i BETWEEN (SELECT imin FROM ranges) AND (SELECT imax FROM ranges)
      AND c.j BETWEEN (SELECT jmin FROM ranges) AND (SELECT jmax FROM ranges)
      AND c.unsafe >= $9
), tile AS (
    SELECT resolution, unsafe,
           ST_AsMVTGeom(hexagon, ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom
    FROM cells
    WHERE $12::float8 IS NULL OR ST_Intersects(hexagon, ST_MakeEnvelope($12, $13, $14, $15, 3857))
)
SELECT ST_AsMVT(tile, 'public-hotspots', 4096, 'geom') FROM tile WHERE geom IS NOT NULL
