-- saa_darks: darks taken (at least partly) inside the South Atlantic Anomaly, highest rate first
-- Inside = the track's minimum IGRF field |B| below 23,000 nT.  At HST's altitude (~540 km) that
-- contour spans longitude -100..+20 deg and latitude -28.5..+7 deg (IGRF 1995-2020), the extent of
-- HST's own SAA avoidance contour; elsewhere on HST's orbit |B| stays above ~25,000 nT.
SELECT
    instrument,
    dataset,
    date_obs,
    integration_time_s,
    n_cr,
    rate_cr_s_cm2,
    min_b_nt,
    mean_latitude_deg,
    mean_longitude_deg
FROM exposures
WHERE min_b_nt < 23000
ORDER BY rate_cr_s_cm2 DESC, dataset
