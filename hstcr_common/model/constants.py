"""Numbers and names that more than one stage uses, each written once, with its source.

Detector facts live in ``instruments/instruments.toml``; this module holds what is not a
property of one detector.
"""

from __future__ import annotations

import datetime as dt

#: Modified Julian Date 0: 1858-11-17T00:00 UTC (MJD = JD - 2400000.5; IAU 1957 / SAO).
MJD_EPOCH = dt.datetime(1858, 11, 17, tzinfo=dt.timezone.utc)
#: MJD of the Unix epoch 1970-01-01T00:00 UTC.
MJD_UNIX_EPOCH = 40587.0
#: seconds per day (UTC days; leap seconds are ignored at the precision HST headers carry).
SECONDS_PER_DAY = 86400.0

#: The cosmic-ray flux HST meets on a quiet orbit, outside the South Atlantic Anomaly,
#: CR/s/cm2.  ACS Instrument Handbook (Cycle 33), section 4.3.6 "Cosmic Rays": "1.2
#: cosmic rays per second per cm2"; the 2021 study (Miles et al. 2021, ApJ 921, 99,
#: "Cosmic rays in HST") finds 1.2 +- 0.2 averaged over the archive.  Used as the rate the
#: synthetic darks inject by default and as the expectation that tells a product with no
#: cosmic-ray flag (``dq``) from a dark that truly had none.
REFERENCE_CR_RATE_S_CM2 = 1.2

#: Silicon: mean energy per electron-hole pair, eV (Janesick, "Scientific Charge-Coupled
#: Devices", SPIE 2001, ch. 2: 3.65 eV at 300 K).
SILICON_EV_PER_PAIR = 3.65

#: Detection methods, in the order the CLI lists them.  ``auto``: darks grouped by set-up,
#: each searched against its group's reference (``reference`` in the lake), a dark with no
#: group by ``threshold`` (what was used and why is recorded per dark); ``dq``: the
#: product's CR bit; ``threshold``: one dark; ``stack``: a group of darks with one set-up;
#: ``ramp``: jumps between the reads of an IR ramp (chosen automatically for IR detectors).
CCD_METHODS = ("auto", "threshold", "dq", "stack")
METHODS = CCD_METHODS + ("ramp",)
DEFAULT_METHOD = "auto"

#: Environment variables read by hstcr, by name, so no module spells them twice.
ENV_LAKE = "HSTCR_LAKE"                 # the lake a Lambda writes to (s3://bucket/prefix)
ENV_RUNS = "HSTCR_RUNS"                 # where a Lambda writes run manifests and results
ENV_S3_SIGNED = "HSTCR_S3_SIGNED"       # sign requests to the MAST bucket (default: anonymous)
ENV_S3_REGION = "HSTCR_S3_REGION"       # region of the MAST bucket (default us-east-1)
ENV_ENDPOINT_S3 = "AWS_ENDPOINT_URL_S3"  # boto3's own: an S3 emulator such as moto
ENV_ENDPOINT = "AWS_ENDPOINT_URL"        # boto3's own: every service's endpoint
ENV_REGION = "AWS_REGION"                # set by Lambda
ENV_DEFAULT_REGION = "AWS_DEFAULT_REGION"


def truthy(value: str | None) -> bool:
    """One reading of yes/no strings (env variables, event fields): 1/true/yes/on."""
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")
