"""Workloads: what clients do, as ops, and the adapter that turns an op into client calls.

Leans on ``systems.base`` (the abstract operations) and ``systems.errors`` only.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from workloads.base import Op, WorkerState, Workload, failed
from workloads.kv import KvWorkload
from workloads.register import RegisterWorkload
from workloads.sets import SetWorkload

__all__ = [
    "KvWorkload",
    "Op",
    "RegisterWorkload",
    "SetWorkload",
    "WorkerState",
    "Workload",
    "build",
    "failed",
    "options_of",
]


KINDS: dict[str, type] = {"set": SetWorkload, "register": RegisterWorkload, "kv": KvWorkload}


def options_of(name: str) -> dict[str, object]:
    """The options workload ``name`` takes (``--workload-option KEY=VALUE``): the keyword-only
    parameters of its constructor, with their defaults."""
    params = inspect.signature(KINDS[name]).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


def _convert(name: str, key: str, text: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError("not a boolean")
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as e:
        raise ValueError(f"workload {name} option {key}={text!r}: {e}") from e
    return text


def build(name: str, keys: int | None = None, options: Sequence[str] = ()) -> Workload:
    """The workload called ``name`` with ``keys`` keys (or its default) and ``options``
    (``KEY=VALUE`` strings, each converted to its default's type); ``ValueError`` naming
    what is wrong."""
    if name not in KINDS:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(KINDS)}")
    known = options_of(name)
    given: dict[str, object] = {}
    for item in options:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--workload-option takes KEY=VALUE, not {item!r}")
        if key not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise ValueError(f"workload {name} has no option {key!r}; it takes {takes}")
        given[key] = _convert(name, key, text, known[key])
    kind = KINDS[name]
    return kind(**given) if keys is None else kind(keys, **given)
