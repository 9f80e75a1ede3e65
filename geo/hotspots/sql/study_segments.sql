-- The service area cut by the horizontal lines through a hexagon grid's centres.
-- Line m lies at y = m * %(dy)s; each row is one stretch of a line inside the area.
WITH parts AS (
    SELECT ST_Transform(geom, %(srid)s) AS geom
    FROM geo_areapart
    WHERE kind = 'force'
), lines AS (
    SELECT m, ST_SetSRID(
        ST_MakeLine(ST_MakePoint(%(xmin)s, m * %(dy)s), ST_MakePoint(%(xmax)s, m * %(dy)s)),
        %(srid)s
    ) AS geom
    FROM generate_series(%(mmin)s::int, %(mmax)s::int) AS m
)
SELECT l.m, ST_XMin(piece.geom), ST_XMax(piece.geom)
FROM lines l
JOIN parts p ON l.geom && p.geom
CROSS JOIN LATERAL ST_Dump(ST_Intersection(l.geom, p.geom)) AS piece
WHERE ST_Dimension(piece.geom) = 1
