"""Score a cosmic-ray catalogue against injected truth: completeness, purity, energy, rate.

Definitions (all per chip, vectorised over pixels; no loop per cosmic ray)
-------------------------------------------------------------------------
* The *overlap* of injected cosmic ray t and detection d is the injected (noise-free)
  electrons of t that fall in d's pixels.
* t is **found** when one detection holds at least half of t's electrons
  (``overlap >= 0.5 * energy_true``).  Completeness = found / injected, per bin of true
  energy.
* d is **real** when injected cosmic-ray electrons make up at least half of its measured
  electrons (``sum_t overlap >= 0.5 * energy_e``; a detection with <= 0 e- is real when it
  holds any injected charge).  Purity = real / detected, per bin of measured energy.
  Hot pixels and noise blobs hold no injected charge, so they are impure.
* The **energy ratio** ``energy_e / energy_true`` is taken over one-to-one matches: t is
  found in d and t is the largest contributor of d.  (A detection holding two unsplit
  cosmic rays is matched to the larger one and its ratio shows the merge.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model import CosmicRayCatalog

#: default energy bin edges (e-)
ENERGY_BINS = (0.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, np.inf)


@dataclass
class TruthMatch:
    """Result of :func:`match_to_truth` (arrays per energy bin, plus per-object arrays).

    Attributes
    ----------
    bins : ndarray (nbins + 1,)
        Energy bin edges (e-).
    n_true, n_found : ndarray of int (nbins,)
        Injected cosmic rays per bin of true energy, and how many were found.
    completeness : ndarray (nbins,)
        ``n_found / n_true`` (nan for an empty bin).
    n_detected, n_real : ndarray of int (nbins,)
        Detections per bin of measured energy, and how many are real.
    purity : ndarray (nbins,)
    found : ndarray of bool (n_truth,)
        Per injected cosmic ray.
    real : ndarray of bool (n_detections,)
        Per detection (of the chip).
    energy_ratio : ndarray (n_matched,)
        ``energy_e / energy_true`` of the one-to-one matches.
    energy_true_matched : ndarray (n_matched,)
        True energies of those matches (for cuts).
    n_truth_total, n_detected_total : int
    truth_matched, detection_matched : ndarray of int64 (n_matched,)
        The one-to-one matches themselves: rows of the chip's truth, and rows of the
        catalogue (all chips), pair by pair.
    """

    bins: np.ndarray
    n_true: np.ndarray
    n_found: np.ndarray
    completeness: np.ndarray
    n_detected: np.ndarray
    n_real: np.ndarray
    purity: np.ndarray
    found: np.ndarray
    real: np.ndarray
    energy_ratio: np.ndarray
    energy_true_matched: np.ndarray
    n_truth_total: int = 0
    n_detected_total: int = 0
    extra: dict = field(default_factory=dict)
    truth_matched: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    detection_matched: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def completeness_above(self, energy_e: float) -> float:
        """Completeness of injected cosmic rays with true energy above ``energy_e``."""
        sel = self.extra["energy_true"] > energy_e
        return float(self.found[sel].mean()) if sel.any() else float("nan")

    def purity_above(self, energy_e: float = -np.inf) -> float:
        """Purity of detections with measured energy above ``energy_e``."""
        sel = self.extra["energy_det"] > energy_e
        return float(self.real[sel].mean()) if sel.any() else float("nan")

    def median_energy_error(self, above_e: float = 0.0) -> float:
        """Median ``|energy/true - 1|`` of the one-to-one matches above ``above_e``."""
        sel = self.energy_true_matched > above_e
        return float(np.median(np.abs(self.energy_ratio[sel] - 1.0))) if sel.any() else float(
            "nan")

    def table(self) -> str:
        """A small text table by energy bin."""
        rows = ["  bin (e-)          n_true  compl.   n_det  purity"]
        for k in range(len(self.n_true)):
            lo, hi = self.bins[k], self.bins[k + 1]
            rows.append(f"  {lo:>7.0f}-{hi:<8.0f} {self.n_true[k]:7d} {self.completeness[k]:7.4f}"
                        f" {self.n_detected[k]:7d} {self.purity[k]:7.4f}")
        return "\n".join(rows)


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.maximum(b, 1), np.nan)


def match_to_truth(catalog: CosmicRayCatalog, truth, chip_index: int = 0, *,
                   bins=ENERGY_BINS) -> TruthMatch:
    """Match the detections of one chip to that chip's injected cosmic rays.

    Parameters
    ----------
    catalog : CosmicRayCatalog
        Detections of the dark (only rows with ``chip_index`` are used).
    truth : CosmicRayTruth
        Injected cosmic rays of that chip (``hstcr_common.synthetic``): ``energy_e``,
        ``pixel_offsets``, ``pixel_x``, ``pixel_y``, ``pixel_e``.
    chip_index : int
    bins : sequence of float
        Energy bin edges (e-).

    Returns
    -------
    TruthMatch
    """
    bins = np.asarray(bins, dtype=float)
    sel = np.flatnonzero(catalog.chip_index == chip_index)
    n_det = sel.size
    n_true = len(truth)
    e_true = np.asarray(truth.energy_e, dtype=np.float64)
    det_energy = catalog.energy_e[sel].astype(np.float64)
    overlap, pt, pd = _overlaps(catalog, sel, truth)

    # found: the best detection of each injected cosmic ray holds >= half of it
    best_overlap, best_det = _largest_partner(pt, pd, overlap, n_true)
    found = best_overlap >= 0.5 * e_true

    # real: injected charge makes up at least half of the detection's electrons
    truth_in_det = np.bincount(pd, weights=overlap, minlength=n_det)
    real = np.where(det_energy > 0, truth_in_det >= 0.5 * det_energy, truth_in_det > 0)

    # one-to-one matches: t found in d, and t is d's largest contributor
    _, main_true = _largest_partner(pd, pt, overlap, n_det)
    t_idx = np.flatnonzero(found)
    one = main_true[best_det[t_idx]] == t_idx
    t_idx = t_idx[one]
    ratio = det_energy[best_det[t_idx]] / e_true[t_idx]

    tb = np.clip(np.digitize(e_true, bins) - 1, 0, len(bins) - 2)
    db = np.clip(np.digitize(det_energy, bins) - 1, 0, len(bins) - 2)
    nb = len(bins) - 1
    n_t = np.bincount(tb, minlength=nb)
    n_f = np.bincount(tb, weights=found, minlength=nb).astype(int)
    n_d = np.bincount(db, minlength=nb)
    n_r = np.bincount(db, weights=real, minlength=nb).astype(int)
    return TruthMatch(bins=bins, n_true=n_t, n_found=n_f, completeness=_ratio(n_f, n_t),
                      n_detected=n_d, n_real=n_r, purity=_ratio(n_r, n_d), found=found,
                      real=real, energy_ratio=ratio, energy_true_matched=e_true[t_idx],
                      n_truth_total=n_true, n_detected_total=n_det,
                      extra={"energy_true": e_true, "energy_det": det_energy},
                      truth_matched=t_idx, detection_matched=sel[best_det[t_idx]])


def _overlaps(catalog: CosmicRayCatalog, sel: np.ndarray, truth):
    """Injected electrons shared by each (truth, detection) pair that share a pixel.

    Returns the overlap (e-), the truth index and the detection index (into ``sel``) of
    every such pair.
    """
    n_det = sel.size
    n_true = len(truth)
    # detection label of every detected pixel, keyed by (y, x)
    offs = catalog.pixel_offsets
    sizes = (offs[sel + 1] - offs[sel]).astype(np.int64)
    pix = np.repeat(offs[sel] - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
    det_of_pix = np.repeat(np.arange(n_det), sizes)
    tx = np.asarray(truth.pixel_x, dtype=np.int64)
    ty = np.asarray(truth.pixel_y, dtype=np.int64)
    dx = catalog.pixel_x[pix].astype(np.int64)
    dy = catalog.pixel_y[pix].astype(np.int64)
    nx = int(max(tx.max(initial=0), dx.max(initial=0))) + 1
    det_key = dy * nx + dx
    order = np.argsort(det_key)
    det_key, det_of_pix = det_key[order], det_of_pix[order]
    t_key = ty * nx + tx
    t_of_pix = np.repeat(np.arange(n_true), np.diff(truth.pixel_offsets))
    where = np.searchsorted(det_key, t_key)
    where = np.minimum(where, max(det_key.size - 1, 0))
    hit = (det_key.size > 0) & (det_key[where] == t_key) if det_key.size else np.zeros(
        t_key.size, bool)
    t_h = t_of_pix[hit]
    d_h = det_of_pix[where[hit]]
    e_h = np.asarray(truth.pixel_e, dtype=np.float64)[hit]
    pair = t_h * max(n_det, 1) + d_h
    upair, inv = np.unique(pair, return_inverse=True)
    overlap = np.bincount(inv.ravel(), weights=e_h, minlength=upair.size)
    return overlap, upair // max(n_det, 1), upair % max(n_det, 1)


def _largest_partner(key: np.ndarray, partner: np.ndarray, overlap: np.ndarray, n: int):
    """For each of ``n`` keys, its largest overlap (0 if none) and that pair's partner (-1)."""
    best_overlap = np.zeros(n)
    best = np.full(n, -1, dtype=np.int64)
    if key.size:
        o = np.lexsort((overlap, key))
        last = np.r_[key[o][1:] != key[o][:-1], True]
        best_overlap[key[o][last]] = overlap[o][last]
        best[key[o][last]] = partner[o][last]
    return best_overlap, best
