"""The shape of the package (issue 12): no import cycle, stages only import downwards, no
oversized module.  Read from the source with ``ast`` (function-level imports included), so a
cycle hidden inside a function is caught too."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hstcr_common"

#: the stage folders, lowest first: a stage may import only from stages before it
LAYERS = [
    # the domain's vocabulary: a Dark holds its Detector, a Detector raises HstcrError
    ("model", "instruments"), ("fits",), ("remote",), ("load",), ("measure",), ("detect",),
    ("ephemeris",), ("lake",), ("synthetic",), ("pipeline",), ("plots", "aws"), ("cli",),
]
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _exported_module(package: str, name: str) -> str | None:
    """The submodule a lazy package maps ``name`` to (``_EXPORTS``), if any."""
    try:
        exports = getattr(importlib.import_module(package), "_EXPORTS", {})
    except ImportError:
        return None
    return f"{package}.{exports[name]}" if name in exports else None


def _imports() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, path.name == "__init__.py", node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else (_exported_module(base, alias.name) or base))
            for t in targets:
                if t.startswith("hstcr_common") and t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycle():
    graph = _imports()
    # Tarjan's strongly connected components; a component of two or more modules is a cycle
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_stages_import_only_downwards():
    rank = {name: i for i, names in enumerate(LAYERS) for name in names}
    wrong = []
    for mod, targets in _imports().items():
        here = _stage(mod)
        for t in targets:
            there = _stage(t)
            if here in rank and there in rank and rank[there] > rank[here]:
                wrong.append(f"{mod} -> {t}")
    assert not wrong, wrong


def test_every_stage_folder_is_in_the_layer_list():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == {name for names in LAYERS for name in names}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_oversized_module(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_every_lazy_export_resolves():
    for mod in _modules():
        if mod.endswith("__main__"):
            continue
        module = importlib.import_module(mod)
        for name in getattr(module, "_EXPORTS", {}):
            assert getattr(module, name) is not None, f"{mod}.{name}"
