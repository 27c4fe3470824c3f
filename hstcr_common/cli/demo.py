"""``hstcr demo``: the offline main job - synthetic darks for every detector -> lake -> summary
table (recovered vs injected rate) -> plots.  No network, no AWS account."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..model.constants import REFERENCE_CR_RATE_S_CM2

#: darks per detector per month, over DEMO_MONTHS months: enough for a monthly rate and the
#: histograms, small enough for < 5 min on 2 cores (ACS/WFC and WFC3/UVIS full frames are
#: 2 x 8 Mpixel each)
DEMO_DARKS = {"acs_wfc": 1, "acs_hrc": 2, "stis_ccd": 2, "wfc3_uvis": 1, "wfpc2": 2,
              "wfc3_ir": 1, "nicmos_nic1": 1, "nicmos_nic2": 1, "nicmos_nic3": 1}
DEMO_MONTHS = 2
INJECTED_RATE = REFERENCE_CR_RATE_S_CM2  # CR/s/cm2, the quiet-orbit flux the synthetic darks get


def demo_months(det, n_months: int) -> list:
    """First days of ``n_months`` months, three months apart, inside the detector's last
    active period (NICMOS: 2002-2008)."""
    import datetime as dt

    start, end = det.active[-1]
    first = dt.datetime.combine(start, dt.time(1, 0), tzinfo=dt.timezone.utc) + dt.timedelta(days=400)
    months = []
    for i in range(n_months):
        day = first + dt.timedelta(days=91 * i)
        if end is not None and day.date() > end:
            break
        months.append(day.replace(day=1))
    return months or [dt.datetime.combine(start, dt.time(1, 0), tzinfo=dt.timezone.utc)]


def generate_darks(out: Path, scale: float = 1.0) -> dict[str, dict]:
    """Write the demo's synthetic darks; returns detector -> {dataset: injected n_cr}.

    Each detector gets its own folder, one subfolder per month.  Folders already written (a
    ``demo_truth.json`` present) are reused.
    """
    import datetime as dt

    from ..instruments import detectors
    from ..synthetic import write_ir_dark, write_sample

    injected: dict[str, dict] = {}
    for k, (det_id, n) in enumerate(DEMO_DARKS.items()):
        n = max(1, round(n * scale))
        folder = out / det_id
        det = detectors()[det_id]
        marker = folder / "demo_truth.json"
        if marker.exists():
            injected[det_id] = json.loads(marker.read_text())
            continue
        counts = {}
        for m, month in enumerate(demo_months(det, DEMO_MONTHS)):
            sub = folder / f"{month:%Y-%m}"
            seed = 500 + 10 * k + m
            if det.kind == "ir":
                for i in range(n):
                    f = write_ir_dark(det_id, sub, seed=seed * 100 + i, cr_rate_per_s_cm2=INJECTED_RATE,
                                      date=month + dt.timedelta(days=2 + 3 * i, hours=2))
                    counts[f.dataset] = f.truth.num_rows
            else:
                # realistic conditions (hot pixels, CTE, flash ... of this detector on this
                # date), so the rate map and figures show what real darks would show
                darks = write_sample(det_id, n, sub, seed=seed, start=month + dt.timedelta(hours=1),
                                     cr_rate_per_s_cm2=INJECTED_RATE, conditions="realistic")
                counts.update({d.dataset: d.truth.num_rows for d in darks})
        if counts:
            marker.write_text(json.dumps(counts))
            injected[det_id] = counts
    return injected


def summary_rows(lake: str, injected: dict[str, dict]) -> list[dict]:
    """Per detector: darks, cosmic rays found vs injected, rate found vs injected."""
    from ..lake import run_sql

    found = {r["instrument"]: r for r in run_sql(
        "SELECT instrument, count(*) AS darks, sum(n_cr) AS n_cr, "
        "sum(n_cr_corrected) / sum(integration_time_s * searched_area_cm2) AS rate, "
        "sum(CAST(n_cr AS DOUBLE)) / sum(integration_time_s * searched_area_cm2) AS rate_separable "
        "FROM exposures GROUP BY instrument", lake).to_pylist()}
    rows = []
    for det_id, counts in injected.items():
        f = found.get(det_id, {"darks": 0, "n_cr": 0, "rate": None, "rate_separable": None})
        n_inj = sum(counts.values())
        rows.append({"instrument": det_id, "darks": f["darks"], "injected": n_inj, "found": f["n_cr"],
                     "recovered": (f["n_cr"] or 0) / n_inj if n_inj else None,
                     "rate": f["rate"], "rate_separable": f["rate_separable"],
                     "injected_rate": INJECTED_RATE})
    return rows


@click.command()
@click.option("--out", default="./hstcr-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for darks/, lake/ and plots/.")
@click.option("--workers", type=int, default=None, help="Processes (default: all cores).")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply the number of darks per detector (at least one each).")
def command(out, workers, scale):
    """Synthetic darks for every HST detector -> lake -> summary -> plots (offline, ~1-3 min)."""
    from rich.table import Table

    from . import output_console

    from ..plots import make_plots
    from .run import execute

    console = output_console()
    out = Path(out)
    t0 = time.perf_counter()
    console.print(f"[bold]1/4[/bold] synthetic darks -> {out / 'darks'}")
    injected = generate_darks(out / "darks", scale)
    t_gen = time.perf_counter() - t0

    from ..pipeline import items_from_folder
    lake = str(out / "lake")
    console.print(f"[bold]2/4[/bold] hstcr run {out / 'darks'} --lake {lake}")
    items = items_from_folder(out / "darks")
    summary = execute(items, lake=lake, method="threshold", params=None, reprocess=False,
                      workers=workers)

    console.print("[bold]3/4[/bold] summary (SQL over the lake)")
    table = Table(title="recovered vs injected (rates in CR/s/cm2)")
    for col in ("instrument", "darks", "CRs injected", "CRs found", "found/injected",
                "rate found", "separable only", "rate injected"):
        table.add_column(col, justify="left" if col == "instrument" else "right", no_wrap=True)
    for r in summary_rows(lake, injected):
        table.add_row(r["instrument"], str(r["darks"]), f"{r['injected']:,}", f"{r['found'] or 0:,}",
                      f"{r['recovered']:.3f}" if r["recovered"] is not None else "-",
                      f"{r['rate']:.3f}" if r["rate"] is not None else "-",
                      f"{r['rate_separable']:.3f}" if r["rate_separable"] is not None else "-",
                      f"{r['injected_rate']:.2f}")
    console.print(table)
    console.print(f"run: {summary.done} darks done, {summary.skipped} skipped, {summary.failed} failed; "
                  f"{summary.n_cr:,} cosmic rays in {summary.seconds:.1f} s "
                  f"({summary.darks_per_s:.2f} darks/s, {summary.cr_per_s:,.0f} CR/s)")
    for r in summary.results:
        if r["status"] == "failed":
            console.print(f"[red]failed[/red] {r['dataset']}: {r['error']}", highlight=False)

    console.print(f"[bold]4/4[/bold] plots -> {out / 'plots'}")
    for path in make_plots(lake, out / "plots"):
        console.print(f"  {path}")
    console.print(f"done in {time.perf_counter() - t0:.0f} s (darks generated in {t_gen:.0f} s). "
                  f"Try: hstcr query --lake {lake} --named rate_per_month")
    if summary.failed:
        raise SystemExit(3)
