-- rate_per_month: cosmic-ray incidence rate per instrument per month (CR/s/cm2), all darks
-- Shared by DuckDB and Athena (Trino).  rate = total CRs / total (integration time x searched area);
-- its Poisson error is sqrt(n_cr_corrected) / exposure_s_cm2.
SELECT
    instrument,
    year,
    month,
    count(*) AS n_darks,
    sum(n_cr) AS n_cr,
    sum(integration_time_s) AS integration_time_s,
    sum(n_cr_corrected) AS n_cr_corrected,
    sum(integration_time_s * searched_area_cm2) AS exposure_s_cm2,
    sum(CAST(n_cr AS DOUBLE)) / sum(integration_time_s * searched_area_cm2) AS rate_cr_s_cm2,
    sum(n_cr_corrected) / sum(integration_time_s * searched_area_cm2) AS rate_corrected_cr_s_cm2,
    avg(rate_corrected_cr_s_cm2) AS mean_dark_rate_cr_s_cm2,
    stddev_samp(rate_corrected_cr_s_cm2) AS sd_dark_rate_cr_s_cm2
FROM exposures
WHERE integration_time_s > 0 AND searched_area_cm2 > 0
GROUP BY instrument, year, month
ORDER BY instrument, year, month
