"""Small numeric summaries shared by the checkers (ns in, seconds out)."""

from __future__ import annotations

import math
from collections.abc import Iterable

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999))
NS = 1e-9


def quantile(sorted_values: list[int] | list[float], q: float) -> int | float:
    """Nearest-rank quantile of an ascending, non-empty list."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: Iterable[int], scale: float = NS) -> dict[str, float | int | None]:
    """count, mean, p50/p95/p99/p999 and max of ``values`` times ``scale``."""
    xs = sorted(values)
    out: dict[str, float | int | None] = {"count": len(xs)}
    if not xs:
        out.update({"mean": None, **{name: None for name, _ in QUANTILES}, "max": None})
        return out
    out["mean"] = sum(xs) / len(xs) * scale
    for name, q in QUANTILES:
        out[name] = quantile(xs, q) * scale
    out["max"] = xs[-1] * scale
    return out


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
