-- symmetry_histogram: distribution of symmetry (0 round .. 1 a line) per instrument, 0.05 bins
-- bin is the lower edge; symmetry 1.0 exactly is counted in the 0.95 bin.
SELECT
    instrument,
    floor(least(symmetry, 0.999) * 20.0) / 20.0 AS symmetry,
    count(*) AS n,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY instrument) AS fraction
FROM cosmic_rays
GROUP BY instrument, floor(least(symmetry, 0.999) * 20.0) / 20.0
ORDER BY instrument, symmetry
