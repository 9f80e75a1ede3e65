-- Places: DBSCAN clusters of one part's unsafe reports (places.py) in the analysis SRID,
-- one row each, written into the generation being built. Reports outside every cluster
-- (noise) are in none.
INSERT INTO geo_place (
    generation_id, area_id, label, centroid, hull, report_count, top_reasons, night_share,
    score
)
WITH members AS MATERIALIZED (
    SELECT * FROM (
        SELECT
            -- In spatial order (50 m strips, then up each strip): neighbours then lie near
            -- each other in memory, and DBSCAN runs three times as fast as in the table's
            -- order. The clusters are the same; only their numbers follow the order.
            ST_ClusterDBSCAN(r.location_projected, %(eps)s, %(min_points)s) OVER (
                ORDER BY floor(ST_X(r.location_projected) / 50), ST_Y(r.location_projected)
            ) AS cluster,
            r.location_projected AS point, r.reason_bits AS bits, r.felt_band AS band,
            r.street, coalesce(r.area_id, 0) AS area,
            {weight} AS weight
        FROM reports_report r
        WHERE r.feeling = 'unsafe'
          -- This part's cells (places.py): no report outside them is within eps of one
          -- inside.
          AND (floor(ST_X(r.location_projected) / %(eps)s)::int8 << 32
               | (floor(ST_Y(r.location_projected) / %(eps)s)::int8 & 4294967295))
              = ANY(%(cells)s::int8[])
    ) clustered
    WHERE cluster IS NOT NULL
), summary AS (
    SELECT
        cluster,
        -- A multipoint's centroid is its points' mean.
        ST_Transform(
            ST_SetSRID(ST_MakePoint(avg(ST_X(point)), avg(ST_Y(point))), %(srid)s), 4326
        ) AS centroid,
        ST_ConvexHull(ST_Collect(point)) AS hull,
        count(*) AS reports,
        coalesce(sum((band = 2)::int)::float8 / nullif(sum((band < 3)::int), 0), 0)
            AS night_share,
        sum(weight) AS score,
        -- Reports per reason, in the order of the reason codes (bit k, code k + 1).
        ARRAY[{reason_sums}] AS reason_counts
    FROM members
    GROUP BY cluster
), top_reasons AS (
    SELECT s.cluster, (array_agg(code.name ORDER BY code.reports DESC, code.name))[1:3]
        AS reasons
    FROM summary s,
        unnest(s.reason_counts, %(reason_codes)s::text[]) AS code (reports, name)
    WHERE code.reports > 0
    GROUP BY s.cluster
), area AS (
    SELECT DISTINCT ON (cluster) cluster, area
    FROM (SELECT cluster, area, count(*) AS reports FROM members GROUP BY cluster, area) a
    ORDER BY cluster, reports DESC, area
), street AS (
    SELECT DISTINCT ON (cluster) cluster, street
    FROM (
        SELECT cluster, street, count(*) AS reports
        FROM members WHERE street <> '' GROUP BY cluster, street
    ) a
    ORDER BY cluster, reports DESC, street
)
SELECT
    %(generation)s,
    nullif(a.area, 0),
    coalesce(
        nullif(regexp_replace(st.street, '^On or near ', ''), ''),
        'Unnamed place at ' || round(ST_Y(s.centroid)::numeric, 4) || ', '
            || round(ST_X(s.centroid)::numeric, 4)
    ),
    s.centroid,
    -- A hull of points in a line or on one spot is not a polygon: a metre around it is.
    ST_Transform(
        CASE WHEN ST_GeometryType(s.hull) = 'ST_Polygon' THEN s.hull
             ELSE ST_Buffer(s.hull, 1.0) END,
        4326
    ),
    s.reports,
    coalesce(t.reasons, ARRAY[]::text[]),
    s.night_share,
    s.score
FROM summary s
JOIN area a USING (cluster)
LEFT JOIN street st USING (cluster)
LEFT JOIN top_reasons t USING (cluster)
