-- One tile of hotspot cells: $1 z, $2 x, $3 y; $4..$7 the box to search (EPSG:3857: the
-- tile and its buffer, clipped to the data); $8 the generation, $9 the slice (the cells of
-- the generation itself where the statement reads slice_id IS NULL); $10 the resolution;
-- $11 the areas a planner may see (NULL: all); $12 one area (NULL: any); $13 Gi* classes
-- (NULL: all); $14..$17 a box the cells must meet, in EPSG:3857 (NULL: anywhere);
-- $18 the analysis SRID.
--
-- Hexagons are rebuilt from (resolution, i, j) in the analysis SRID and transformed. The
-- search box, in the analysis SRID, gives i and j ranges, so the cells come from one range
-- scan of cell_grid_idx (generation, slice, resolution, i, j).
WITH search AS (
    SELECT ST_Transform(
        ST_Segmentize(ST_MakeEnvelope($4, $5, $6, $7, 3857), ($6 - $4) / 16.0), $18
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
        c.id, c.i, c.j, c.resolution, c.gi_class, round(c.gi_z::numeric, 2)::float8 AS gi_z,
        c.unsafe, c.safe, c.reports, round(c.score::numeric, 2)::float8 AS score, c.trend,
        ST_Transform(
            ST_Hexagon(c.resolution / 2.0, c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), $18)), 3857
        ) AS hexagon
    FROM geo_hotspotcell c
    WHERE c.generation_id = $8
      AND {cells_of}
      AND c.resolution = $10
      AND c.i BETWEEN (SELECT imin FROM ranges) AND (SELECT imax FROM ranges)
      AND c.j BETWEEN (SELECT jmin FROM ranges) AND (SELECT jmax FROM ranges)
      AND ($11::bigint[] IS NULL OR c.area_id = ANY($11))
      AND ($12::bigint IS NULL OR c.area_id = $12)
      AND ($13::int[] IS NULL OR c.gi_class = ANY($13))
), tile AS (
    SELECT
        id, i, j, resolution, gi_class, gi_z, unsafe, safe, reports, score, trend,
        ST_AsMVTGeom(hexagon, ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom
    FROM cells
    WHERE $14::float8 IS NULL OR ST_Intersects(hexagon, ST_MakeEnvelope($14, $15, $16, $17, 3857))
)
SELECT ST_AsMVT(tile, 'hotspots', 4096, 'geom') FROM tile WHERE geom IS NOT NULL
