-- rate_vs_field: cosmic-ray rate against the weakest geomagnetic field of the dark's track
-- 1,000 nT bins of min |B| (IGRF at HST), min_b_nt the lower edge; low field = deep in the South
-- Atlantic Anomaly.  Poisson error of the rate: sqrt(n_cr_corrected) / exposure_s_cm2.
SELECT
    floor(min_b_nt / 1000.0) * 1000.0 AS min_b_nt,
    count(*) AS n_darks,
    sum(n_cr) AS n_cr,
    sum(n_cr_corrected) AS n_cr_corrected,
    sum(integration_time_s * searched_area_cm2) AS exposure_s_cm2,
    sum(CAST(n_cr AS DOUBLE)) / sum(integration_time_s * searched_area_cm2) AS rate_cr_s_cm2,
    sum(n_cr_corrected) / sum(integration_time_s * searched_area_cm2) AS rate_corrected_cr_s_cm2
FROM exposures
WHERE min_b_nt IS NOT NULL AND integration_time_s > 0 AND searched_area_cm2 > 0
GROUP BY floor(min_b_nt / 1000.0)
ORDER BY min_b_nt
