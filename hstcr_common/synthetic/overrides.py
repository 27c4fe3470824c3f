"""Keyword overrides of a frozen spec: the one way every synthetic entry point takes knobs."""

from __future__ import annotations

import dataclasses


def with_overrides(spec, overrides: dict):
    """``spec`` with the fields named in ``overrides`` replaced (``dataclasses.replace``).

    Raises
    ------
    TypeError
        Naming every key of ``overrides`` that is not a field of ``spec``.
    """
    if not overrides:
        return spec
    names = {f.name for f in dataclasses.fields(spec)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"{type(spec).__name__} has no field {', '.join(map(repr, unknown))}")
    return dataclasses.replace(spec, **overrides)
