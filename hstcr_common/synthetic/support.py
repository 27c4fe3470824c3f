"""The orbit in an HST support file (``spt``, WFPC2 ``shm``): real element sets, re-epoched.

The orbit model (:mod:`hstcr_common.ephemeris.orbit`) reads these keywords from the support
file's primary header; both the CCD and the IR generators write them through
:func:`add_orbital_elements`.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.io import fits

from ..model import SECONDS_PER_DAY

#: MJD of 1985-01-01, the zero of EPCHTIME
MJD_1985 = 46066.0

#: Real HST osculating element sets copied from SPT primary headers in
#: ``shared/fixtures/hst/stis_ccd`` (keyed by the source dataset).  The synthetic SPT/SHM
#: header takes the set nearest in time, moves its epoch to the day of the dark (EPCHTIME less
#: than one day before EXPSTART, as the orbit model requires), draws MEANANOM from the seed and
#: carries the perigee and node forward with their own rates.
ORBITAL_ELEMENT_SETS = {
    # o4er06llq_spt.fits (STIS/CCD, EXPSTART 50875.196 = 1998-03-03), HST at ~606 km
    "o4er06llq": {
        "EPCHTIME": 415497600.0, "MEANANOM": 1.704504435498, "FDMEANAN": 0.0001721379765449,
        "SDMEANAN": 1.243713242225e-15, "ECCENTRY": 0.001820544237486,
        "ECCENTX2": 0.003641088474972, "ECBDX3": 1.810193344238e-08,
        "ECBDX4D3": 8.045303752171e-09, "ESQDX5D2": 8.285953301608e-06,
        "SEMILREC": 6984629.700819, "ARGPERIG": 0.06644081328846,
        "RCARGPER": 2.593128829936e-07, "RASCASCN": 0.5164961100092,
        "RCASCNRV": -2.052702168831e-07, "COSINCLI": 0.8792587462691,
        "SINEINCL": 0.4763444731591, "HSTHORB": 2904.646667956,
    },
    # oc7w11viq_spt.fits (STIS/CCD, EXPSTART 56862.920 = 2014-07-24), HST at ~550 km
    "oc7w11viq": {
        "EPCHTIME": 932601600.0, "MEANANOM": 0.8672215377421, "FDMEANAN": 0.0001745864255528,
        "SDMEANAN": 1.200436949899e-15, "ECCENTRY": 0.0004938209304037,
        "ECCENTX2": 0.0009876418608075, "ECBDX3": 3.612681996959e-10,
        "ECBDX4D3": 1.605636443093e-10, "ESQDX5D2": 6.096477782621e-07,
        "SEMILREC": 6925811.822379, "ARGPERIG": 0.1603241922496,
        "RCARGPER": 1.086896734316e-08, "RASCASCN": 0.4664648901807,
        "RCASCNRV": -2.110848539056e-07, "COSINCLI": 0.8788431564625,
        "SINEINCL": 0.477110790424, "HSTHORB": 2863.911088257,
    },
    # ocmv0lw6q_spt.fits (STIS/CCD, EXPSTART 57660.989 = 2016-09-29)
    "ocmv0lw6q": {
        "EPCHTIME": 1001548800.0, "MEANANOM": 6.158698567423, "FDMEANAN": 0.0001752153088663,
        "SDMEANAN": 1.784068052004e-15, "ECCENTRY": 0.0003227105171117,
        "ECCENTX2": 0.0006454210342234, "ECBDX3": 1.008232313925e-10,
        "ECBDX4D3": 4.481032506335e-11, "ESQDX5D2": 2.603551946362e-07,
        "SEMILREC": 6916544.091177, "ARGPERIG": 0.3526221538671, "RCARGPER": -2.726006377587e-07,
        "RASCASCN": 0.8505563882624, "RCASCNRV": -2.129710604722e-07, "COSINCLI": 0.879924802044,
        "SINEINCL": 0.47511297893, "HSTHORB": 2853.631929968,
    },
}

#: the orbital-element keywords of an SPT/SHM header, in header order
ORBIT_KEYWORDS = tuple(ORBITAL_ELEMENT_SETS["oc7w11viq"])

ORBIT_COMMENTS = {
    "EPCHTIME": "epoch of elements (secs since 1/1/85)",
    "MEANANOM": "mean anomaly (radians)",
    "FDMEANAN": "1st derivative of mean anomaly (revs/sec)",
    "SDMEANAN": "2nd derivative of mean anomaly (revs/s/s)",
    "ECCENTRY": "eccentricity",
    "ECCENTX2": "eccentricity times 2",
    "ECBDX3": "eccentricity cubed / 3",
    "ECBDX4D3": "eccentricity**4 / 3",
    "ESQDX5D2": "eccentricity squared times 5 / 2",
    "SEMILREC": "semi-latus rectum (meters)",
    "ARGPERIG": "argument of perigee (revolutions)",
    "RCARGPER": "rate of change of arg. of perigee (revs/sec)",
    "RASCASCN": "RA of ascending node (revolutions)",
    "RCASCNRV": "rate of change of asc. node (revs/sec)",
    "COSINCLI": "cosine of inclination",
    "SINEINCL": "sine of inclination",
    "HSTHORB": "half the HST orbital period (seconds)",
}


def orbital_elements(expstart_mjd: float, rng: np.random.Generator) -> dict[str, float]:
    """An HST element set valid at ``expstart_mjd``: real elements, epoch moved to that day.

    The set nearest in time from :data:`ORBITAL_ELEMENT_SETS` is used; EPCHTIME becomes
    00:00 UTC of the day of EXPSTART (so 0 <= EXPSTART - epoch < 1 day), MEANANOM is drawn
    uniformly in [0, 2 pi), ARGPERIG and RASCASCN (revolutions) are carried to the new epoch
    with their rates RCARGPER and RCASCNRV (revolutions per second).
    """
    def epoch_mjd(elements):
        return MJD_1985 + elements["EPCHTIME"] / SECONDS_PER_DAY

    source = min(ORBITAL_ELEMENT_SETS.values(), key=lambda e: abs(epoch_mjd(e) - expstart_mjd))
    out = dict(source)
    new_epoch_mjd = math.floor(expstart_mjd)
    out["EPCHTIME"] = float((new_epoch_mjd - MJD_1985) * SECONDS_PER_DAY)
    dt_s = out["EPCHTIME"] - source["EPCHTIME"]
    out["ARGPERIG"] = float((source["ARGPERIG"] + source["RCARGPER"] * dt_s) % 1.0)
    out["RASCASCN"] = float((source["RASCASCN"] + source["RCASCNRV"] * dt_s) % 1.0)
    out["MEANANOM"] = float(rng.uniform(0.0, 2.0 * math.pi))
    return out


def add_orbital_elements(header: fits.Header, elements: dict[str, float]) -> None:
    """Write an element set into a support file's primary header, in SPT order, with comments."""
    for key in ORBIT_KEYWORDS:
        header[key] = (elements[key], ORBIT_COMMENTS[key])
