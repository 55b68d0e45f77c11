"""The node's tunable options, defined once: ``dynamo node``, ``dynamo cluster`` and the
harness's Dynamo adapter all read this table (defaults come from ``NodeConfig``).

Each option is a flag of ``dynamo node`` and a field of ``NodeConfig``; ``parse`` turns an
argument vector into the fields' values, ``argv`` turns values back into flags.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from dynamo.config import ENGINES, MODES, NodeConfig


@dataclass(frozen=True)
class NodeOption:
    field: str  # the NodeConfig field
    help: str
    kind: type | None = None  # None: a switch
    flag: str = ""  # default: --<field with dashes>
    inverted: bool = False  # the switch sets the field False (--strict-quorum: sloppy=False)
    choices: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.flag or "--" + self.field.replace("_", "-")

    @property
    def default(self) -> Any:
        return _DEFAULTS[self.field]


_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(NodeConfig)
    if f.default is not dataclasses.MISSING
}

OPTIONS: tuple[NodeOption, ...] = (
    NodeOption("n", "replicas per key", int),
    NodeOption("r", "read quorum", int),
    NodeOption("w", "write quorum", int),
    NodeOption("mode", "how concurrent writes resolve", str, choices=MODES),
    NodeOption(
        "buffered",
        "acknowledge puts before they reach disk (the paper's write buffer; loses the "
        "last acknowledged writes on a crash)",
    ),
    NodeOption(
        "storage",
        "storage engine: an append-only log with an in-memory key directory, or SQLite",
        str,
        choices=ENGINES,
    ),
    NodeOption("partitions", "Q, a power of two", int),
    NodeOption("request_timeout", "seconds", float),
    NodeOption(
        "sloppy",
        "ask only a key's N owners (no sloppy quorum, no fallbacks or hints)",
        flag="--strict-quorum",
        inverted=True,
    ),
    NodeOption("gossip_interval", "seconds", float),
    NodeOption(
        "unsafe_early_ack",
        "TEST ONLY: acknowledge puts before any replica has them on disk (a broken node)",
    ),
    NodeOption(
        "tombstone_grace",
        "seconds a tombstone is kept before it may be reaped (negative: never)",
        float,
    ),
    NodeOption("max_inflight", "requests in flight before the node stops reading", int),
    NodeOption(
        "max_inflight_per_connection",
        "requests one connection may have in flight before the node stops reading it",
        int,
    ),
    NodeOption(
        "anti_entropy_interval",
        "seconds between Merkle exchanges of one partition (0 disables)",
        float,
    ),
)
BY_FIELD = {o.field: o for o in OPTIONS}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every node option as a flag of ``p`` (dest: the NodeConfig field)."""
    for o in OPTIONS:
        if o.kind is None:
            action = "store_false" if o.inverted else "store_true"
            p.add_argument(o.name, dest=o.field, action=action, help=o.help)
        else:
            p.add_argument(
                o.name,
                dest=o.field,
                type=o.kind,
                default=o.default,
                choices=o.choices,
                help=f"{o.help} (default {o.default})",
            )


def values(ns: argparse.Namespace) -> dict[str, Any]:
    """The NodeConfig fields the parsed flags give."""
    return {o.field: getattr(ns, o.field) for o in OPTIONS}


def argv(given: Mapping[str, Any]) -> list[str]:
    """Flags that give a node these values (only those that differ from the defaults)."""
    out: list[str] = []
    for o in OPTIONS:
        value = given.get(o.field, o.default)
        if value == o.default:
            continue
        if o.kind is None:
            out.append(o.name)  # a switch differs from its default only when given
        else:
            out += [o.name, str(value)]
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def parse(args: Sequence[str]) -> dict[str, Any]:
    """The values ``dynamo node`` would take from these flags; ``ValueError`` if it would not."""
    p = _Parser(prog="dynamo node", add_help=False)
    add_arguments(p)
    return values(p.parse_args(list(args)))


def check(given: Mapping[str, Any], members: int) -> None:
    """``ValueError`` unless a node of ``members`` members accepts these values."""
    seeds = {f"n{i}": f"127.0.0.1:{7000 + i}" for i in range(1, members + 1)}
    NodeConfig(name="n1", listen=seeds["n1"], seeds=seeds, **given)
