"""``hstcr instruments``: the instrument table as a readable table."""

from __future__ import annotations

import click

from ..instruments import detectors


def _active(det) -> str:
    return ", ".join(f"{a:%Y-%m}..{b:%Y-%m}" if b else f"{a:%Y-%m}.." for a, b in det.active)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table")
def command(fmt):
    """Print the detector facts hstcr uses (source: hstcr_common/instruments.toml)."""
    columns = [
        ("id", lambda d: d.id),
        ("MAST name", lambda d: d.mast_instrument_name),
        ("products", lambda d: "+".join([d.science_suffixes[0], *([d.dq_suffix] if d.dq_suffix else []), d.support_suffix])),
        ("chips", lambda d: f"{d.n_chips}x{d.chip_shape[0]}x{d.chip_shape[1]}"),
        ("pix um", lambda d: f"{d.pixel_size_um:g}"),
        ("area cm2", lambda d: f"{d.area_cm2:g}"),
        ("gain kw", lambda d: ",".join(d.gain_keywords)),
        ("BUNIT", lambda d: d.bunit),
        ("readout s", lambda d: f"{d.readout_time_s:g}"),
        ("flash", lambda d: "yes" if d.flashdur_applies else "no"),
        ("CR bit", lambda d: str(d.cr_bit) if d.cr_bit else "-"),
        ("bad bits", lambda d: str(d.bad_mask_bits)),
        ("active", _active),
    ]
    rows = [[get(d) for _, get in columns] for d in detectors().values()]
    header = [name for name, _ in columns]
    if fmt == "csv":
        import csv, sys
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
