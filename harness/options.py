"""Every option of a test, defined once.

``TestOptions`` is the one definition: the CLI builds its flags from the fields' metadata,
``test.json`` stores ``asdict(options)``, and reports read them back with ``from_json``.
Add an option here and it exists everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster import check_name

WORKLOADS = ("set", "register", "kv")
PROVIDERS = ("local", "ssh", "vagrant")
PROGRESS = ("auto", "live", "plain", "none")


def opt(default: Any, help: str, group: str = "test", **argparse_kw: Any) -> Any:
    return field(default=default, metadata={"help": help, "group": group, **argparse_kw})


@dataclass
class TestOptions:
    __test__ = False  # a name pytest would otherwise try to collect

    # the test
    system: str = opt(
        "dynamo", "the system under test: an installed adapter (docs/systems.md)", "system"
    )
    system_option: tuple[str, ...] = opt(
        (),
        "KEY=VALUE for the system's adapter, e.g. partitions=128 (repeatable)",
        "system",
        action="append",
    )
    workload: str = opt("set", "what the clients do", choices=WORKLOADS)
    workload_option: tuple[str, ...] = opt(
        (),
        "KEY=VALUE for the workload, e.g. read=0.5 blind=0.05 (register; the rest of the mix "
        "are context writes and deletes) or read_ratio=0.2 (set) (repeatable)",
        action="append",
    )
    nemesis: str = opt(
        "none",
        "faults, comma-separated: partition, kill, pause, clock, loss, all or none; opt-in: "
        "wipe, owners, power (power loss on powerfs; power:replicas takes a key's whole "
        "replica set); FAULT:one/minority/majority/all picks targets; p=0.2 loss, skew=30 s "
        "(docs/nemesis.md)",
    )
    time_limit: float = opt(20.0, "seconds of workload before healing and final reads")
    rate: float = opt(200.0, "target ops/s over all workers; 0 for as fast as the nodes go")
    concurrency: int = opt(10, "client workers, bound to nodes round-robin")
    keys: int | None = opt(None, "how many keys (default: set 5, register 50, kv 1000)")
    seed: int | None = opt(None, "seed of every random choice (default: a fresh one, recorded)")
    op_timeout: float = opt(5.0, "client timeout per request, seconds")
    nemesis_interval: float = opt(10.0, "seconds between nemesis operations")
    settle: float = opt(
        5.0, "at most this many seconds after healing for hints and transfers to drain"
    )
    anti_entropy_bound: float = opt(
        0.0,
        "after the settle, with no client traffic, read each replica's own copy of every key "
        "until they agree or this many seconds pass (0: no anti-entropy phase)",
    )
    final_reads: bool = opt(
        True, "read every key from every node after healing", action=argparse.BooleanOptionalAction
    )
    name: str | None = opt(None, "test name in the store (default: <workload>-<nemesis>)")
    store: str = opt("store", "directory of stored runs")
    expect: tuple[str, ...] = opt(
        (), "a bound the results must meet, e.g. 'lost<=0' (repeatable)", action="append"
    )
    progress: str = opt(
        "auto", "live display on a terminal, plain lines otherwise", choices=PROGRESS
    )
    # where it runs
    provider: str = opt("local", "where the hosts come from", "cluster", choices=PROVIDERS)
    cluster: str = opt(
        "default", "cluster name: namespaces dh-<name>-*, remote dir name", "cluster"
    )
    node_count: int = opt(5, "hosts of the local provider", "cluster")
    subnet: str = opt("10.77.0.0/24", "the local cluster's private subnet", "cluster")
    nodes: str | None = opt(
        None, "ssh provider: host1,host2,… (n1, n2, … in that order)", "cluster"
    )
    nodes_file: str | None = opt(None, "ssh provider: a file with one host a line", "cluster")
    ssh_user: str = opt("root", "SSH login user", "ssh")
    ssh_key: str | None = opt(None, "SSH private key file", "ssh")
    ssh_port: int = opt(22, "SSH port", "ssh")
    ssh_known_hosts: str | None = opt(
        None,
        "known_hosts file; without it a host key is trusted on first use and kept in "
        "~/.local/state/dynamo-harness/known_hosts, and a changed key is refused",
        "ssh",
    )
    connect_timeout: float = opt(10.0, "seconds to open an SSH connection", "ssh")
    command_timeout: float = opt(120.0, "seconds a remote command may take", "ssh")
    vagrant_dir: str = opt("vagrant", "vagrant provider: directory of the Vagrantfile", "ssh")
    # our node (the dynamo system); --system-option KEY=VALUE reaches every node option
    n: int = opt(3, "replicas per key (N)", "node")
    r: int = opt(2, "read quorum (R)", "node")
    w: int = opt(2, "write quorum (W)", "node")
    mode: str = opt(
        "siblings", "how the node resolves concurrent writes", "node", choices=("siblings", "lww")
    )
    buffered: bool = opt(False, "acknowledge puts before fsync", "node", action="store_true")
    port: int = opt(7000, "node port", "node")
    node_args: str = opt(
        "",
        "extra 'dynamo node' options, e.g. '--request-timeout 1' or the test-only "
        "'--unsafe-early-ack' (a deliberately broken node)",
        "node",
    )
    junit: str | None = opt(None, "also write the run's checks as JUnit XML to this file")

    def test_name(self) -> str:
        default = f"{self.workload}-{self.nemesis}"
        if self.system != "dynamo":
            default = f"{self.system}-{default}"
        return self.name or default.replace("/", "+")

    def with_seed(self) -> TestOptions:
        """These options with the seed fixed (a fresh one when none was given)."""
        if self.seed is not None:
            return self
        return dataclasses.replace(self, seed=random.SystemRandom().randrange(2**32))

    def validate(self) -> None:
        """Raise ValueError on options that cannot make a test."""
        problems = []
        for name in (
            "time_limit",
            "op_timeout",
            "nemesis_interval",
            "connect_timeout",
            "command_timeout",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"--{flag(name)} must be > 0")
        if self.rate < 0 or self.settle < 0 or self.anti_entropy_bound < 0:
            problems.append("--rate, --settle and --anti-entropy-bound must be >= 0")
        if self.concurrency < 1:
            problems.append("--concurrency must be >= 1")
        if self.keys is not None and self.keys < 1:
            problems.append("--keys must be >= 1")
        if self.system == "dynamo" and not (1 <= self.r <= self.n and 1 <= self.w <= self.n):
            problems.append("need 1 <= R <= N and 1 <= W <= N")
        if self.system == "dynamo" and self.provider == "local" and self.n > self.node_count:
            problems.append(f"N={self.n} needs at least {self.n} hosts, not {self.node_count}")
        try:
            check_name(self.cluster)
        except ValueError as e:
            problems.append(str(e))
        if self.provider == "ssh" and not (self.nodes or self.nodes_file):
            problems.append("--provider ssh needs --nodes or --nodes-file")
        if self.provider != "ssh" and (self.nodes or self.nodes_file):
            problems.append("--nodes/--nodes-file go with --provider ssh")
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["expect"] = tuple(values.get("expect", ()))
        values["system_option"] = tuple(values.get("system_option", ()))
        values["workload_option"] = tuple(values.get("workload_option", ()))
        return cls(**values)

    @classmethod
    def load(cls, test_json: Path) -> TestOptions:
        return cls.from_json(json.loads(test_json.read_text())["options"])


def flag(name: str) -> str:
    return name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Add a flag for every field of ``TestOptions`` (or the fields named in ``only``)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TestOptions):
        if only is not None and f.name not in only:
            continue
        meta = dict(f.metadata)
        group_name = meta.pop("group")
        group = groups.get(group_name)
        if group is None:
            group = groups[group_name] = parser.add_argument_group(f"{group_name} options")
        kw: dict[str, Any] = {"dest": f.name, **meta}
        default = f.default if f.default is not dataclasses.MISSING else None
        kw.setdefault("default", None if kw.get("action") == "append" else default)
        if "action" not in kw:
            kw["type"] = _scalar_type(f.type)
            kw["metavar"] = f.name.upper() if "choices" not in kw else None
        if default not in (None, (), False, True):
            kw["help"] = f"{kw['help']} (default: {default})"
        group.add_argument(f"--{flag(f.name)}", **kw)


def _scalar_type(annotation: object) -> type:
    text = str(annotation)
    if text.startswith("int"):
        return int
    if text.startswith("float"):
        return float
    return str


def from_namespace(ns: argparse.Namespace) -> TestOptions:
    values = {
        f.name: getattr(ns, f.name) for f in dataclasses.fields(TestOptions) if hasattr(ns, f.name)
    }
    values["expect"] = tuple(values.get("expect") or ())
    values["system_option"] = tuple(values.get("system_option") or ())
    values["workload_option"] = tuple(values.get("workload_option") or ())
    return TestOptions(**values)
