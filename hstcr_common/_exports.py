"""Lazy package exports: each stage folder's ``__init__`` names what it offers in one map
``{name: submodule}`` and imports a submodule only when one of its names is first used.

So ``import hstcr_common.lake`` costs nothing until a name is needed (the Lambda worker never
pays for DuckDB or matplotlib), no import order can form a cycle, and ``dir()`` / tab
completion still list every name.  The mechanism is scientific-python's ``lazy_loader``
(SPEC 1), as used by scipy, scikit-image and networkx.
"""

from __future__ import annotations

from collections import defaultdict

import lazy_loader


def attach(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for a package whose ``exports`` map each public
    name to the submodule defining it."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, module in exports.items():
        by_module[module].append(name)
    return lazy_loader.attach(package, submod_attrs=dict(by_module))
