"""``hstcr sample``: write synthetic darks shaped like MAST's products, with their truth."""

from __future__ import annotations

import time

import click

from ..model import REFERENCE_CR_RATE_S_CM2, HstcrError


@click.command()
@click.option("--instrument", "instrument", required=True,
              help="Detector id (see `hstcr instruments`): acs_wfc, acs_hrc, stis_ccd, wfc3_uvis, wfpc2, "
                   "wfc3_ir, nicmos_nic1, nicmos_nic2, nicmos_nic3.")
@click.option("--n", "n", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of darks (one month, one set-up).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder (created if missing).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--exptime", type=float, default=None,
              help="EXPTIME in seconds [default: the detector's typical dark].")
@click.option("--date", "date", default=None,
              help="First observation, YYYY-MM-DD[THH:MM:SS] (UTC) [default: from the seed].")
@click.option("--rate", type=float, default=REFERENCE_CR_RATE_S_CM2, show_default=True,
              help="Injected cosmic-ray rate (CR/s/cm2).")
@click.option("--flag-crs", is_flag=True, help="Set the CR bit in DQ where cosmic rays are.")
@click.option("--flashdur", type=float, default=None,
              help="FLASHDUR in seconds (ACS/WFC, WFC3/UVIS post-flash).")
def command(instrument, n, out, seed, exptime, date, rate, flag_crs, flashdur):
    """Write N synthetic darks of one detector plus truth.parquet, truth_exposures.parquet
    and manifest.jsonl (ready for `hstcr run --manifest`)."""
    from ..synthetic import write_sample

    started = time.perf_counter()
    try:
        darks = write_sample(instrument, n, out, seed, start=date, exptime_s=exptime,
                             cr_rate_per_s_cm2=rate, flag_cosmic_rays=flag_crs,
                             flashdur_s=flashdur)
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from exc
    for dark in darks:
        exp = dark.exposure
        files = ", ".join(p.name for p in dark.paths.values())
        click.echo(f"{dark.dataset}  {exp['date_obs'][:19]}  EXPTIME {exp['exptime_s']:g} s  "
                   f"{exp['n_cr']} cosmic rays  {files}")
    total = sum(d.exposure["n_cr"] for d in darks)
    click.echo(f"wrote {len(darks)} {darks[0].detector.name} darks ({total} injected cosmic "
               f"rays) + truth.parquet, truth_exposures.parquet, manifest.jsonl to {out} "
               f"in {time.perf_counter() - started:.1f} s")
