-- One tile of interventions: $1 z, $2 x, $3 y; $4..$7 the box to search (WGS84: the tile and
-- its buffer, clipped to the data and to the in_bbox filter); $8 the areas a planner may
-- see; $9 the planner's organisation; $10 one area the point must lie in (NULL: any).
--
-- A planner sees what was done in their areas, by whoever did it, and what their own
-- organisation did anywhere, as /api/v1/interventions (geo.interventions). Never the note.
SELECT ST_AsMVT(tile, 'interventions', 4096, 'geom') FROM (
    SELECT
        i.id, i.kind, to_char(i.date, 'YYYY-MM-DD') AS date, i.radius_m,
        i.cost::float8 AS cost,
        ST_MakePoint(
            round(((ST_X(i.location) / 360.0 + 0.5) * power(2.0, $1) - $2) * 4096),
            round(((0.5 - ln(tan(pi() / 4 + radians(ST_Y(i.location)) / 2)) / (2 * pi()))
                   * power(2.0, $1) - $3) * 4096)
        ) AS geom
    FROM geo_intervention i
    WHERE i.location && ST_MakeEnvelope($4, $5, $6, $7, 4326)
      AND (i.area_id = ANY($8) OR i.organisation_id = $9)
      AND ($10::bigint IS NULL OR EXISTS (
          SELECT 1 FROM geo_areapart p WHERE p.area_id = $10 AND ST_Intersects(p.geom, i.location)
      ))
) tile
