"""Export a stored history as Jepsen EDN, one op map a line, for elle-cli or Knossos.

``{:index 0, :type :invoke, :process 0, :time 123, :f :add, :key "s3", :value 17}``:
``type`` and ``f`` become keywords, ``process`` stays an int (``:nemesis`` for faults),
JSON lists become vectors and objects maps with string keys. Fields beyond Jepsen's
(``key``, ``node``, ``context``, ``error``, ``final``) ride along as extra keywords,
which Jepsen's tools ignore. Convergence samples are not client calls (they have no
invoke), so they are left out unless asked for; indices keep their values in the
JSON history, so an EDN op can be traced back to its line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkers.history import CONVERGENCE

FIRST = ("index", "type", "process", "time", "f", "key", "value")
KEYWORD_FIELDS = frozenset({"type", "f"})
_KEYWORD = re.compile(r"^[A-Za-z*+!_?<>=][A-Za-z0-9*+!_?<>=.\-/]*$")


def export_edn(run_dir: Path, out: Path | None = None, *, samples: bool = False) -> Path:
    """Write ``run_dir/history.jsonl`` as EDN to ``out`` (default ``run_dir/history.edn``)."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "history.edn"
    with (
        open(run_dir / "history.jsonl", encoding="utf-8") as src,
        open(out, "w", encoding="utf-8") as dst,
    ):
        for line in src:
            if not line.strip():
                continue
            op = json.loads(line)
            if op.get("process") == CONVERGENCE and not samples:
                continue
            dst.write(op_edn(op) + "\n")
    return out


def op_edn(op: Mapping[str, Any]) -> str:
    keys = [k for k in FIRST if k in op] + sorted(k for k in op if k not in FIRST)
    fields = []
    for k in keys:
        value = op[k]
        if k in KEYWORD_FIELDS or (k == "process" and isinstance(value, str)):
            rendered = keyword(value)
        else:
            rendered = edn(value)
        fields.append(f"{keyword(k)} {rendered}")
    return "{" + ", ".join(fields) + "}"


def keyword(name: object) -> str:
    """``:name`` when ``name`` is a valid EDN keyword, else the value itself."""
    if isinstance(name, str) and _KEYWORD.match(name):
        return ":" + name
    return edn(name)


def edn(value: object) -> str:
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "##NaN"
        if math.isinf(value):
            return "##Inf" if value > 0 else "##-Inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + " ".join(edn(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{edn(k)} {edn(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")
