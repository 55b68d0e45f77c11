"""The run's plots: latency.png, rate.png, availability.png, fault windows shaded.

A million points would cost matplotlib seconds and say nothing more than the pixels
they land on, so ``latency.png`` snaps every call to the plot's pixel grid (time by
log-latency) and draws each occupied pixel once per series: the picture is the one
all points would make, drawn from at most a few thousand markers. Rates and
availability are computed in time buckets with numpy. Drawn with matplotlib's
object API on the Agg canvas: no pyplot state, no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from checkers.calls import calls, columns
from checkers.faults import Window, fault_windows
from checkers.history import Op

PLOTS = ("latency.png", "rate.png", "availability.png")
SIZE = (12.0, 4.8)
DPI = 100
GRID = (1200, 480)
BUCKETS = 240
OUTCOMES = ("ok", "fail", "info")
OUTCOME_STYLE = {"fail": ("#d62728", "x"), "info": ("#ff7f0e", "+")}
FAULT_COLORS = {
    "partition": "#9467bd",
    "kill": "#d62728",
    "pause": "#8c564b",
    "clock": "#17becf",
    "loss": "#bcbd22",
    "power": "#ff7f0e",
}
F_COLORS = ("#1f77b4", "#2ca02c", "#e377c2", "#7f7f7f", "#9467bd", "#17becf")


class _Calls:
    """The client calls as numpy columns: invoke time (s), latency (s), outcome, f."""

    def __init__(self, history: Sequence[Op]) -> None:
        cols = columns(history)
        end = calls(history).end_time
        self.t = np.array(cols.invoked, dtype=np.int64) * 1e-9
        done = np.array([end if t is None else t for t in cols.completed], dtype=np.int64)
        self.latency = done * 1e-9 - self.t
        codes = {"ok": 0, "fail": 1}
        self.outcome = np.array([codes.get(o, 2) for o in cols.outcome], dtype=np.int8)
        self.fs = sorted(set(cols.f), key=str)
        f_code = {f: i for i, f in enumerate(self.fs)}
        self.f = np.array([f_code[f] for f in cols.f], dtype=np.int16)
        self.span = max(end * 1e-9, float(self.t.max()) if len(self.t) else 0.0, 1e-9)


def render(history: Sequence[Op], out_dir: Path) -> list[Path]:
    """Write the three plots into ``out_dir``; returns their paths."""
    data = _Calls(history)
    windows = fault_windows(history)
    drawn = []
    for name, draw in (
        ("latency.png", _latency),
        ("rate.png", _rate),
        ("availability.png", _availability),
    ):
        fig = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw(ax, data)
        _shade(ax, windows)
        ax.set_xlim(0, data.span)
        ax.set_xlabel("time since test start (s)")
        ax.grid(True, alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize=8,
                frameon=False,
                markerscale=2.5,
            )
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
        drawn.append(path)
    return drawn


def _shade(ax: Any, windows: Sequence[Window]) -> None:
    """Shade each fault window in its kind's colour, name it along the top edge."""
    labelled: set[str] = set()
    for w in windows:
        color = FAULT_COLORS.get(w.kind, "#999999")
        label = None if w.kind in labelled else f"{w.kind} window"
        labelled.add(w.kind)
        ax.axvspan(w.start * 1e-9, w.end * 1e-9, color=color, alpha=0.15, lw=0, label=label)
        if len(windows) <= 16:
            ax.annotate(
                w.name,
                xy=(w.start * 1e-9, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10),
                textcoords="offset points",
                fontsize=7,
                color=color,
            )


def _latency(ax: Any, data: _Calls) -> None:
    positive = data.latency > 0
    if not positive.any():
        ax.set_title("latency: no completed calls")
        return
    lat = np.where(positive, data.latency, np.nan)
    lo, hi = np.nanmin(lat), np.nanmax(lat)
    lo_log, hi_log = np.log10(lo), np.log10(hi) + 1e-9
    for outcome_code, outcome in enumerate(OUTCOMES):
        for f_code, f in enumerate(data.fs):
            chosen = (data.outcome == outcome_code) & (data.f == f_code) & positive
            if not chosen.any():
                continue
            x, y = _snap(data.t[chosen], np.log10(lat[chosen]), data.span, lo_log, hi_log)
            if outcome == "ok":
                color, marker = F_COLORS[f_code % len(F_COLORS)], "."
            else:
                color, marker = OUTCOME_STYLE[outcome]
            ax.scatter(x, 10**y, s=4, c=color, marker=marker, lw=0.6, label=f"{f} {outcome}")
    ax.set_yscale("log")
    ax.set_ylabel("latency (s)")
    ax.set_title("latency of every client call (by invoke time)")


def _snap(
    x: np.ndarray, y: np.ndarray, span: float, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points snapped to the pixel grid, each occupied pixel once."""
    nx, ny = GRID
    xi = np.clip((x / span * nx).astype(np.int64), 0, nx - 1)
    yi = np.clip(((y - lo) / (hi - lo) * ny).astype(np.int64), 0, ny - 1)
    cells = np.unique(xi * ny + yi)
    return (cells // ny + 0.5) * span / nx, (cells % ny + 0.5) * (hi - lo) / ny + lo


def _buckets(data: _Calls) -> tuple[np.ndarray, float]:
    width = data.span / BUCKETS
    index = np.clip((data.t / width).astype(np.int64), 0, BUCKETS - 1)
    return index, width


def _rate(ax: Any, data: _Calls) -> None:
    index, width = _buckets(data)
    centers = (np.arange(BUCKETS) + 0.5) * width
    for f_code, f in enumerate(data.fs):
        ok = np.bincount(index[(data.f == f_code) & (data.outcome == 0)], minlength=BUCKETS)
        ax.plot(centers, ok / width, color=F_COLORS[f_code % len(F_COLORS)], label=f"{f} ok")
    for outcome_code, outcome in ((1, "fail"), (2, "info")):
        n = np.bincount(index[data.outcome == outcome_code], minlength=BUCKETS)
        if n.any():
            color, _ = OUTCOME_STYLE[outcome]
            ax.plot(centers, n / width, color=color, ls="--", label=f"all {outcome}")
    ax.set_ylabel("calls per second")
    ax.set_title(f"throughput by invoke time ({width:.3g} s buckets)")


def _availability(ax: Any, data: _Calls) -> None:
    index, width = _buckets(data)
    centers = (np.arange(BUCKETS) + 0.5) * width
    for f_code, f in enumerate(data.fs):
        mine = data.f == f_code
        total = np.bincount(index[mine], minlength=BUCKETS)
        ok = np.bincount(index[mine & (data.outcome == 0)], minlength=BUCKETS)
        share = np.divide(ok, total, out=np.full(BUCKETS, np.nan), where=total > 0)
        ax.plot(centers, share, color=F_COLORS[f_code % len(F_COLORS)], marker=".", label=f)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("ok / (ok + fail + info)")
    ax.set_title(f"availability by invoke time ({width:.3g} s buckets)")
