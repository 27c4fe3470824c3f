"""``hstcr show DATASET``: one dark on screen with its cosmic rays outlined; DS9 regions and a
segmentation image on request."""

from __future__ import annotations

from pathlib import Path

import click

from ..lake import DEFAULT_LAKE
from ..model import HstcrError


def lake_rows(lake: str, dataset: str):
    """(exposures row as a dict, cosmic_rays table) of ``dataset`` in the lake.

    Raises
    ------
    HstcrError
        The lake holds no exposure of this dataset.
    """
    from ..lake import connect
    from ..plots.dark_view import CR_COLUMNS

    con = connect(lake)
    exp = con.sql("SELECT dataset, instrument, source, date_obs, method, n_cr FROM exposures "
                  "WHERE dataset = $1 ORDER BY processed_at DESC LIMIT 1", params=[dataset]).to_arrow_table()
    if not exp.num_rows:
        raise HstcrError(f"dataset {dataset!r} is not in this lake (no exposures row; "
                         "`hstcr query \"SELECT dataset FROM exposures\"` lists them)", source=lake)
    columns = ", ".join(CR_COLUMNS)
    crs = con.sql(f"SELECT {columns} FROM cosmic_rays WHERE dataset = $1 ORDER BY chip, cr_id",
                  params=[dataset]).to_arrow_table()
    return exp.to_pylist()[0], crs


def _item_files(dataset: str, source: str | None, input_path: str | None, manifest: str | None) -> dict:
    """role -> local path or bytes of the dark's files, from --input, --manifest or the lake's
    ``exposures.source``."""
    from ..pipeline import read_items, scan_inputs

    if manifest:
        item = next((i for i in read_items(manifest) if i.get("dataset") == dataset), None)
        if item is None:
            raise HstcrError(f"dataset {dataset!r} is not in the manifest", source=manifest)
        files = item.get("files") or {}
        if all("://" not in str(v) or str(v).startswith("file://") for v in files.values()):
            return {r: str(v).removeprefix("file://") for r, v in files.items()}
        from ..remote import fetch_dark_files
        return dict(fetch_dark_files(item))
    where = input_path or source
    if not where or "://" in where:
        raise HstcrError(f"the lake's source of {dataset} is {where!r}, not a local file: "
                         "give it with --input PATH or --manifest M")
    path = Path(where)
    if not path.exists():
        hint = "" if input_path else " (the lake's exposures.source; give the file with --input PATH)"
        raise HstcrError(f"no such file{hint}", source=where)
    items = [i for i in scan_inputs([path]).items if i["dataset"] == dataset]
    if not items:
        raise HstcrError(f"no product of dataset {dataset} here", source=where)
    return dict(items[0]["files"])


@click.command()
@click.argument("dataset")
@click.option("--lake", default=DEFAULT_LAKE, show_default=True, help="Lake root: folder or s3://bucket/prefix.")
@click.option("--input", "input_path", type=click.Path(), help="The dark's science file (or a folder holding it); "
              "default: the lake's exposures.source.")
@click.option("--manifest", type=click.Path(dir_okay=False), help="Find the dark's files in this manifest.")
@click.option("--out", type=click.Path(dir_okay=False), help="PNG to write [default: <dataset>.png].")
@click.option("--regions", type=click.Path(dir_okay=False),
              help="Also write a DS9 region file (one box per cosmic ray; per chip for multi-chip darks).")
@click.option("--fits", "fits_out", type=click.Path(dir_okay=False),
              help="Also write a segmentation image (one int32 HDU per chip, value = cr_id).")
@click.option("--labels", "n_labels", type=click.IntRange(0), default=10, show_default=True,
              help="Label this many of the most energetic cosmic rays.")
@click.option("--box", nargs=4, type=int, metavar="X0 Y0 X1 Y1",
              help="Show only columns X0..X1-1 and rows Y0..Y1-1 (0-based) of each chip.")
def command(dataset, lake, input_path, manifest, out, regions, fits_out, n_labels, box):
    """Show one dark with its cosmic rays outlined (PNG per chip); DS9 regions and a
    segmentation image with --regions / --fits.

    The footprints come from the lake's cosmic_rays pixel lists; the image from the dark's
    file (the lake's exposures.source, or --input / --manifest).
    """
    from ..instruments import get_detector
    from ..load import load_dark
    from ..plots.dark_view import label_images, plot_dark, write_regions, write_segmentation

    dataset = dataset.strip().lower()
    try:
        exp, crs = lake_rows(lake, dataset)
        det = get_detector(exp["instrument"])
        # what needs only the lake is written first: it does not depend on finding the file
        if regions:
            for path in write_regions(crs, [c.name for c in det.chips], regions, dataset=dataset,
                                      offset_px=int(det.reference_border_px)):
                click.echo(str(path))
        if fits_out:
            shapes = {c.name: tuple(det.chip_shape) for c in det.chips}
            click.echo(str(write_segmentation(label_images(crs, shapes), fits_out, dataset=dataset,
                                              instrument=exp["instrument"])))
        files = _item_files(dataset, exp["source"], input_path, manifest)
        dark = load_dark(files["science"], dq=files.get("dq"), support=files.get("support"),
                         source=input_path or exp["source"])
        if dark.dataset != dataset:
            raise HstcrError(f"this file holds dataset {dark.dataset}, not {dataset}", source=dark.source)
        chips = {c.name: c.science for c in dark.chips}
        title = (f"{dataset}  {dark.detector.name}  {dark.date_obs:%Y-%m-%d %H:%M} UTC  "
                 f"method {exp['method']}  {exp['n_cr']:,} cosmic rays")
        if box and not (box[0] < box[2] and box[1] < box[3]):
            raise HstcrError(f"--box {' '.join(map(str, box))}: needs X0 < X1 and Y0 < Y1")
        png = plot_dark(chips, crs, out or f"{dataset}.png", title=title, n_labels=n_labels,
                        box=tuple(box) if box else None)
        click.echo(str(png))
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None
