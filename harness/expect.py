"""``--expect`` bounds for CI, and the metric names they can name.

A bound is ``METRIC OP NUMBER`` — ``lost==0``, ``availability.write>=0.99``,
``latency.put.p99<0.05`` — with OP one of ``== != <= >= < >``. Times are seconds,
shares are 0..1. ``metrics(results)`` turns the checkers' results into the flat
``{name: number | None}`` table the bounds are read against; ``METRIC_HELP`` lists the
names (docs/checkers.md explains them). A bound on an unknown name is a ``BoundError``
at parse time; a bound on a known name that this run has no value for (``lost`` on the
kv workload, ``convergence`` without samples) is undecided, not broken.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Number = int | float
STATS = ("p50", "p95", "p99", "p999", "max", "mean")
DURABILITY_COUNTS = (
    "lost",
    "recovered",
    "unexpected",
    "failed_present",
    "unchecked",
    "superseded",
    "resurrected",
    "phantom",
    "false_conflicts",
)
OPERATORS: dict[str, Callable[[Number, Number], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_STAT = "(" + "|".join(STATS) + ")"
METRIC_HELP: dict[str, str] = {
    "anomalies": "all anomalies of the durability checker (lost + resurrected + …)",
    **{
        name: f"count of {name.replace('_', ' ')} (durability checker)"
        for name in DURABILITY_COUNTS
    },
    "availability": "ok / (ok + fail + info), all client calls",
    "availability.<f|put|get>": "the same per op f (read, write, add, delete) or class",
    "availability.<healthy|faulty>": "the same outside / inside fault windows",
    "availability.<partition|kill|pause|clock|loss>": "the same inside windows of one kind",
    "availability.node.<node>": "the same for calls sent to one node",
    "unavailable": "count of unavailable windows (runs of non-ok completions ≥ 1 s)",
    "unavailable.healthy": "unavailable windows that overlap no fault window",
    "unavailable.max": "the longest unavailable window, seconds",
    "recovery.max": "longest time from a heal to a node's first ok call, seconds",
    "recovery.never": "(healed window, node) pairs with no ok call after the heal",
    "latency.<f|put|get|all>[.healthy|.faulty].<stat>": f"ok-call latency, seconds; stat {_STAT}",
    "siblings.<max|p99|mean>": "versions per read (register workload)",
    "stable_latency.<stat>": "ack to stable visibility, seconds (set workload)",
    "lost_latency.<stat>": "ack to last sighting of a lost element, seconds (set workload)",
    "convergence": "seconds from the last heal until all replicas agreed",
    "convergence.diverged": "keys whose replicas still disagreed at the end",
    "anti_entropy": "seconds of the anti-entropy phase until all replicas agreed",
    "anti_entropy.diverged": "keys whose replicas still disagreed when the phase's bound passed",
    "anti_entropy.work": "keys whose replicas disagreed when the anti-entropy phase began",
}
_PATTERNS = [
    re.compile(p)
    for p in (
        "anomalies|" + "|".join(DURABILITY_COUNTS),
        r"availability(\.node\.[^.\s]+|\.[^.\s]+)?",
        r"unavailable(\.healthy|\.max)?",
        r"recovery\.(max|never)",
        r"latency\.[^.\s]+(\.healthy|\.faulty)?\." + _STAT,
        r"siblings\.(max|p99|mean)",
        r"(stable|lost)_latency\." + _STAT,
        r"convergence(\.diverged)?",
        r"anti_entropy(\.diverged|\.work)?",
    )
]
_BOUND = re.compile(r"^\s*([A-Za-z0-9_.#+\-]+?)\s*(==|!=|<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


class BoundError(ValueError):
    """A malformed ``--expect`` bound (the CLI exits 254 with its message)."""


@dataclass(frozen=True)
class Bound:
    metric: str
    op: str
    threshold: Number
    text: str

    def holds(self, value: Number) -> bool:
        return OPERATORS[self.op](value, self.threshold)


@dataclass(frozen=True)
class Failure:
    """A bound that did not hold (``broken``) or had no value to judge (``unknown``)."""

    bound: Bound
    actual: Number | None
    status: Literal["broken", "unknown"]

    def __str__(self) -> str:
        if self.status == "unknown":
            return f"{self.bound.text}: no value for {self.bound.metric} in this run"
        return f"{self.bound.text}: {self.bound.metric} is {self.actual}"


def parse(expr: str) -> Bound:
    match = _BOUND.match(expr)
    if not match:
        raise BoundError(
            f"bad bound {expr!r}: expected METRIC OP NUMBER, e.g. 'lost==0' or "
            f"'latency.put.p99<0.05' (OP one of {' '.join(OPERATORS)})"
        )
    metric, op, number = match.groups()
    try:
        threshold: Number = int(number)
    except ValueError:
        try:
            threshold = float(number)
        except ValueError:
            raise BoundError(f"bad bound {expr!r}: {number!r} is not a number") from None
    if not math.isfinite(threshold):
        raise BoundError(f"bad bound {expr!r}: the threshold must be finite")
    if not any(p.fullmatch(metric) for p in _PATTERNS):
        known = ", ".join(METRIC_HELP)
        raise BoundError(f"bad bound {expr!r}: unknown metric {metric!r}; known: {known}")
    return Bound(metric, op, threshold, expr.strip())


def parse_all(exprs: Iterable[str]) -> list[Bound]:
    return [parse(e) for e in exprs]


def evaluate(bounds: Iterable[Bound], results: Mapping[str, Any]) -> list[Failure]:
    """The bounds that do not hold against ``results`` (a results.json dict, or its
    ``metrics`` table), in the order given."""
    table = results.get("metrics", results)
    failures = []
    for bound in bounds:
        value = table.get(bound.metric)
        if value is None:
            failures.append(Failure(bound, None, "unknown"))
        elif not bound.holds(value):
            failures.append(Failure(bound, value, "broken"))
    return failures


# --- the metrics table ------------------------------------------------------------------


def metrics(checkers: Mapping[str, Mapping[str, Any]]) -> dict[str, Number | None]:
    """The flat metric table from the composed checkers' results, by checker name."""
    out: dict[str, Number | None] = {}
    for name in ("set", "register"):
        if (durability := checkers.get(name)) is not None:
            _durability(durability, out)
    if (availability := checkers.get("availability")) is not None:
        _availability(availability, out)
    if (latency := checkers.get("latency")) is not None:
        _latency(latency, out)
    if (convergence := checkers.get("convergence")) is not None:
        out["convergence"] = convergence.get("time")
        out["convergence.diverged"] = convergence.get("diverged_count")
    ae = checkers.get("anti_entropy_convergence")
    if ae is not None and "not_measured" not in ae:
        out["anti_entropy"] = ae.get("time")
        out["anti_entropy.diverged"] = ae.get("diverged_count")
        out["anti_entropy.work"] = ae.get("diverged_at_start")
    return dict(sorted(out.items()))


def _durability(result: Mapping[str, Any], out: dict[str, Number | None]) -> None:
    counts = {n: result[f"{n}_count"] for n in DURABILITY_COUNTS if f"{n}_count" in result}
    out.update(counts)
    benign = ("recovered", "superseded", "unchecked")
    out["anomalies"] = sum(v for n, v in counts.items() if n not in benign)
    if "siblings" in result:
        for stat in ("max", "p99", "mean"):
            out[f"siblings.{stat}"] = result["siblings"].get(stat)
    for name in ("stable_latency", "lost_latency"):
        for stat in STATS:
            if name in result:
                out[f"{name}.{stat}"] = result[name].get(stat)


def _availability(result: Mapping[str, Any], out: dict[str, Number | None]) -> None:
    out["availability"] = result["overall"]["availability"]
    for phase in ("healthy", "faulty"):
        out[f"availability.{phase}"] = result[phase]["availability"]
    for group in ("by_fault", "by_class", "by_f"):
        for name, tally in result.get(group, {}).items():
            out[f"availability.{name}"] = tally["availability"]
    for node, tally in result.get("by_node", {}).items():
        out[f"availability.node.{node}"] = tally["availability"]
    runs = result.get("unavailable", [])
    out["unavailable"] = result.get("unavailable_count", len(runs))
    out["unavailable.healthy"] = result.get("unavailable_healthy_count")
    out["unavailable.max"] = max((r["duration"] for r in runs), default=0.0)
    delays = [d for per_node in result.get("recovery", {}).values() for d in per_node.values()]
    out["recovery.max"] = max((d for d in delays if d is not None), default=None)
    out["recovery.never"] = sum(1 for d in delays if d is None)


def _latency(result: Mapping[str, Any], out: dict[str, Number | None]) -> None:
    groups = {"all": result["all"], **result.get("by_class", {}), **result.get("by_f", {})}
    for name, phases in groups.items():
        for phase, summary in phases.items():
            prefix = f"latency.{name}" if phase == "all" else f"latency.{name}.{phase}"
            for stat in STATS:
                out[f"{prefix}.{stat}"] = summary.get(stat)
