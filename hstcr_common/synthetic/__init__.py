"""Synthetic HST calibration darks with known cosmic rays (for tests, the demo and benchmarks).

:func:`simulate_chip` is the pure simulation (arrays in electrons plus the truth of every
injected cosmic ray); :func:`write_dark` / :func:`write_sample` write files shaped like MAST's
products (flt/spt, WFPC2 c0m/c1m/shm) and a Parquet truth table.
"""

from .chip import (
    ChipTruth,
    CosmicRayTruth,
    dq_bits,
    simulate_chip,
    simulate_cosmic_rays,
    simulate_fixed_pattern,
)
from .files import (
    ORBITAL_ELEMENT_SETS,
    TRUTH_EXPOSURES_SCHEMA,
    TRUTH_SCHEMA,
    SyntheticDark,
    dataset_name,
    integration_time,
    orbital_elements,
    read_truth_exposures,
    simulate_dark,
    truth_table,
    write_dark,
    write_files,
    write_sample,
)

__all__ = [
    "ChipTruth",
    "CosmicRayTruth",
    "ORBITAL_ELEMENT_SETS",
    "SyntheticDark",
    "TRUTH_EXPOSURES_SCHEMA",
    "TRUTH_SCHEMA",
    "dataset_name",
    "dq_bits",
    "integration_time",
    "orbital_elements",
    "read_truth_exposures",
    "simulate_chip",
    "simulate_cosmic_rays",
    "simulate_dark",
    "simulate_fixed_pattern",
    "truth_table",
    "write_dark",
    "write_files",
    "write_sample",
]
