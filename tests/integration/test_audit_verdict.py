"""The CI audit verdict: a known vulnerability fails; unaudited pins are never called safe."""

import json
import subprocess
import sys
from pathlib import Path

VERDICT = Path(__file__).resolve().parents[2] / ".ci" / "audit_verdict.py"


def _verdict(tmp_path, deps, strict=False):
    report = tmp_path / "audit.json"
    report.write_text(json.dumps({"dependencies": deps, "fixes": []}))
    env = {"HSTCR_AUDIT_STRICT": "1"} if strict else {}
    return subprocess.run([sys.executable, str(VERDICT), str(report)], capture_output=True,
                          text=True, env=env)


def test_known_vulnerability_fails(tmp_path):
    out = _verdict(tmp_path, [
        {"name": "numpy", "version": "2.4.6", "vulns": []},
        {"name": "urllib3", "version": "1.0", "vulns": [
            {"id": "GHSA-xxxx", "fix_versions": ["1.26.5"], "description": "d"}]},
    ])
    assert out.returncode == 1
    assert "VULNERABLE urllib3 1.0: GHSA-xxxx (fixed in 1.26.5)" in out.stdout


def test_clean_audit_passes(tmp_path):
    out = _verdict(tmp_path, [{"name": "numpy", "version": "2.4.6", "vulns": []}])
    assert out.returncode == 0 and "1 of 1 pins checked" in out.stdout


def test_unreachable_service_is_reported_not_claimed_safe(tmp_path):
    deps = [{"name": "numpy", "skip_reason": "Dependency not found on PyPI"}]
    out = _verdict(tmp_path, deps)
    assert out.returncode == 0 and "NOT AUDITED" in out.stdout and "0 of 1" in out.stdout
    assert _verdict(tmp_path, deps, strict=True).returncode == 1
