"""The tables a person reads first, from ``results.json``: text, markdown and HTML.

Every format is built from the same list of ``Table``s, so ``harness report DIR``,
``report.md`` and ``report.html`` always say the same thing.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from checkers.nodes import COUNTERS
from harness.plots import PLOTS

LISTED = 20


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""


def load_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"no results.json in {run_dir}: run `harness check {run_dir}`")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def render_text(run_dir: Path) -> str:
    """The tables of a checked run, for a terminal (``harness report DIR``)."""
    return _render(load_results(Path(run_dir)), "simple")


def render_markdown(results: Mapping[str, Any]) -> str:
    return _render(results, "github")


def render_html(results: Mapping[str, Any], run_dir: Path) -> str:
    """The same tables, then each plot inline (base64) and linked to its file."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(_title(results))}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(_title(results))}</h1>",
    ]
    for table in tables(results):
        parts.append(f"<h2>{html.escape(table.title)}</h2>")
        if table.note:
            parts.append(f"<p>{html.escape(table.note)}</p>")
        if table.rows:
            parts.append(tabulate(table.rows, table.headers, tablefmt="html"))
    parts.append("<h2>Plots</h2>")
    for name in PLOTS:
        path = Path(run_dir) / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(
                f"<p><a href='{name}'><img alt='{name}' src='data:image/png;base64,{data}'>"
                f"</a><br>{name}</p>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _render(results: Mapping[str, Any], fmt: str) -> str:
    heading = "# " if fmt == "github" else ""
    out = [f"{heading}{_title(results)}", ""]
    for table in tables(results):
        out.append(f"{'## ' if fmt == 'github' else ''}{table.title}")
        if fmt != "github":
            out.append("-" * len(table.title))
        if table.note:
            out += [table.note, ""]
        if table.rows:
            out += [tabulate(table.rows, table.headers, tablefmt=fmt), ""]
    return "\n".join(out).rstrip() + "\n"


def _title(results: Mapping[str, Any]) -> str:
    test = results.get("test", {})
    verdict = {True: "valid", False: "INVALID", "unknown": "unknown"}.get(
        results.get("valid"), str(results.get("valid"))
    )
    return f"{test.get('name', 'run')}: {verdict} (exit {results.get('exit_code')})"


# --- the tables --------------------------------------------------------------------------


def tables(results: Mapping[str, Any]) -> list[Table]:
    checkers = results.get("checkers", {})
    out = [_test_table(results), _verdicts(checkers)]
    if results.get("expect"):
        out.append(_expect(results["expect"]))
    for name in ("set", "register"):
        if name in checkers:
            out += _durability(checkers[name])
    out.append(_faults(results.get("faults", [])))
    if "availability" in checkers:
        out += _availability(checkers["availability"])
    if "latency" in checkers:
        out.append(_latency(checkers["latency"]))
    if "convergence" in checkers:
        out.append(_convergence(checkers["convergence"]))
    ae = checkers.get("anti_entropy_convergence")
    if ae is not None and "not_measured" not in ae:
        out.append(_anti_entropy(ae))
    counted = checkers.get("node_counters")
    if counted is not None and counted.get("nodes"):
        out.append(_node_counters(counted, checkers.get("hints", {})))
    return out


def _s(ns: int | None) -> str:
    return "" if ns is None else f"{ns * 1e-9:.3f}"


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.2f}"


def _pct(share: float | None) -> str:
    return "" if share is None else f"{share:.2%}"


def _test_table(results: Mapping[str, Any]) -> Table:
    test = results.get("test", {})
    keys = ("workload", "mode", "nodes", "n", "r", "w", "nemesis", "concurrency", "seed")
    rows = [[k, _plain(test[k])] for k in keys if k in test]
    rows.append(["ops in history", results.get("ops", {}).get("total")])
    return Table("Test", ["option", "value"], rows)


def _plain(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _verdicts(checkers: Mapping[str, Any]) -> Table:
    order = ["set", "register", "availability", "latency", "convergence"]
    names = sorted(checkers, key=lambda n: (order.index(n) if n in order else len(order), n))
    rows = [[name, checkers[name].get("valid"), _headline(checkers[name])] for name in names]
    return Table("Verdicts", ["checker", "valid", "found"], rows)


def _headline(r: Mapping[str, Any]) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    counts = [f"{k.removesuffix('_count')} {v}" for k, v in r.items() if k.endswith("_count") and v]
    return ", ".join(counts) or "-"


def _expect(expect: Sequence[Mapping[str, Any]]) -> Table:
    rows = [[e["bound"], e.get("actual"), e["result"]] for e in expect]
    return Table("Expected bounds", ["bound", "actual", "result"], rows)


def _durability(r: Mapping[str, Any]) -> list[Table]:
    name = "set" if "stable_latency" in r else "register"
    counts = [[k.removesuffix("_count"), v] for k, v in r.items() if k.endswith("_count")]
    out = [Table(f"Durability ({name} workload)", ["class", "count"], counts)]
    lost = r.get("lost", [])
    if lost:
        out.append(lost_table(lost, r["lost_count"], "element" if name == "set" else "id"))
    for cls in ("unexpected", "phantom", "failed_present", "resurrected", "false_conflicts"):
        records = r.get(cls, [])
        if records:
            rows = [[json.dumps(x, sort_keys=True)] for x in records[:LISTED]]
            out.append(Table(cls.replace("_", " ").capitalize(), ["record"], rows))
    if "siblings" in r:
        sib = r["siblings"]
        share = sib.get("share", {})
        rows = [[sib.get("reads"), sib.get("max"), sib.get("p99"), *map(_pct, share.values())]]
        headers = ["reads", "max", "p99", *(f"saw {k}" for k in share)]
        out.append(Table("Siblings per read", headers, rows))
    if "stable_latency" in r:
        rows = [
            [kind, r[kind]["count"], *(_ms(r[kind][s]) for s in ("p50", "p99", "max"))]
            for kind in ("stable_latency", "lost_latency")
        ]
        out.append(Table("Set-full latencies (ms)", ["", "count", "p50", "p99", "max"], rows))
    return out


def lost_table(lost: Sequence[Mapping[str, Any]], count: int, id_field: str) -> Table:
    """Lost writes of either durability checker, one shape: each with the fault windows
    that overlapped its invoke→ack interval, or "no fault"."""
    rows = [
        [
            x[id_field],
            x["key"],
            x["index"],
            _s(x["invoke_time"]),
            _s(x["ack_time"]),
            "; ".join(_window_span(w) for w in x["windows"]) or "no fault",
        ]
        for x in lost[:LISTED]
    ]
    note = f"first {LISTED} of {count}" if count > LISTED else ""
    headers = [id_field, "key", "ack index", "invoke (s)", "ack (s)", "fault windows (invoke→ack)"]
    return Table("Lost writes", headers, rows, note)


def _window_span(w: Mapping[str, Any]) -> str:
    """``partition#1 on n1,n2 1.200-3.400 s``: the name carries the kind, times are
    seconds since the test started; a window the run ended inside says ``unhealed``."""
    nodes = ",".join(w["nodes"]) or "nodes unnamed"
    span = f"{w['name']} on {nodes} {_s(w['start'])}-{_s(w['end'])} s"
    return span if w["healed"] else f"{span} (unhealed)"


def _faults(windows: Sequence[Mapping[str, Any]]) -> Table:
    rows = [
        [
            w["name"],
            _s(w["start"]),
            _s(w["end"]),
            _s(w["end"] - w["start"]),
            ", ".join(w["nodes"]),
            "yes" if w["healed"] else "no",
        ]
        for w in windows
    ]
    headers = ["window", "start (s)", "end (s)", "length (s)", "nodes", "healed"]
    return Table("Fault windows", headers, rows, "" if rows else "no faults")


def _availability(r: Mapping[str, Any]) -> list[Table]:
    rows = [["all", *_tally(r["overall"])]]
    rows += [[phase, *_tally(r[phase])] for phase in ("healthy", "faulty")]
    for group, label in (("by_f", "f"), ("by_class", ""), ("by_fault", "in"), ("by_node", "node")):
        rows += [[f"{label} {k}".strip(), *_tally(v)] for k, v in r.get(group, {}).items()]
    out = [Table("Availability", ["calls", "ok", "fail", "info", "availability"], rows)]
    runs = r.get("unavailable", [])
    if runs:
        rows = [
            [
                x["f"],
                x["first_index"],
                x["last_index"],
                _s(x["start"]),
                f"{x['duration']:.3f}",
                x["ops"],
                ", ".join(x["faults"]) or "healthy",
            ]
            for x in runs[:LISTED]
        ]
        headers = ["f", "first index", "last index", "start (s)", "length (s)", "calls", "during"]
        out.append(Table("Unavailable windows", headers, rows))
    recovery = r.get("recovery", {})
    if recovery:
        nodes = sorted({n for per in recovery.values() for n in per})
        rows = [
            [w, *("never" if per.get(n) is None else f"{per[n]:.3f}" for n in nodes)]
            for w, per in recovery.items()
        ]
        out.append(Table("Seconds from heal to first ok, per node", ["window", *nodes], rows))
    return out


def _tally(t: Mapping[str, Any]) -> list[Any]:
    return [t["ok"], t["fail"], t["info"], _pct(t["availability"])]


def _latency(r: Mapping[str, Any]) -> Table:
    groups = {"all": r["all"], **r.get("by_class", {}), **r.get("by_f", {})}
    rows = [
        [name, phase, s["count"], *(_ms(s[k]) for k in ("p50", "p95", "p99", "p999", "max"))]
        for name, phases in groups.items()
        for phase, s in phases.items()
        if s["count"]
    ]
    headers = ["op", "phase", "ok calls", "p50", "p95", "p99", "p99.9", "max"]
    return Table("Latency of ok calls (ms)", headers, rows)


def _convergence(r: Mapping[str, Any]) -> Table:
    time = r.get("time")
    rows = [
        [
            r.get("samples"),
            r.get("keys"),
            r.get("converged"),
            "unknown" if time is None else f"{time:.3f}",
            ", ".join(map(str, r.get("diverged", []))) or "-",
        ]
    ]
    headers = ["samples", "keys", "converged", "seconds after heal", "diverged keys"]
    return Table("Convergence", headers, rows)


def _anti_entropy(r: Mapping[str, Any]) -> Table:
    time = r.get("time")
    rows = [
        [
            r.get("keys"),
            r.get("diverged_at_start"),
            r.get("rounds"),
            r.get("converged"),
            "no" if time is None else f"{time:.3f}",
            r.get("bound"),
            ", ".join(map(str, r.get("diverged", []))) or "-",
        ]
    ]
    headers = ["keys", "apart at start", "rounds", "converged", "seconds", "bound", "diverged"]
    return Table("Anti-entropy phase (no client traffic)", headers, rows)


def _node_counters(r: Mapping[str, Any], hints: Mapping[str, Any]) -> Table:
    """Each node's last counters (``hints_`` dropped from the names), its hints that
    vanished, and the totals."""
    vanished = {v["node"]: v["hints"] for v in hints.get("vanished", [])}
    nodes: Mapping[str, Mapping[str, Any]] = r["nodes"]
    rows = [
        [node, *(c.get(name, "") for name in COUNTERS), vanished.get(node, 0)]
        if "error" not in c
        else [node, *(["-"] * len(COUNTERS)), c["error"]]
        for node, c in nodes.items()
    ]
    totals = r.get("totals", {})
    rows.append(["total", *(totals.get(name, "") for name in COUNTERS), sum(vanished.values())])
    headers = ["node", *(name.removeprefix("hints_") for name in COUNTERS), "vanished"]
    return Table("Node counters (hints, repairs, reaping)", headers, rows)


def write(results: Mapping[str, Any], run_dir: Path) -> list[Path]:
    """Write report.md and report.html into ``run_dir``."""
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(results), encoding="utf-8")
    page.write_text(render_html(results, run_dir), encoding="utf-8")
    return [md, page]
