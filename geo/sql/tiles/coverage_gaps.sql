-- One tile of coverage gaps: the cells of coverage_cells.sql (which the braces below take)
-- for the box to search, drawn as hexagons. Named parameters, bound by position: z, x, y;
-- xmin, ymin, xmax, ymax the box to search (WGS84: the tile and its buffer, clipped to the
-- data and to the in_bbox filter); bxmin, bymin, bxmax, bymax a box the cells must meet,
-- EPSG:3857 (NULL: anywhere); and those of coverage_cells.sql.
WITH cells AS MATERIALIZED (
{cells}
), shaped AS (
    SELECT
        c.*,
        ST_Transform(
            ST_Hexagon(%(resolution)s / 2.0, c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), %(srid)s)),
            3857
        ) AS hexagon
    FROM cells c
), tile AS (
    SELECT
        i, j, %(resolution)s AS resolution,
        round(uncovered::numeric, 2)::float8 AS uncovered, uncovered_reports,
        round(covered::numeric, 2)::float8 AS covered, covered_reports,
        ST_AsMVTGeom(hexagon, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM shaped
    WHERE %(bxmin)s::float8 IS NULL
       OR ST_Intersects(hexagon, ST_MakeEnvelope(%(bxmin)s, %(bymin)s, %(bxmax)s, %(bymax)s, 3857))
)
SELECT ST_AsMVT(tile, 'coverage-gaps', 4096, 'geom') FROM tile WHERE geom IS NOT NULL
