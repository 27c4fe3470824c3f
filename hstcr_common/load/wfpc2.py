"""WFPC2 products: the c0m science file and its c1m data-quality file, in either form.

MAST serves WFPC2 darks as image extensions (4 SCI extensions, chip named by DETECTOR), or
in the old single-HDU group form: a (4, 800, 800) primary cube whose group parameters sit in
a table extension (waiver FITS, ``c0f``/``c1f``), or FITS random groups.  The DQ comes from the
``c1m`` file (extensions named SCI or DQ, or groups); without it the load fails unless the
science file carries DQ extensions itself.  Chips are matched by DETECTOR (SCI header, group
parameter or the table's DETECTOR column; else group order).
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy.io import fits

from ..fits import read_array, short_error
from ..instruments import Detector
from ..model import HstcrError
from .chips import RawChip, chip_by_ccdchip, scan_image_extensions
from .header import extensions, hdu_summary


def _group_cube(hdul, source: str, what: str) -> tuple[np.ndarray, list[int]] | None:
    """WFPC2 group form: (cube (G, ny, nx), chip number per group), or None if not that form."""
    hdu = hdul[0]
    header = hdu.header
    if isinstance(hdu, fits.GroupsHDU):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                groups = hdu.data
                cube = np.asarray(groups.data)
                parnames = [p.upper() for p in groups.parnames]
                numbers = (np.asarray(groups.par(parnames.index("DETECTOR"))).astype(int)
                           .tolist() if "DETECTOR" in parnames else None)
        except HstcrError:
            raise
        except Exception as exc:
            raise HstcrError(f"cannot read the {what} groups, truncated or corrupt "
                             f"({short_error(exc)})", source, "load") from exc
        cube = cube.reshape((cube.shape[0],) + tuple(d for d in cube.shape[1:] if d != 1))
    elif int(header.get("NAXIS", 0)) == 3:
        cube = read_array(hdu, what, source)
        numbers = None
        # waiver FITS keeps the group parameters in a table extension, one row per group
        for ext in hdul[1:]:
            if isinstance(ext, (fits.TableHDU, fits.BinTableHDU)):
                names = [n.upper() for n in ext.columns.names]
                if "DETECTOR" in names:
                    col = ext.columns.names[names.index("DETECTOR")]
                    numbers = np.asarray(ext.data[col]).astype(int).tolist()
                break
    else:
        return None
    if cube.ndim != 3:
        raise HstcrError(f"{what} group data have shape {cube.shape}, expected (groups, rows, "
                         "columns)", source, "load")
    if numbers is None or len(numbers) != cube.shape[0]:
        numbers = list(range(1, cube.shape[0] + 1))
    return cube, numbers


def _wfpc2_dq_arrays(dq_hdul, source: str) -> dict[int, np.ndarray]:
    """Chip number -> DQ array from a c1m file in either form (EXTNAME SCI or DQ)."""
    group = _group_cube(dq_hdul, source, "DQ")
    if group is not None:
        cube, chips = group
        return {chip: cube[i] for i, chip in enumerate(chips)}
    exts = extensions(dq_hdul, "DQ") or extensions(dq_hdul, "SCI")
    if not exts:
        raise HstcrError(f"no DQ data in the c1m file (HDUs: {hdu_summary(dq_hdul)})",
                         source, "load")
    out = {}
    for index, extver in exts:
        header = dq_hdul[index].header
        chip = int(header.get("DETECTOR", extver))
        data = read_array(dq_hdul[index], f"DQ {extver}", source)
        if data is None:
            raise HstcrError(f"DQ extension {extver} has no data", source, "load")
        out[chip] = data
    return out


def read_wfpc2_chips(hdul, det: Detector, dq_hdul, source: str, dq_source: str
                     ) -> tuple[list[RawChip], int, str]:
    """Every chip's header, science and DQ array; the number of imsets (1) and the form.

    ``dq_hdul`` is the open c1m file or None; the form is ``groups`` or ``image_extensions``.
    """
    group_form = isinstance(hdul[0], fits.GroupsHDU) or int(hdul[0].header.get("NAXIS", 0)) == 3
    if dq_hdul is None and (group_form or not extensions(hdul, "DQ")):
        raise HstcrError("WFPC2 needs its c1m data-quality file (dq=...): the c0m carries "
                         "no DQ", source, "load")
    group = _group_cube(hdul, source, "SCI")
    if group is not None:
        cube, chip_numbers = group
        raw_chips = []
        for i, number in enumerate(chip_numbers):
            layout = chip_by_ccdchip(det, number, i + 1)
            if layout is None:
                raise HstcrError(f"group {i + 1} is DETECTOR {number}, not a WFPC2 chip",
                                 source, "load")
            raw_chips.append(RawChip(layout, hdul[0].header, cube[i], None))
        if len(raw_chips) != det.n_chips:
            raise HstcrError(f"WFPC2 needs {det.n_chips} groups (one per chip), found "
                             f"{len(raw_chips)}", source, "load")
        form = "groups"
        n_imsets = 1
    else:
        found, n_imsets = scan_image_extensions(hdul, det, source)
        raw_chips = [RawChip(layout, hdul[i].header,
                             read_array(hdul[i], f"SCI {layout.extver}", source),
                             read_array(hdul[j], f"DQ {layout.extver}", source)
                             if j is not None else None)
                     for layout, i, j in found]
        form = "image_extensions"
    if dq_hdul is not None:
        dq_by_chip = _wfpc2_dq_arrays(dq_hdul, dq_source)
        for chip in raw_chips:
            if chip.layout.ccdchip not in dq_by_chip:
                raise HstcrError(f"no DQ for chip {chip.layout.name} in the c1m file",
                                 dq_source, "load")
            chip.dq = dq_by_chip[chip.layout.ccdchip]
    elif any(chip.dq is None for chip in raw_chips):
        raise HstcrError("WFPC2 c0m has DQ extensions, but not for every chip; give the "
                         "c1m file (dq=...)", source, "load")
    return raw_chips, n_imsets, form
