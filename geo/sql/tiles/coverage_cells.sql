-- Demand for one intervention binned in hexagons of one resolution, split into what existing
-- assets already cover and what they leave uncovered: the cells of the coverage-gap layer,
-- for the GeoJSON API (geo.asset_layers) and, wrapped in coverage_gaps.sql, the tiles.
--
-- Named parameters (the tiles bind them by position): xmin, ymin, xmax, ymax the box whose
-- cells are wanted (WGS84); areas the areas a planner may see; area one area, with the areas
-- inside it (NULL: any); resolution; srid the analysis SRID; generation the live hotspot
-- generation, at whose start the weights are taken as the hotspot scores' are (now without
-- one); and those of the coverage rule (geo.coverage: demand_mask, cover_radius) and of
-- the weight (geo.hotspots.weights: weight1 to weight3, half_life_seconds), whose SQL the
-- braces below take: covered (of a demand report d) and reached (of a report r as it is
-- read), among the assets near the search box.
--
-- Reports are found in the box grown by one hexagon, so that a cell at the box's edge counts
-- all of its reports. A report's cell is the nearer of the nearest centres in the two
-- columns either side of it, with the same arithmetic as the rebuild (aggregate.sql), so a
-- coverage-gap cell is the hotspot cell of the same (resolution, i, j).
--
-- The demand is read once, then split three ways (geo.coverage): reports in no cell an
-- asset reaches are uncovered without a join; the others are joined to the assets, an
-- anti-join for the uncovered and a semi-join for the covered, so that the assets near the
-- box are hashed once for each rather than probed once for every report.
WITH moment AS (
    SELECT coalesce(
        (SELECT started_at FROM geo_hotspotgeneration WHERE id = %(generation)s::bigint), now()
    ) AS moment
), search AS (
    SELECT ST_Expand(
        ST_Envelope(ST_Transform(
            ST_Segmentize(
                ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326),
                (%(xmax)s - %(xmin)s) / 16.0
            ),
            %(srid)s
        )),
        %(resolution)s::float8
    ) AS box
), demand AS MATERIALIZED (
    SELECT
        r.location_projected AS location,
        ST_X(r.location_projected) / (0.75 * %(resolution)s) AS u,
        ST_Y(r.location_projected) / (sqrt(3.0) / 2.0 * %(resolution)s) AS v,
        {weight} AS weight,
        {reached} AS reached
    FROM reports_report r
    WHERE r.location_projected && (SELECT box FROM search)
      AND r.area_id = ANY(%(areas)s::bigint[])
      AND (%(area)s::bigint IS NULL OR r.area_id IN (
          -- Reports carry their local policing area: a force's are those of the areas in it.
          WITH RECURSIVE inside(id) AS (
              SELECT %(area)s::bigint
              UNION SELECT a.id FROM geo_area a JOIN inside ON a.parent_id = inside.id
          )
          SELECT id FROM inside
      ))
      AND {demand}
), hits AS (
    SELECT u, v, weight, false AS covered FROM demand d WHERE NOT d.reached
    UNION ALL
    SELECT u, v, weight, false AS covered FROM demand d WHERE d.reached AND NOT {covered}
    UNION ALL
    SELECT u, v, weight, true AS covered FROM demand d WHERE d.reached AND {covered}
-- OFFSET 0 keeps each step a subquery of its own, so that each expression is worked out
-- once a report rather than inlined into every expression that uses it.
), columns AS (
    SELECT
        weight, covered, u, floor(u)::int AS i0,
        v - 0.5 * (floor(u)::int & 1)::float8 AS a0,
        v - 0.5 * ((floor(u)::int + 1) & 1)::float8 AS a1
    FROM hits
    OFFSET 0
), nearest AS (
    SELECT
        weight, covered, u, i0,
        round(a0)::int AS j0, a0 - round(a0) AS e0,
        round(a1)::int AS j1, a1 - round(a1) AS e1
    FROM columns
    OFFSET 0
), chosen AS (
    SELECT
        weight, covered, i0, j0, j1,
        (2.0 * (u - i0) - 1.0) <= (4.0 / 3.0) * (e1 * e1 - e0 * e0) AS left_column
    FROM nearest
    OFFSET 0
)
SELECT
    CASE WHEN left_column THEN i0 ELSE i0 + 1 END AS i,
    CASE WHEN left_column THEN j0 ELSE j1 END AS j,
    coalesce(sum(weight) FILTER (WHERE NOT covered), 0)::float8 AS uncovered,
    count(*) FILTER (WHERE NOT covered)::int AS uncovered_reports,
    coalesce(sum(weight) FILTER (WHERE covered), 0)::float8 AS covered,
    count(*) FILTER (WHERE covered)::int AS covered_reports
FROM chosen
GROUP BY 1, 2
HAVING count(*) FILTER (WHERE NOT covered) > 0
