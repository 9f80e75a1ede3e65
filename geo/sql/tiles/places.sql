-- One tile of places: $1 z, $2 x, $3 y; $4..$7 the box to search (WGS84: the tile and its
-- buffer, clipped to the data); $8 the generation; $9 the areas a planner may see; $10 one
-- area (NULL: any); $11..$14 a box the centroid must lie in, WGS84 (NULL: anywhere);
-- $15 true for hulls, false for centroids.
--
-- A centroid lies inside its hull, so the hull's GiST index finds both.
WITH tile AS (
    SELECT
        p.id, p.label, p.report_count, array_to_string(p.top_reasons, ',') AS top_reasons,
        round(p.night_share::numeric, 2)::float8 AS night_share,
        ST_AsMVTGeom(
            ST_Transform(CASE WHEN $15 THEN p.hull ELSE p.centroid END, 3857),
            ST_TileEnvelope($1, $2, $3), 4096, 64, true
        ) AS geom
    FROM geo_place p
    WHERE p.generation_id = $8
      AND p.hull && ST_MakeEnvelope($4, $5, $6, $7, 4326)
      AND ($15 OR p.centroid && ST_MakeEnvelope($4, $5, $6, $7, 4326))
      AND p.area_id = ANY($9)
      AND ($10::bigint IS NULL OR p.area_id = $10)
      AND ($11::float8 IS NULL OR p.centroid && ST_MakeEnvelope($11, $12, $13, $14, 4326))
)
SELECT ST_AsMVT(tile, 'places', 4096, 'geom') FROM tile WHERE geom IS NOT NULL
