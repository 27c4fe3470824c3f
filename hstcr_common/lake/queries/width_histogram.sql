-- width_histogram: distribution of width_sigma = sqrt((Ixx+Iyy)/2) per instrument, 0.1-pixel bins
-- bin is the lower edge (pixels); widths above 5 px are counted in the 5.0 bin.
SELECT
    instrument,
    floor(least(width_sigma, 5.0) * 10.0) / 10.0 AS width_sigma_px,
    count(*) AS n,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY instrument) AS fraction
FROM cosmic_rays
GROUP BY instrument, floor(least(width_sigma, 5.0) * 10.0) / 10.0
ORDER BY instrument, width_sigma_px
