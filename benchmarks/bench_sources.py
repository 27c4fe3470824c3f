"""Partial FITS reads vs whole-file reads of one full-size ACS/WFC dark from S3 (moto server).

    .venv/bin/python benchmarks/bench_sources.py [--repeat 3] [--synthetic]

A moto S3 server on 127.0.0.1 holds a full-size ACS/WFC flt (2 chips x 2048x4096: SCI
float32, ERR float32, DQ int16, plus a WCSCORR table; ~168 MB, the size of a real one) and
its spt at the MAST bucket's key layout.  ``fetch_dark_files`` reads them through boto3's
endpoint override, first whole, then partially (primary + SCI + DQ of the flt, the spt's
primary header).  Prints bytes and seconds of both and their ratios.

``--synthetic`` writes the flt with ``hstcr_common.synthetic.write_dark`` (slower to make,
real headers and cosmic rays) instead of the plain astropy writer.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hstcr_common.remote import clients
from hstcr_common.remote import fetch_dark_files, s3_key  # noqa: E402

DATASET = "jdr101abq"


def plain_acs_flt(seed: int = 0) -> bytes:
    """A full-size ACS/WFC flt with astropy (noise, ~200 header cards per HDU)."""
    rng = np.random.default_rng(seed)
    shape = (2048, 4096)
    primary = fits.PrimaryHDU()
    for i in range(450):  # real ACS primaries run to ~450 cards
        primary.header[f"HIERARCH HSTCR K{i}"] = float(i)
    primary.header["NEXTEND"] = 7
    hdus = [primary]
    for ver in (1, 2):
        sci = rng.normal(20, 4, shape).astype(">f4")
        hdus += [fits.ImageHDU(sci, name="SCI", ver=ver),
                 fits.ImageHDU(np.sqrt(np.abs(sci)).astype(">f4"), name="ERR", ver=ver),
                 fits.ImageHDU(rng.integers(0, 2, shape).astype(">i2") * 16, name="DQ", ver=ver)]
        for h in hdus[-3:]:
            for i in range(180):
                h.header[f"HIERARCH HSTCR E{i}"] = float(i)
    hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="WCS_ID", format="24A", array=["OPUS"])],
                                              name="WCSCORR"))
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def plain_spt() -> bytes:
    primary = fits.PrimaryHDU()
    for i in range(300):
        primary.header[f"HIERARCH HSTCR S{i}"] = float(i)
    buf = io.BytesIO()
    fits.HDUList([primary, fits.ImageHDU(np.zeros((20, 1000), ">i2"), name="UDL")]).writeto(buf)
    return buf.getvalue()


def make_files(use_synthetic: bool) -> tuple[bytes, bytes]:
    if not use_synthetic:
        return plain_acs_flt(), plain_spt()
    from hstcr_common.synthetic import write_dark

    with tempfile.TemporaryDirectory() as tmp:
        dark = write_dark("acs_wfc", tmp, seed=1, dataset=DATASET)
        return dark.paths["science"].read_bytes(), dark.paths["support"].read_bytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args(argv)

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines

    t0 = time.perf_counter()
    flt, spt = make_files(args.synthetic)
    print(f"made flt {len(flt) / 1e6:.1f} MB, spt {len(spt) / 1e3:.0f} kB in {time.perf_counter() - t0:.1f} s")

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        admin = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        admin.create_bucket(Bucket="stpubdata")
        admin.put_bucket_policy(Bucket="stpubdata", Policy=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
            '"Action":["s3:GetObject","s3:ListBucket"],'
            '"Resource":["arn:aws:s3:::stpubdata","arn:aws:s3:::stpubdata/*"]}]}'))
        admin.put_object(Bucket="stpubdata", Key=s3_key(DATASET, "flt"), Body=flt)
        admin.put_object(Bucket="stpubdata", Key=s3_key(DATASET, "spt"), Body=spt)
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
        clients._cache.clear()
        item = {"dataset": DATASET, "instrument": "acs_wfc", "month": "2019-01",
                "files": {"science": f"s3://stpubdata/{s3_key(DATASET, 'flt')}",
                          "support": f"s3://stpubdata/{s3_key(DATASET, 'spt')}"}}
        fetch_dark_files(item, partial=False)  # warm up the connection pool and moto
        with tempfile.TemporaryDirectory() as tmp:
            local = {role: str(Path(tmp) / f"{DATASET}_{suffix}.fits") for role, suffix in
                     (("science", "flt"), ("support", "spt"))}
            Path(local["science"]).write_bytes(flt)
            Path(local["support"]).write_bytes(spt)
            for where, files in (("moto S3", item["files"]), ("local file", local)):
                report(where, {**item, "files": files}, args.repeat)
    finally:
        server.stop()
    return 0


def report(where: str, item: dict, repeat: int) -> None:
    results = {}
    print(f"--- {where}")
    for mode, partial in (("whole", False), ("partial", True)):
        runs = [fetch_dark_files(item, partial=partial) for _ in range(repeat)]
        results[mode] = runs
        with fits.open(io.BytesIO(runs[-1]["science"])) as hdul:
            names = ",".join(h.name for h in hdul)
        print(f"{mode:8s} read {runs[-1].bytes_read / 1e6:8.2f} MB of {runs[-1].bytes_total / 1e6:.2f} MB "
              f"in {runs[-1].requests:3d} requests; {statistics.median(r.seconds for r in runs):6.3f} s "
              f"median of {repeat}; science HDUs {names}")
    whole, part = results["whole"][-1], results["partial"][-1]
    t_whole = statistics.median(r.seconds for r in results["whole"])
    t_part = statistics.median(r.seconds for r in results["partial"])
    print(f"partial/whole: bytes {part.bytes_read / whole.bytes_read:.3f} "
          f"({(whole.bytes_read - part.bytes_read) / 1e6:.1f} MB saved per dark), "
          f"time {t_part / t_whole:.3f} (whole {t_whole:.3f} s -> partial {t_part:.3f} s)")
    if where.endswith("S3"):
        # moto copies the whole object on every ranged GET (~0.1 s for 168 MB), which real S3
        # does not; model S3 instead: first-byte latency L per GET + bytes at bandwidth B.
        latency, bandwidth = 0.030, 90e6
        model = [r.requests * latency + r.bytes_read / bandwidth for r in (whole, part)]
        print(f"model of real S3 (L = {latency * 1e3:.0f} ms per GET, B = {bandwidth / 1e6:.0f} MB/s per "
              f"stream): whole {model[0]:.2f} s, partial {model[1]:.2f} s, ratio {model[1] / model[0]:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
