"""Reading a stored history and checking it against the design's format.

``load`` is on the budget of a million-op check, so it parses in chunks of lines
joined into one JSON array (one parser call per chunk, sharing the key strings of its
ops), with the cyclic collector paused: a million fresh dicts would otherwise trigger
it hundreds of times for nothing, since an op holds no cycles. (orjson was measured
here and gained nothing: the time goes to allocating the dicts, not to parsing.)
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from os import PathLike
from typing import Any

Op = dict[str, Any]

TYPES = frozenset({"invoke", "ok", "fail", "info"})
COMPLETIONS = frozenset({"ok", "fail", "info"})
NEMESIS = "nemesis"
CONVERGENCE = "convergence"
ANTI_ENTROPY = "anti-entropy"
HARNESS = "harness"
OBSERVERS = frozenset({CONVERGENCE, ANTI_ENTROPY, HARNESS})
"""Processes that record what the harness observed (samples, counters), not client calls:
their ops are single completions (an invoke before one is allowed and ignored)."""
SPECIAL_PROCESSES = frozenset({NEMESIS}) | OBSERVERS

_CHUNK = 20_000


class HistoryError(ValueError):
    """A history file that cannot be read as one JSON op a line."""


class History(list):  # type: ignore[type-arg]
    """A list of ops that can carry derived indexes, so composed checkers build them once.

    The indexes are built on first use and never refreshed: don't change a history
    after checking it (build a new one)."""

    __slots__ = ("_derived",)

    def __init__(self, ops: Sequence[Op] = ()) -> None:
        super().__init__(ops)
        self._derived: dict[str, Any] = {}


def as_history(ops: Sequence[Op]) -> History:
    """The same ops as a ``History`` (no copy if they already are one)."""
    return ops if isinstance(ops, History) else History(ops)


def derived(ops: Sequence[Op], name: str, build: Any) -> Any:
    """``build(ops)``, remembered on the history when it can hold it."""
    if not isinstance(ops, History):
        return build(ops)
    cache = ops._derived
    if name not in cache:
        cache[name] = build(ops)
    return cache[name]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored on exit, also on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load(path: str | PathLike[str]) -> History:
    """Read ``history.jsonl``: one JSON object a line, blank lines skipped.

    A last line cut short (the runner crashed mid-write) is dropped; any other line
    that is not a JSON object raises ``HistoryError`` naming its line number.
    """
    ops = History()
    with collector_paused(), open(path, "rb") as f:
        line_no = 0
        while chunk := list(islice(f, _CHUNK)):
            try:
                part = json.loads(b"[" + b",".join(line for line in chunk if line.strip()) + b"]")
            except json.JSONDecodeError:
                part = _parse_lines(chunk, line_no)
            ops.extend(part)
            line_no += len(chunk)
    if any(type(op) is not dict for op in ops):
        raise HistoryError(f"{path}: every line must be a JSON object")
    return ops


def _parse_lines(chunk: list[bytes], first_line: int) -> list[Op]:
    """Slow path for a chunk with a bad line: find it, or drop a torn last line.

    Only the file's last line can lack its newline, so that is what marks it torn.
    """
    out: list[Op] = []
    for offset, line in enumerate(chunk):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if not line.endswith(b"\n"):
                break
            raise HistoryError(f"line {first_line + offset + 1}: {e}") from e
    return out


# --- validation ------------------------------------------------------------------------


def _is_int(x: object) -> bool:
    return type(x) is int


def _process_ok(p: object) -> bool:
    return _is_int(p) or p in SPECIAL_PROCESSES


def validate(ops: Sequence[Op], limit: int = 100) -> list[str]:
    """Problems with ``ops`` against the history format of the design; empty means valid.

    Checks each op's fields and types, that indexes count from 0 and time never goes
    back, that every completion follows an invoke of the same process and ``f``, that a
    process never has two ops in flight, and that a process whose op ended ``info``
    never invokes again. At most ``limit`` problems are listed, then a count of the rest.
    """
    problems: list[str] = []
    extra = 0

    def problem(i: int, msg: str) -> None:
        nonlocal extra
        if len(problems) < limit:
            problems.append(f"op {i}: {msg}")
        else:
            extra += 1

    pending: dict[Any, Op] = {}
    crashed: set[Any] = set()
    last_time = 0
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            problem(i, "not an object")
            continue
        if op.get("index") != i:
            problem(i, f"index is {op.get('index')!r}, expected {i}")
        kind = op.get("type")
        if kind not in TYPES:
            problem(i, f"type {kind!r} is not one of invoke/ok/fail/info")
            continue
        p = op.get("process")
        if not _process_ok(p):
            problem(i, f"process {p!r} is neither an int nor one of {sorted(SPECIAL_PROCESSES)}")
            continue
        t = op.get("time")
        if not _is_int(t) or t < 0:
            problem(i, f"time {t!r} is not a non-negative int of ns")
        else:
            if t < last_time:
                problem(i, f"time {t} goes back from {last_time}")
            last_time = max(last_time, t)
        f = op.get("f")
        if not isinstance(f, str):
            problem(i, f"f {f!r} is not a string")
        if p in OBSERVERS:
            continue
        if kind == "invoke":
            if p in pending:
                problem(i, f"process {p} invokes while op {pending[p].get('index')} is pending")
            if p in crashed:
                problem(i, f"process {p} invokes again after an info")
            pending[p] = op
        else:
            inv = pending.pop(p, None)
            if inv is None:
                problem(i, f"{kind} for process {p} follows no invoke")
            elif inv.get("f") != f or inv.get("key") != op.get("key"):
                problem(i, f"completion f/key {f}/{op.get('key')} differs from invoke's")
            if kind == "info" and p != NEMESIS:
                crashed.add(p)
        if p != NEMESIS:
            for msg in _client_fields(op):
                problem(i, msg)
    if extra:
        problems.append(f"... and {extra} more problems")
    return problems


def _client_fields(op: Op) -> Iterator[str]:
    """Field problems of one client op, per the workload op shapes."""
    kind, f, value = op["type"], op.get("f"), op.get("value")
    if "key" in op and not isinstance(op["key"], str | int):
        yield f"key {op['key']!r} is not a string"
    node = op.get("node")
    if node is not None and not isinstance(node, str):
        yield f"node {node!r} is not a node name"
    if kind in ("fail", "info") and not isinstance(op.get("error"), str):
        yield f"{kind} without an error string"
    ctx = op.get("context")
    if ctx is not None and not isinstance(ctx, list):
        yield f"context {ctx!r} is not a list"
    if f == "add" and not _is_int(value):
        yield f"add value {value!r} is not an int element"
    elif f == "write" and value is None:
        yield "write without a value"
