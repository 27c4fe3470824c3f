-- rate_map: cosmic-ray rate (CR/s/cm2) in 5 x 5 degree latitude/longitude bins along HST's track
-- Each dark's cosmic rays and exposure (s x cm2) are shared equally among the one-minute points of
-- its track (time-weighted: every minute of the track gets the dark's rate, weight one minute), so
-- a bin's rate is sum(CRs) / sum(exposure) over the minutes HST spent in it.  mean_b_nt is the mean
-- IGRF |B| of those minutes (the plots draw the SAA contour from it).
-- Sums are per instrument so they can be added across instruments.  rate_corrected_cr_s_cm2
-- (coincidence-corrected counts) is the headline; rate_cr_s_cm2 counts separable cosmic rays only.
-- Shared by DuckDB and Athena: DuckDB runs it through hstcr_common.query.to_duckdb (UNNEST shim).
WITH points AS (
    SELECT
        e.instrument,
        e.dataset,
        CAST(e.n_cr AS DOUBLE) AS n_cr,
        e.n_cr_corrected,
        e.integration_time_s * e.searched_area_cm2 AS exposure_s_cm2,
        t.latitude_deg,
        t.longitude_deg,
        t.b_nt,
        count(*) OVER (PARTITION BY e.instrument, e.dataset) AS n_points
    FROM exposures e
    CROSS JOIN UNNEST(e.track) AS t(point_time, latitude_deg, longitude_deg, altitude_km, b_nt, geomag_latitude_deg)
    WHERE e.integration_time_s > 0 AND e.searched_area_cm2 > 0
)
SELECT
    instrument,
    floor(latitude_deg / 5.0) * 5.0 + 2.5 AS lat_center_deg,
    floor(longitude_deg / 5.0) * 5.0 + 2.5 AS lon_center_deg,
    count(DISTINCT dataset) AS n_darks,
    count(*) AS n_minutes,
    sum(n_cr / n_points) AS n_cr,
    sum(n_cr_corrected / n_points) AS n_cr_corrected,
    sum(exposure_s_cm2 / n_points) AS exposure_s_cm2,
    sum(n_cr / n_points) / sum(exposure_s_cm2 / n_points) AS rate_cr_s_cm2,
    sum(n_cr_corrected / n_points) / sum(exposure_s_cm2 / n_points) AS rate_corrected_cr_s_cm2,
    avg(b_nt) AS mean_b_nt
FROM points
GROUP BY instrument, floor(latitude_deg / 5.0), floor(longitude_deg / 5.0)
ORDER BY instrument, lat_center_deg, lon_center_deg
