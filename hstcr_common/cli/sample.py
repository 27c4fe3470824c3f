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
              help="FLASHDUR in seconds (ACS/WFC, WFC3/UVIS post-flash); sets the flash level.")
@click.option("--conditions", type=click.Choice(["realistic", "clean", "late-mission"]),
              default="realistic", show_default=True,
              help="CCD darks: realistic (this detector on each dark's date: hot pixels growing "
                   "since the anneal, unflagged share, clusters, telegraph pixels, CTE trails, "
                   "post-flash, amplifier offsets, saturation, heavy ions), clean (ideal "
                   "darks) or late-mission (the worst realistic level).")
@click.option("--hot-fraction", type=float, default=None, help="Fraction of pixels hot.")
@click.option("--unflagged-share", type=float, default=None,
              help="Share of the hot pixels missing from the DQ.")
@click.option("--cluster-share", type=float, default=None,
              help="Share of the hot pixels in clusters of 2-6 pixels.")
@click.option("--telegraph-share", type=float, default=None,
              help="Share of the hot pixels that blink between darks.")
@click.option("--cte", "cte_fraction", type=float, default=None,
              help="Charge fraction trailed by a pixel read through the whole chip.")
@click.option("--flash-e", type=float, default=None, help="Post-flash level (e-).")
@click.option("--flash-gradient", type=float, default=None,
              help="End-to-end relative change of the post-flash across the chip.")
@click.option("--amp-offset", "amp_offset_e", type=float, default=None,
              help="Amplifier offsets uniform in +- this (e-).")
@click.option("--heavy-ion-fraction", type=float, default=None,
              help="Fraction of the cosmic rays that are heavy ions.")
@click.option("--full-well", "full_well_e", type=float, default=None,
              help="Full well (e-) [default: the detector's].")
@click.option("--no-saturation", is_flag=True,
              help="No full-well bleeding or A/D clipping.")
def command(instrument, n, out, seed, exptime, date, rate, flag_crs, flashdur, conditions,
            no_saturation, **knobs):
    """Write N synthetic darks of one detector plus truth.parquet, truth_exposures.parquet,
    manifest.jsonl (ready for `hstcr run --manifest`) and, for CCDs, hot_pixels.parquet."""
    from ..instruments import get_detector
    from ..synthetic import write_sample

    overrides = {name: value for name, value in knobs.items() if value is not None}
    if no_saturation:
        overrides["saturation"] = False
    started = time.perf_counter()
    try:
        extra = {}
        if get_detector(instrument).kind == "ccd":
            extra = {"conditions": conditions, "condition_overrides": tuple(overrides.items())}
        elif overrides:
            raise HstcrError(f"{instrument}: dark conditions apply to CCD darks only")
        darks = write_sample(instrument, n, out, seed, start=date, exptime_s=exptime,
                             cr_rate_per_s_cm2=rate, flag_cosmic_rays=flag_crs,
                             flashdur_s=flashdur, **extra)
    except (HstcrError, ValueError) as exc:
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
