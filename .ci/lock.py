"""Write requirements.lock: the exact versions of hstcr's runtime + test dependency closure.

The closure is resolved from the installed distributions' own metadata (the venv that
``pip install -e '.[all]'`` built, plus pip-audit, the audit tool of the test extra), so
ad-hoc installs (stcal for the benchmarks, editors' tools) never enter it.  Run with the
venv's python:  .venv/bin/python .ci/lock.py [--check]
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = ("hstcr", {"all"})
#: tools CI runs that are not (yet) in pyproject's extras
EXTRA_ROOTS = [("pip-audit", set())]
LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def closure() -> dict[str, str]:
    """canonical name -> installed version, for every distribution the roots need."""
    seen: dict[str, str] = {}
    todo = [ROOT, *EXTRA_ROOTS]
    done_extras: dict[str, set] = {}
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if extras <= done_extras.get(key, set()) and key in seen:
            continue
        done_extras.setdefault(key, set()).update(extras)
        dist = metadata.distribution(name)
        seen[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            wanted = [""] + sorted(extras) if extras else [""]
            if req.marker is not None and not any(
                    req.marker.evaluate({**default_environment(), "extra": e}) for e in wanted):
                continue
            todo.append((req.name, set(req.extras)))
    seen.pop("hstcr")  # the project itself (editable)
    return seen


def render(pins: dict[str, str]) -> str:
    head = ("# hstcr runtime + test dependencies (pyproject [all] + pip-audit), resolved from the\n"
            "# CI venv by .ci/lock.py; audited by .ci/audit (pip-audit --no-deps).\n")
    return head + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))


def main() -> int:
    text = render(closure())
    if "--check" in sys.argv:
        if not LOCK.exists() or LOCK.read_text() != text:
            print("requirements.lock differs from the installed dependencies: run "
                  ".venv/bin/python .ci/lock.py", file=sys.stderr)
            return 1
        return 0
    LOCK.write_text(text)
    print(f"wrote {LOCK} ({text.count(chr(10)) - 2} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
