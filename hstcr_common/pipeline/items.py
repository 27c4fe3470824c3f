"""Work items from the input: a folder of darks, a manifest, or one file."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..instruments import detectors
from ..load import read_header_facts
from ..model import HstcrError, WorkItem
from .manifest import read_manifest

#: file name pattern of a dark product: ``<dataset>_<suffix>.fits`` (optionally .gz)
_PRODUCT = re.compile(r"^(?P<dataset>[a-z0-9]{9})_(?P<suffix>[a-z0-9]{3})\.fits(\.gz)?$", re.I)


def _suffix_preferences() -> dict[str, dict]:
    """Per dataset prefix letter: science suffixes in order of preference, support and DQ.

    IR detectors come first so an ``ima`` wins over a WFC3 ``flt`` (both start with ``i``):
    a UVIS dark never has an ``ima``.
    """
    prefs: dict[str, dict] = {}
    ordered = sorted(detectors().values(), key=lambda d: d.kind != "ir")
    for det in ordered:
        p = prefs.setdefault(det.dataset_prefix, {"science": [], "support": [], "dq": []})
        for role, suffixes in (("science", det.science_suffixes), ("support", [det.support_suffix]),
                               ("dq", [det.dq_suffix] if det.dq_suffix else [])):
            for s in suffixes:
                if s not in p[role]:
                    p[role].append(s)
    return prefs


@dataclass
class InputScan:
    """What was found in the input: the darks to process and every file left out, with why."""

    items: list[WorkItem] = field(default_factory=list)
    unused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def unused_by_reason(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for path, reason in self.unused:
            out[reason].append(path)
        return dict(out)


def _input_files(paths) -> list[Path]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += [f for f in sorted(path.rglob("*")) if f.is_file()]
        elif path.is_file():
            # one product given: its support / DQ files beside it belong to the same dark
            m = _PRODUCT.match(path.name)
            siblings = sorted(path.parent.glob(f"{m['dataset']}_*")) if m else []
            files += [path] + [f for f in siblings if f != path and f.is_file()]
        else:
            raise HstcrError("no such file or folder", source=str(path))
    return list(dict.fromkeys(files))


def _roles(dataset: str, files: dict[str, str], prefs: dict) -> dict[str, str]:
    p = prefs.get(dataset[0], {"science": [s for d in detectors().values() for s in d.science_suffixes],
                               "support": ["spt", "shm"], "dq": ["c1m"]})
    roles = {}
    for role in ("science", "support", "dq"):
        found = next((s for s in p[role] if s in files), None)
        if found:
            roles[role] = files[found]
    return roles


def scan_inputs(paths) -> InputScan:
    """Work items for every dark under ``paths`` (folders searched recursively, or files).

    Files are grouped by dataset (``<dataset>_<suffix>.fits``); the science product is the
    most preferred suffix of the instrument table present, plus the support (spt/shm) and
    DQ (c1m) files when there.  Every other file is listed in :attr:`InputScan.unused` with
    the reason (not a dark product's name, a support file without its science product, a
    second science product of a dataset), so nothing is dropped without a word.

    Raises
    ------
    HstcrError
        A path that does not exist.
    """
    by_dataset: dict[str, dict[str, str]] = defaultdict(dict)
    scan = InputScan()
    for path in _input_files(paths):
        m = _PRODUCT.match(path.name)
        if m:
            by_dataset[m["dataset"].lower()][m["suffix"].lower()] = str(path)
        elif ".fits" in path.name.lower():
            scan.unused.append((str(path), "FITS name is not <9-character dataset>_<suffix>.fits"))
        else:
            scan.unused.append((str(path), "not a FITS file"))
    prefs = _suffix_preferences()
    for dataset, files in sorted(by_dataset.items()):
        roles = _roles(dataset, files, prefs)
        used = set(roles.values())
        reason = ("no science product (flt/flc/crj/raw/c0m/ima) for this dataset" if "science" not in roles
                  else "not needed: another product of this dataset is read")
        scan.unused += [(f, reason) for f in sorted(files.values()) if f not in used]
        if "science" in roles:
            scan.items.append(_with_header_facts({"dataset": dataset, "instrument": None, "month": None,
                                                  "files": roles}))
    return scan


def items_from_folder(folder: str | os.PathLike) -> list[WorkItem]:
    """Work items for every dark in a folder (see :func:`scan_inputs`).

    Raises
    ------
    HstcrError
        When the folder does not exist or holds no dark.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HstcrError("not a folder", source=str(folder))
    items = scan_inputs([folder]).items
    if not items:
        raise HstcrError("no darks (<dataset>_<suffix>.fits) found", source=str(folder))
    return items


def _with_header_facts(item: WorkItem) -> WorkItem:
    """Fill ``instrument``, ``month`` and the grouping keys (``exptime_s``, ``ccdamp``,
    ``ccdgain``, ``flashdur_s``, ``expstart_mjd``) from the science header.

    Only headers are read.  A file whose header cannot be read keeps None: loading it
    fails later and the problem becomes its ``failures`` row.
    """
    try:
        facts = read_header_facts(item["files"]["science"])
    except Exception:  # noqa: BLE001 - reported when the dark is loaded
        return item
    item["instrument"] = facts["instrument"]
    item["month"] = f"{facts['date_obs'].year:04d}-{facts['date_obs'].month:02d}"
    item["exptime_s"] = facts.get("exptime_s")
    item["ccdamp"] = facts.get("ccdamp")
    # the rest of what method auto groups by (plan_groups): gain, post-flash, start time
    gains = facts.get("gains") or {}
    item["ccdgain"] = gains.get("CCDGAIN", gains.get("ATODGAIN"))
    item["flashdur_s"] = facts.get("flashdur_s")
    item["expstart_mjd"] = facts.get("expstart_mjd")
    return item


def read_items(path: str | os.PathLike) -> list[WorkItem]:
    """Work items from a manifest (JSON Lines, JSON list or CSV)."""
    return list(read_manifest(path))
