-- Reports of one tile counted in a $13 by $13 grid of square cells, as report_cells.sql,
-- but from the live generation's finest hotspot cells instead of the reports themselves:
-- each hexagon's counts go to the square its centre falls in, drawn at the mean of the
-- centres weighted by reports. For a tile without report filters (the generation has
-- counted every report): a few thousand cells read instead of up to a million reports.
-- $1 z, $2 x, $3 y; $4..$7 the box to search (EPSG:3857: the tile without buffer, clipped
-- to the data and to the in_bbox filter); $8 the areas a planner may see; $9 one area
-- (NULL: any); $10 the generation; $11 the resolution; $12 the analysis SRID; $13 the
-- squares per side.
WITH search AS (
    SELECT ST_Transform(
        ST_Segmentize(ST_MakeEnvelope($4, $5, $6, $7, 3857), ($6 - $4) / 16.0), $12
    ) AS box
), ranges AS (
    SELECT
        floor(ST_XMin(box) / (0.75 * $11))::int - 1 AS imin,
        ceil(ST_XMax(box) / (0.75 * $11))::int + 1 AS imax,
        floor(ST_YMin(box) / (sqrt(3.0) * $11 / 2.0))::int - 1 AS jmin,
        ceil(ST_YMax(box) / (sqrt(3.0) * $11 / 2.0))::int + 1 AS jmax
    FROM search
), centres AS (
    SELECT
        c.reports, c.unsafe, c.safe,
        ST_Transform(
            ST_SetSRID(ST_MakePoint(
                0.75 * $11 * c.i, sqrt(3.0) / 2.0 * $11 * (c.j + (c.i & 1) / 2.0)
            ), $12),
            3857
        ) AS centre
    FROM geo_hotspotcell c
    WHERE c.generation_id = $10
      AND c.slice_id IS NULL
      AND c.resolution = $11
      AND c.i BETWEEN (SELECT imin FROM ranges) AND (SELECT imax FROM ranges)
      AND c.j BETWEEN (SELECT jmin FROM ranges) AND (SELECT jmax FROM ranges)
      AND c.reports > 0
      AND c.area_id = ANY($8)
      AND ($9::bigint IS NULL OR c.area_id = $9)
), placed AS (
    SELECT
        reports, unsafe, safe,
        (ST_X(centre) + 20037508.342789244) / (40075016.685578488 / power(2.0, $1)) - $2 AS u,
        (20037508.342789244 - ST_Y(centre)) / (40075016.685578488 / power(2.0, $1)) - $3 AS v
    FROM centres
    WHERE ST_X(centre) >= $4 AND ST_X(centre) < $6 AND ST_Y(centre) > $5 AND ST_Y(centre) <= $7
), cells AS (
    SELECT
        least(greatest(floor(u * $13), 0), $13 - 1) AS cx,
        least(greatest(floor(v * $13), 0), $13 - 1) AS cy,
        sum(reports) AS n, sum(unsafe) AS unsafe, sum(safe) AS safe,
        sum(u * reports) / sum(reports) AS au, sum(v * reports) / sum(reports) AS av
    FROM placed
    GROUP BY 1, 2
)
SELECT ST_AsMVT(tile, 'reports', 4096, 'geom') FROM (
    SELECT n::int AS count, unsafe::int AS unsafe, safe::int AS safe,
           ST_MakePoint(round(au * 4096), round(av * 4096)) AS geom
    FROM cells
) tile
