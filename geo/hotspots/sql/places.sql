-- Places: DBSCAN clusters of unsafe reports in the analysis SRID, one row each, written
-- into the generation being built. Reports outside every cluster (noise) are in none.
INSERT INTO geo_place (
    generation_id, area_id, label, centroid, hull, report_count, top_reasons, night_share,
    score
)
WITH clustered AS (
    SELECT
        ST_ClusterDBSCAN(r.location_projected, %(eps)s, %(min_points)s) OVER () AS cluster,
        r.location_projected AS point, r.reasons, r.felt_band, r.street, r.area_id,
        CASE r.severity WHEN 1 THEN %(weight1)s WHEN 3 THEN %(weight3)s ELSE %(weight2)s END
        * power(0.5, greatest(
            date_part('epoch', %(now)s - coalesce(r.felt_at, r.received_at)), 0
        ) / %(half_life_seconds)s) AS weight
    FROM reports_report r
    WHERE r.feeling = 'unsafe'
), members AS (
    SELECT * FROM clustered WHERE cluster IS NOT NULL
), reasons AS (
    SELECT cluster, reason, count(*) AS reports
    FROM members, unnest(members.reasons) AS reason
    GROUP BY cluster, reason
), top_reasons AS (
    SELECT cluster, (array_agg(reason ORDER BY reports DESC, reason))[1:3] AS reasons
    FROM reasons
    GROUP BY cluster
), summary AS (
    SELECT
        cluster,
        mode() WITHIN GROUP (ORDER BY area_id) AS area_id,
        mode() WITHIN GROUP (ORDER BY street) FILTER (WHERE street <> '') AS street,
        ST_Centroid(ST_Collect(point)) AS centroid,
        ST_ConvexHull(ST_Collect(point)) AS hull,
        count(*) AS reports,
        coalesce(
            sum((felt_band = 2)::int)::float8 / nullif(sum((felt_band < 3)::int), 0), 0
        ) AS night_share,
        sum(weight) AS score
    FROM members
    GROUP BY cluster
)
SELECT
    %(generation)s,
    s.area_id,
    coalesce(
        nullif(regexp_replace(s.street, '^On or near ', ''), ''),
        'Unnamed place ' || (s.cluster + 1)
    ),
    ST_Transform(s.centroid, 4326),
    -- A hull of points in a line or on one spot is not a polygon: a metre around it is.
    ST_Transform(
        CASE WHEN ST_GeometryType(s.hull) = 'ST_Polygon' THEN s.hull
             ELSE ST_Buffer(s.hull, 1.0) END,
        4326
    ),
    s.reports,
    t.reasons,
    s.night_share,
    s.score
FROM summary s
JOIN top_reasons t USING (cluster)
