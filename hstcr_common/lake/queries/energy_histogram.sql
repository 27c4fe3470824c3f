-- energy_histogram: distribution of deposited energy per instrument, 0.1-dex bins of log10(electrons)
-- bin_e is the lower edge of the bin (electrons); fraction is of the instrument's cosmic rays.
SELECT
    instrument,
    floor(log10(greatest(energy_e, 1.0)) * 10.0) / 10.0 AS log10_energy_e,
    power(10.0, floor(log10(greatest(energy_e, 1.0)) * 10.0) / 10.0) AS bin_e,
    count(*) AS n,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY instrument) AS fraction
FROM cosmic_rays
GROUP BY instrument, floor(log10(greatest(energy_e, 1.0)) * 10.0) / 10.0
ORDER BY instrument, log10_energy_e
