"""``harness run | test-all | check | report | export | cluster up|down|status``.

Exit codes (``harness.exitcodes``): 0 valid, 1 invalid, 2 unknown, 254 bad arguments,
255 the harness failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.exitcodes import ExitCode
from harness.options import TestOptions, add_arguments, from_namespace
from harness.testall import add_arguments as testall_arguments

CLUSTER_OPTIONS = ("cluster", "node_count", "subnet")


class BadArguments(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 254 as the design says, not 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.BAD_ARGUMENTS), f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    p = Parser(prog="harness", description="Deploy, fault and check a store (Dynamo by default).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="run a test and check it")
    add_arguments(run)

    test_all = sub.add_parser("test-all", help="a matrix of runs; exit with the worst verdict")
    add_arguments(test_all)
    testall_arguments(test_all)

    check = sub.add_parser("check", help="re-run the checkers on a stored run")
    check.add_argument("run_dir", type=Path)
    check.add_argument(
        "--expect", action="append", default=[], help="a bound the results must meet (repeatable)"
    )

    report = sub.add_parser("report", help="print a stored run's tables")
    report.add_argument("run_dir", type=Path)

    export = sub.add_parser("export", help="export a stored history")
    export.add_argument("run_dir", type=Path)
    export.add_argument("--format", choices=("edn",), default="edn")
    export.add_argument("--out", type=Path, default=None)

    cluster = sub.add_parser("cluster", help="namespace hosts of the local provider")
    cluster.add_argument("action", choices=("up", "down", "status"))
    cluster.add_argument(
        "--all", action="store_true", help="down: remove every dh-* namespace, of any cluster"
    )
    cluster.add_argument("--json", action="store_true", help="status/up: print JSON")
    add_arguments(cluster, only=CLUSTER_OPTIONS)
    return p


def _run_dir(path: Path) -> Path:
    path = path.resolve()
    if not (path / "history.jsonl").exists():
        raise BadArguments(f"{path} is not a stored run (no history.jsonl)")
    return path


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise BadArguments(f"{what} makes network namespaces and needs root")


def _validated(o: TestOptions) -> TestOptions:
    """``o`` if it can make a run; BadArguments saying why not (before any host is touched)."""
    from harness import run, verdict

    try:
        o.validate()
        run.build_parts(o)
        verdict.validate_expect(o.expect)
        if o.provider == "ssh":
            from harness.providers import parse_nodes

            parse_nodes(o.nodes, o.nodes_file)
    except (ValueError, OSError) as e:
        raise BadArguments(str(e)) from e
    if o.provider == "local":
        _need_root("the local provider")
    return o


def cmd_run(ns: argparse.Namespace) -> ExitCode:
    from harness import run

    return run.run(_validated(from_namespace(ns))).code


def cmd_test_all(ns: argparse.Namespace) -> ExitCode:
    from harness import testall

    base = from_namespace(ns)
    try:
        cells = testall.cells_from(ns)
        for cell in cells:
            _validated(testall.cell_options(base, cell))
    except (ValueError, OSError) as e:
        raise BadArguments(str(e)) from e
    junit_path = Path(base.junit) if base.junit else None  # one file for the whole matrix
    base = dataclasses.replace(base, junit=None)
    return testall.test_all(base, cells, junit_path=junit_path, markdown_path=ns.markdown)


def cmd_check(ns: argparse.Namespace) -> ExitCode:
    from harness import verdict

    run_dir = _run_dir(ns.run_dir)
    try:
        verdict.validate_expect(ns.expect)
    except ValueError as e:
        raise BadArguments(str(e)) from e
    code = verdict.check(run_dir, ns.expect)
    print(verdict.report(run_dir))
    return code


def cmd_report(ns: argparse.Namespace) -> ExitCode:
    from harness import verdict

    print(verdict.report(_run_dir(ns.run_dir)))
    return ExitCode.VALID


def cmd_export(ns: argparse.Namespace) -> ExitCode:
    run_dir = _run_dir(ns.run_dir)
    from harness.export import export_edn

    out = export_edn(run_dir, ns.out or run_dir / "history.edn")
    print(out)
    return ExitCode.VALID


def cmd_cluster(ns: argparse.Namespace) -> ExitCode:
    from harness import netns
    from harness.providers.local import LocalCluster

    _need_root("harness cluster")
    try:
        lc = LocalCluster(ns.cluster, ns.node_count, ns.subnet)
    except ValueError as e:
        raise BadArguments(str(e)) from e
    if ns.action == "down":
        removed = lc.down()
        if ns.all:
            for name in netns.names():
                if name.startswith(netns.PREFIX):
                    netns.delete(name)
                    removed.append(name)
        print("removed: " + (", ".join(removed) if removed else "nothing"))
        return ExitCode.VALID
    if ns.action == "up":
        made = lc.up()
        lc.adopt()
        print(f"cluster {lc.name}: {'made' if made else 'already up'}", file=sys.stderr)
    rows = lc.status()
    if ns.json:
        print(
            json.dumps(
                {
                    "cluster": lc.name,
                    "hosts": rows,
                    "ssh_key": str(lc.key_file),
                    "known_hosts": str(lc.known_hosts),
                    "control_ns": lc.control_ns,
                }
            )
        )
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers="keys", tablefmt="github"))
        nodes = ",".join(lc.address(n) for n in lc.nodes)
        print(
            f"\nssh provider, from the control namespace:\n  ip netns exec {lc.control_ns} "
            f"harness run --provider ssh --cluster {lc.name} --nodes {nodes} "
            f"--ssh-key {lc.key_file} --ssh-known-hosts {lc.known_hosts}"
        )
    up = all(r["exists"] and r["sshd"] in (True, "-") for r in rows)
    return ExitCode.VALID if up or ns.action == "status" else ExitCode.HARNESS_FAILED


COMMANDS = {
    "run": cmd_run,
    "test-all": cmd_test_all,
    "check": cmd_check,
    "report": cmd_report,
    "export": cmd_export,
    "cluster": cmd_cluster,
}


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[ns.command](ns))
    except BadArguments as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return int(ExitCode.BAD_ARGUMENTS)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return int(ExitCode.UNKNOWN)
    except Exception as e:
        print(f"harness: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return int(ExitCode.HARNESS_FAILED)


__all__ = ["TestOptions", "build_parser", "main"]
