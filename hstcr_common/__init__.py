"""hstcr: every cosmic ray in every HST calibration dark, measured and stored as a Parquet lake."""

__version__ = "0.3.0"
