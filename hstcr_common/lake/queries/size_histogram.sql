-- size_histogram: distribution of the number of pixels a cosmic ray touched, per instrument
-- n_pixels above 100 are counted in the 100 bin.
SELECT
    instrument,
    least(n_pixels, 100) AS n_pixels,
    count(*) AS n,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY instrument) AS fraction
FROM cosmic_rays
GROUP BY instrument, least(n_pixels, 100)
ORDER BY instrument, n_pixels
