"""The basic stats check every run gets: counts and latencies per ``f``, throughput.

Like Jepsen's stats checker it is valid when every kind of client op succeeded at least
once; the real verdicts (lost writes, siblings, convergence) come from ``checkers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tabulate import tabulate


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def stats(history: Iterable[dict[str, Any]]) -> dict[str, Any]:
    pending: dict[Any, dict[str, Any]] = {}
    per_f: dict[str, dict[str, Any]] = {}
    first = last = None
    for op in history:
        if not isinstance(op.get("process"), int):
            continue
        t = op["time"]
        if not op.get("final"):  # throughput is the workload phase's, not the final reads'
            first = t if first is None else first
            last = t
        if op["type"] == "invoke":
            pending[op["process"]] = op
            continue
        inv = pending.pop(op["process"], None)
        name = op["f"] + (" (final)" if op.get("final") else "")
        row = per_f.setdefault(name, {"ok": 0, "fail": 0, "info": 0, "latencies": []})
        row[op["type"]] = row.get(op["type"], 0) + 1
        if inv is not None and op["type"] == "ok":
            row["latencies"].append((t - inv["time"]) / 1e6)
    out: dict[str, Any] = {}
    for name, row in sorted(per_f.items()):
        lat = sorted(row.pop("latencies"))
        row["count"] = row["ok"] + row["fail"] + row["info"]
        row["latency_ms"] = {
            "p50": _percentile(lat, 0.5),
            "p99": _percentile(lat, 0.99),
            "max": lat[-1] if lat else float("nan"),
        }
        out[name] = row
    completed = sum(r["count"] for name, r in out.items() if not name.endswith("(final)"))
    seconds = ((last or 0) - (first or 0)) / 1e9
    return {
        "valid": bool(out) and all(r["ok"] > 0 for r in out.values()),
        "by_f": out,
        "completed": completed,
        "seconds": seconds,
        "ops_per_s": completed / seconds if seconds > 0 else 0.0,
    }


def table(s: dict[str, Any]) -> str:
    rows = [
        [
            name,
            r["count"],
            r["ok"],
            r["fail"],
            r["info"],
            f"{r['latency_ms']['p50']:.1f}",
            f"{r['latency_ms']['p99']:.1f}",
            f"{r['latency_ms']['max']:.1f}",
        ]
        for name, r in s["by_f"].items()
    ]
    head = ["f", "ops", "ok", "fail", "info", "p50 ms", "p99 ms", "max ms"]
    body = tabulate(rows, headers=head, tablefmt="github")
    return (
        f"{body}\n\n{s['completed']} ops in {s['seconds']:.1f} s "
        f"({s['ops_per_s']:.0f} ops/s); stats valid: {s['valid']}"
    )
