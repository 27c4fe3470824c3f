"""Named queries over a big lake: >= 10 million cosmic-ray rows (target <= 3 s per query).

The lake is generated directly with pyarrow in the real layout (one file per dark per table,
Hive partitions, the real schemas): ``--darks`` darks of ``--crs-per-dark`` cosmic rays each
(default 2,000 x 5,000 = 10 M rows) with 3-pixel lists, and their exposures with 20-minute
tracks.  Each named query runs through :mod:`hstcr_common.lake.query` (DuckDB views); the baseline,
measured in the same run, computes the same histogram / map with pyarrow + numpy.

    .venv/bin/python benchmarks/bench_duckdb.py [--darks 2000] [--crs-per-dark 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from hstcr_common.model import CosmicRayCatalog
from hstcr_common.lake import Lake, PartitionKey
from hstcr_common.lake import cosmic_rays_table
from hstcr_common.lake import EXPOSURES, TRACK_POINT

INSTRUMENTS = ["acs_wfc", "acs_hrc", "stis_ccd", "wfc3_uvis", "wfpc2"]


def catalog(n: int, rng: np.random.Generator) -> CosmicRayCatalog:
    npix = 3
    offsets = np.arange(0, npix * n + 1, npix, dtype=np.int64)
    energy = rng.lognormal(np.log(1000), 0.8, n).astype(np.float32)
    ixx = rng.gamma(2, 0.3, n).astype(np.float32)
    iyy = rng.gamma(2, 0.3, n).astype(np.float32)
    ixy = rng.normal(0, 0.1, n).astype(np.float32)
    i16 = lambda a: a.astype(np.int16)  # noqa: E731
    return CosmicRayCatalog(
        chip_index=np.zeros(n, np.int16), cr_id=np.arange(1, n + 1, dtype=np.int32),
        n_pixels=rng.geometric(0.08, n).astype(np.int32), energy_e=energy, peak_e=energy / 3,
        x_centroid=rng.uniform(0, 4096, n).astype(np.float32), y_centroid=rng.uniform(0, 2048, n).astype(np.float32),
        ixx=ixx, iyy=iyy, ixy=ixy, width_sigma=np.sqrt((ixx + iyy) / 2),
        symmetry=np.sqrt((ixx - iyy) ** 2 + 4 * ixy ** 2) / (ixx + iyy),
        x_min=i16(np.zeros(n)), x_max=i16(np.ones(n)), y_min=i16(np.zeros(n)), y_max=i16(np.ones(n)),
        n_merged=np.ones(n, np.int16), pixel_offsets=offsets,
        pixel_x=i16(rng.integers(0, 4096, npix * n)), pixel_y=i16(rng.integers(0, 2048, npix * n)),
        pixel_e=rng.uniform(10, 500, npix * n).astype(np.float32),
    )


def exposure_row(dataset: str, n_cr: int, when: dt.datetime, rng: np.random.Generator) -> pa.Table:
    minutes = 20
    phase = rng.uniform(0, 2 * np.pi)
    t = phase + np.arange(minutes) * 2 * np.pi / 95.0
    lat = 28.5 * np.sin(t)
    lon = (rng.uniform(-180, 180) + np.arange(minutes) * 4.0 + 180) % 360 - 180
    times = (np.datetime64(when.replace(tzinfo=None), "us") + np.arange(minutes) * np.timedelta64(60, "s"))
    points = pa.StructArray.from_arrays(
        [pa.array(times.astype(np.int64)).cast(pa.timestamp("us", tz="UTC")),
         pa.array(lat.astype(np.float32)), pa.array(lon.astype(np.float32)),
         pa.array(np.full(minutes, 540, np.float32)), pa.array(rng.uniform(20000, 45000, minutes).astype(np.float32)),
         pa.array(lat.astype(np.float32))], fields=list(TRACK_POINT))
    track = pa.ListArray.from_arrays(pa.array([0, minutes], pa.int32()), points)
    row = {f.name: None for f in EXPOSURES}
    row.update(dataset=dataset, detector="X", n_chips=1, science_suffix="flt", date_obs=when, expstart_mjd=0.0,
               expend_mjd=0.0, expstart=when, expend=when, exptime_s=1000.0, integration_time_s=1050.0,
               integration_rule="bench", method="threshold", params="{}", params_hash="0", n_cr=n_cr,
               n_cr_split=0, n_cr_corrected=float(n_cr), searched_pixels=8_000_000, searched_area_cm2=37.75,
               rate_cr_s_cm2=n_cr / (1050 * 37.75), rate_corrected_cr_s_cm2=n_cr / (1050 * 37.75),
               min_b_nt=20000.0, source="bench", software_version="bench", processed_at=when)
    arrays = [track if f.name == "track" else pa.array([row[f.name]], f.type) for f in EXPOSURES]
    return pa.Table.from_arrays(arrays, schema=EXPOSURES)


def build_lake(root: Path, darks: int, per_dark: int) -> float:
    rng = np.random.default_rng(1)
    lake = Lake(root)
    t0 = time.perf_counter()
    for i in range(darks):
        inst = INSTRUMENTS[i % len(INSTRUMENTS)]
        when = dt.datetime(2003 + (i * 7) % 20, 1 + i % 12, 1 + i % 27, tzinfo=dt.timezone.utc)
        key = PartitionKey(inst, when.year, when.month)
        name = f"d{i:08d}"
        n = int(rng.poisson(per_dark))
        lake.write("cosmic_rays", cosmic_rays_table(catalog(n, rng), ["C"], name, "threshold"), key, name)
        lake.write("exposures", exposure_row(name, n, when, rng), key, name)
    return time.perf_counter() - t0


def timed(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--darks", type=int, default=2000)
    ap.add_argument("--crs-per-dark", type=int, default=5000)
    ap.add_argument("--keep", help="build the lake here (reused when it exists)")
    args = ap.parse_args()

    import pyarrow.dataset as ds

    from hstcr_common.lake import connect, run_named

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp) / "lake"
        if not (root / "exposures").exists():
            sec = build_lake(root, args.darks, args.crs_per_dark)
            print(f"built lake: {args.darks} darks in {sec:.0f} s")
        t0 = time.perf_counter()
        con = connect(str(root))
        print(f"connect (list files, create views): {time.perf_counter() - t0:.3f} s")
        n_rows = con.execute("SELECT count(*) FROM cosmic_rays").fetchall()[0][0]
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e9
        print(f"lake {root}: {n_rows:,} cosmic-ray rows, {size:.2f} GB of Parquet\n")

        cr_ds = ds.dataset(str(root / "cosmic_rays"), format="parquet", partitioning="hive")

        def numpy_energy_hist():
            t = cr_ds.to_table(columns=["instrument", "energy_e"])
            inst = t["instrument"].combine_chunks().dictionary_encode()
            codes = inst.indices.to_numpy()
            logs = np.floor(np.log10(np.maximum(t["energy_e"].to_numpy(), 1.0)) * 10)
            return np.unique(codes.astype(np.int64) * 1000 + logs.astype(np.int64), return_counts=True)

        def numpy_rate_map():
            exp = ds.dataset(str(root / "exposures"), format="parquet", partitioning="hive").to_table(
                columns=["n_cr", "integration_time_s", "searched_area_cm2", "track"])
            track = exp["track"].combine_chunks()
            sizes = pa.compute.list_value_length(track).to_numpy()
            flat = track.flatten()
            lat = flat.field("latitude_deg").to_numpy()
            lon = flat.field("longitude_deg").to_numpy()
            w_n = np.repeat(exp["n_cr"].to_numpy() / sizes, sizes)
            w_x = np.repeat((exp["integration_time_s"].to_numpy() * exp["searched_area_cm2"].to_numpy()) / sizes, sizes)
            bins = (np.floor(lat / 5) + 18) * 72 + (np.floor(lon / 5) + 36)
            return np.bincount(bins.astype(int), w_n, 36 * 72) / np.maximum(np.bincount(bins.astype(int), w_x, 36 * 72), 1e-30)

        baselines = {"energy_histogram": numpy_energy_hist, "rate_map": numpy_rate_map}
        print(f"{'query':22s} {'DuckDB s':>9s} {'rows':>6s} {'pyarrow+numpy s':>16s} {'ratio':>6s}  target <= 3 s")
        for name in ("rate_map", "energy_histogram", "size_histogram", "width_histogram",
                     "symmetry_histogram", "rate_per_month", "saa_darks"):
            sec, table = timed(lambda: run_named(name, con=con))
            base = baselines.get(name)
            if base:
                bsec, _ = timed(base)
                extra = f"{bsec:16.3f} {bsec / sec:5.1f}x"
            else:
                extra = f"{'-':>16s} {'-':>6s}"
            print(f"{name:22s} {sec:9.3f} {table.num_rows:6d} {extra}  {'met' if sec <= 3 else 'NOT met'}")
        print("\nratio = baseline time / DuckDB time (>1: DuckDB faster)")


if __name__ == "__main__":
    main()
