"""The CLI's own wiring: every command is reachable and `sample` covers every detector."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from click.testing import CliRunner

from hstcr_common.cli import COMMAND_MODULES, main
from hstcr_common.instruments import detectors


def test_every_command_has_help():
    runner = CliRunner()
    for name in COMMAND_MODULES:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output


def test_instruments_table_lists_every_detector():
    result = CliRunner().invoke(main, ["instruments"])
    assert result.exit_code == 0
    for det in detectors().values():
        assert det.id in result.output and det.mast_instrument_name in result.output
    csv = CliRunner().invoke(main, ["instruments", "--format", "csv"]).output.splitlines()
    assert len(csv) == 1 + len(detectors())


@pytest.mark.parametrize("instrument", ["wfc3_ir", "nicmos_nic3"])
def test_sample_writes_ir_ramps(tmp_path, instrument):
    result = CliRunner().invoke(
        main, ["sample", "--instrument", instrument, "--n", "2", "--out", str(tmp_path), "--seed", "4"])
    assert result.exit_code == 0, result.output
    imas = sorted(tmp_path.glob("*_ima.fits"))
    assert len(imas) == 2 and len(list(tmp_path.glob("*_spt.fits"))) == 2
    with fits.open(imas[0]) as hdul:
        assert hdul[0].header["NSAMP"] == len([h for h in hdul if h.name == "SCI"])
    truth = pq.read_table(tmp_path / "truth.parquet")
    assert truth.num_rows > 0 and "read_index" in truth.column_names


def test_unknown_instrument_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["sample", "--instrument", "foc", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "unknown instrument 'foc'" in result.output


def test_a_quiet_run_imports_no_terminal_drawing(tmp_path):
    """`hstcr run --quiet` draws nothing, so it does not import rich (~35 ms of start-up);
    without --quiet the progress bar and table are there."""
    import subprocess
    import sys

    from hstcr_common.synthetic import write_dark

    write_dark("stis_ccd", tmp_path / "darks", seed=3)
    code = ("import sys\n"
            "from hstcr_common.cli import main\n"
            "try:\n"
            "    main(sys.argv[1:])\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            "print('rich imported' if any(m.split('.')[0] == 'rich' for m in sys.modules)"
            " else 'no rich')\n")
    args = ["run", str(tmp_path / "darks"), "--lake", str(tmp_path / "lake"), "--workers", "1",
            "--method", "threshold"]
    quiet = subprocess.run([sys.executable, "-c", code, *args, "--quiet"], capture_output=True,
                           text=True)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout.strip().splitlines()[-1] == "no rich"
    loud = subprocess.run([sys.executable, "-c", code, *args, "--reprocess"],
                          capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert loud.stdout.strip().splitlines()[-1] == "rich imported"
    assert "cosmic rays" in loud.stdout
