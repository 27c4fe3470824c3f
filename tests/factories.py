"""Hand-made lake inputs (a catalogue, a dark, its rows), independent of the science modules.

Shared by the lake, query, plot and crash-safety tests.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from hstcr_common.instruments import get_detector
from hstcr_common.lake import PartitionKey, cosmic_rays_table, exposures_table
from hstcr_common.model import params_hash
from hstcr_common.model import Chip, CosmicRayCatalog, Dark, DetectionSummary


# ---------------------------------------------------------------------------------------------

def make_catalog(n: int, n_chips: int = 1, seed: int = 0) -> CosmicRayCatalog:
    """A catalogue of ``n`` cosmic rays with 1..6 pixels each and consistent moments."""
    if n == 0:
        return CosmicRayCatalog.empty()
    rng = np.random.default_rng(seed)
    npix = rng.integers(1, 7, n)
    offsets = np.concatenate([[0], np.cumsum(npix)]).astype(np.int64)
    px = rng.integers(0, 1000, offsets[-1]).astype(np.int16)
    py = rng.integers(0, 1000, offsets[-1]).astype(np.int16)
    pe = rng.uniform(10, 500, offsets[-1]).astype(np.float32)
    energy = np.add.reduceat(pe, offsets[:-1]).astype(np.float32)
    ixx = rng.uniform(0.1, 2, n).astype(np.float32)
    iyy = rng.uniform(0.1, 2, n).astype(np.float32)
    ixy = rng.uniform(-0.1, 0.1, n).astype(np.float32)
    return CosmicRayCatalog(
        chip_index=(np.arange(n) % n_chips).astype(np.int16),
        cr_id=np.arange(1, n + 1, dtype=np.int32),
        n_pixels=npix.astype(np.int32), energy_e=energy, peak_e=np.maximum.reduceat(pe, offsets[:-1]),
        x_centroid=rng.uniform(0, 1000, n).astype(np.float32),
        y_centroid=rng.uniform(0, 1000, n).astype(np.float32),
        ixx=ixx, iyy=iyy, ixy=ixy,
        width_sigma=np.sqrt((ixx + iyy) / 2).astype(np.float32),
        symmetry=(np.sqrt((ixx - iyy) ** 2 + 4 * ixy ** 2) / (ixx + iyy)).astype(np.float32),
        x_min=np.zeros(n, np.int16), x_max=np.ones(n, np.int16),
        y_min=np.zeros(n, np.int16), y_max=np.ones(n, np.int16),
        n_merged=np.ones(n, np.int16), pixel_offsets=offsets,
        pixel_x=px, pixel_y=py, pixel_e=pe,
    )


class FakeTiming:
    def __init__(self, start: dt.datetime, exptime: float):
        self.date_obs = start
        self.expstart = start
        self.expend = start + dt.timedelta(seconds=exptime)
        self.expstart_mjd = 58000.0
        self.expend_mjd = 58000.0 + exptime / 86400
        self.exptime_s = exptime
        self.darktime_s = exptime + 15
        self.flashdur_s = 0.0
        self.integration_time_s = exptime + 15
        self.integration_rule = "DARKTIME"
        self.readout_time_s = 15.0
        self.integration_time_2021_s = exptime + self.readout_time_s
        self.short_exposure = exptime < self.readout_time_s


class FakeTrack:
    def __init__(self, start: dt.datetime, minutes: int, lat0: float = -20.0, lon0: float = -50.0):
        t0 = np.datetime64(start.replace(tzinfo=None), "us")
        self.time = t0 + np.arange(minutes) * np.timedelta64(60, "s")
        self.time_mjd = np.zeros(minutes)
        self.latitude_deg = np.linspace(lat0, lat0 + 10, minutes)
        self.longitude_deg = np.linspace(lon0, lon0 + 40, minutes)
        self.altitude_km = np.full(minutes, 540.0)
        self.b_nt = np.linspace(21000, 30000, minutes)
        self.geomag_latitude_deg = self.latitude_deg + 10
        self.mean_latitude_deg = float(self.latitude_deg.mean())
        self.mean_longitude_deg = float(self.longitude_deg.mean())
        self.mean_altitude_km = 540.0
        self.min_b_nt = 21000.0


def make_dark(dataset="o1234567q", det_id="stis_ccd", date=dt.datetime(2017, 3, 5, 12, tzinfo=dt.timezone.utc)):
    det = get_detector(det_id)
    chips = [Chip(c.name, c.ccdchip, np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint16), 1.0, 5.0)
             for c in det.chips]
    return Dark(dataset=dataset, detector=det, chips=chips, date_obs=date, expstart_mjd=58000.0,
                expend_mjd=58000.01, exptime_s=1100.0, source=f"/data/{dataset}_flt.fits",
                science_suffix="flt", ccdamp="D")


def fake_rows(dataset="o1234567q", n=20, det_id="stis_ccd", date=None, method="threshold", track=True):
    """(key, cosmic_rays table, exposures table) of one hand-made dark."""
    dark = make_dark(dataset, det_id, date or dt.datetime(2017, 3, 5, 12, tzinfo=dt.timezone.utc))
    cat = make_catalog(n, n_chips=len(dark.chips), seed=hash(dataset) % 1000)
    det = dark.detector
    summary = DetectionSummary(method, {"seed_sigma": 6}, n, 0, float(n), 1024 * 1024 * len(dark.chips),
                               det.area_cm2)
    timing = FakeTiming(dark.date_obs, 1100.0)
    trk = FakeTrack(dark.date_obs, 19) if track else None
    crs = cosmic_rays_table(cat, [c.name for c in dark.chips], dataset, method)
    exp = exposures_table(dark, summary, timing, trk, "" if track else "no SPT", method=method,
                          params_key=params_hash(method, {"seed_sigma": 6}))
    return PartitionKey.from_month(dark.instrument, dark.month), crs, exp, cat
