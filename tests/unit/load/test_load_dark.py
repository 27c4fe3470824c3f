"""load_dark: IR ramps go to the IR loader; a synthetic ramp loads end to end."""

from __future__ import annotations

import numpy as np

from hstcr_common.load import load_dark, read_header_facts
from unit.load.mast_files import image, primary_hdu, to_bytes


def ir_ima_bytes() -> bytes:
    primary = {"INSTRUME": "WFC3", "DETECTOR": "IR", "ROOTNAME": "IBXD02ZZQ",
               "FILENAME": "ibxd02zzq_ima.fits", "EXPTIME": 1402.9, "EXPSTART": 58000.0,
               "EXPEND": 58000.02, "DATE-OBS": "2017-09-04", "TIME-OBS": "00:00:00"}
    return to_bytes([primary_hdu(primary),
                     image("SCI", 1, np.zeros((4, 4), np.float32))])


def test_ir_files_go_to_loading_ir(monkeypatch):
    calls = {}

    def load_ir_dark(hdul, *, detector, source, support_header, support_note, science_suffix):
        calls.update(n_hdus=len(hdul), detector=detector.id, source=source,
                     support_note=support_note, science_suffix=science_suffix)
        return "the ir dark"

    monkeypatch.setattr("hstcr_common.load.dark.load_ir_dark", load_ir_dark)
    assert load_dark(ir_ima_bytes(), source="ibxd02zzq_ima.fits") == "the ir dark"
    assert calls == {"n_hdus": 2, "detector": "wfc3_ir", "source": "ibxd02zzq_ima.fits",
                     "support_note": "no support file (spt/shm) given", "science_suffix": "ima"}


def test_synthetic_ir_ramp_goes_through_load_dark(tmp_path):
    from hstcr_common.synthetic import ir as synthetic_ir
    made = synthetic_ir.write_ir_dark("nicmos_nic2", tmp_path, seed=2, n_reads=4)
    paths = made.paths
    dark = load_dark(paths["science"], support=paths["support"])
    assert dark.instrument == "nicmos_nic2" and dark.science_suffix == "ima"
    assert dark.chips[0].reads.shape[0] == 4
    assert dark.support_note == "" and "EPCHTIME" in dark.support_header
    facts = read_header_facts(paths["science"])
    assert facts["instrument"] == "nicmos_nic2" and facts["subarray"] is False
