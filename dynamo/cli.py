"""``dynamo``: run a node or a loopback cluster, and talk to one from the shell (JSON out)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dynamo import options as node_options
from dynamo.auth import ENV, load_secret
from dynamo.client import Client
from dynamo.config import NodeConfig, parse_seeds
from dynamo.errors import DynamoError

EXIT_FAILED = 1


def _show(value: bytes) -> Any:
    """A value for JSON output: text when it is UTF-8, else ``{"base64": …}``."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}


def _print(obj: object) -> None:
    print(json.dumps(obj, sort_keys=False))


def _secret_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help=f"the cluster secret, the same file on every node (default: ${ENV}; without one "
        "a node takes peer and admin operations only from loopback)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynamo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("node", help="run one node in the foreground")
    p.add_argument("--name", required=True)
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--seeds", default="", metavar="NAME=HOST:PORT,...", help="every member")
    p.add_argument("--data-dir", type=Path, help="where data lives (omit: in memory, tests only)")
    p.add_argument("--advertise", metavar="HOST:PORT", help="address peers use (default: --listen)")
    _secret_option(p)
    node_options.add_arguments(p)

    p = sub.add_parser("cluster", help="run a loopback cluster in the foreground (Ctrl-C stops)")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    p.add_argument("--base-port", type=int, default=7101, help="n1 listens here, n2 on +1, …")
    node_options.add_arguments(p)

    p = sub.add_parser("admin", help="membership: join this node to the ring, or leave it")
    p.add_argument("action", choices=("join", "leave"))
    p.add_argument("--node", required=True, metavar="HOST:PORT", help="the node that joins/leaves")
    p.add_argument("--timeout", type=float, default=10.0)
    _secret_option(p)

    for name, helptext in (
        ("get", "read a key: values and context"),
        ("put", "write a value"),
        ("delete", "delete a key (a tombstone superseding --context)"),
        ("preflist", "a key's owners, fallbacks and which are up, as a node sees them"),
        ("status", "a node's view of itself"),
    ):
        p = sub.add_parser(name, help=helptext)
        if name != "status":
            p.add_argument("key")
        if name == "put":
            p.add_argument("value")
        if name in ("put", "delete"):
            p.add_argument("--context", required=name == "delete", default=None)
            p.add_argument("--w", type=int)
        if name == "get":
            p.add_argument("--r", type=int)
            p.add_argument(
                "--local", action="store_true", help="this node's own copy, uncoordinated"
            )
        p.add_argument("--node", required=True, metavar="HOST:PORT[,HOST:PORT…]")
        p.add_argument("--timeout", type=float, default=5.0)
        _secret_option(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "node":
            return run_node(args)
        if args.command == "cluster":
            return run_cluster(args)
        return run_request(args)
    except ValueError as exc:
        print(f"dynamo: {exc}", file=sys.stderr)
        return 2
    except DynamoError as exc:
        print(f"dynamo: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _config(args: argparse.Namespace, **kw: Any) -> NodeConfig:
    return NodeConfig(**node_options.values(args), **kw)


def run_node(args: argparse.Namespace) -> int:
    from dynamo.node import serve

    config = _config(
        args,
        name=args.name,
        listen=args.listen,
        seeds=parse_seeds(args.seeds),
        data_dir=args.data_dir,
        advertise=args.advertise,
        secret=load_secret(args.secret_file),
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(config))
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    from dynamo.cluster import LoopbackCluster

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dynamo-cluster-"))
    node_args = node_options.argv(node_options.values(args))
    cluster = LoopbackCluster(data_dir, args.nodes, base_port=args.base_port, node_args=node_args)
    _config(args, name="n1", listen=cluster.addresses["n1"], seeds=cluster.addresses)  # validate

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    with cluster:
        _print({"data_dir": str(data_dir), "nodes": cluster.addresses})
        print(f"{args.nodes} nodes up; Ctrl-C stops them.", file=sys.stderr)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("stopping…", file=sys.stderr)
    return 0


def run_request(args: argparse.Namespace) -> int:
    secret = load_secret(args.secret_file)
    with Client(args.node.split(","), timeout=args.timeout, secret=secret) as client:
        if args.command == "get":
            got = client.get(args.key, r=args.r, local=args.local)
            values = [_show(v) for v in got.values]
            _print({"key": args.key, "values": values, "context": got.context})
        elif args.command == "put":
            put = client.put(args.key, args.value, args.context, w=args.w)
            _print({"key": args.key, "context": put.context, "node": put.node})
        elif args.command == "delete":
            put = client.delete(args.key, args.context, w=args.w)
            _print({"key": args.key, "context": put.context, "node": put.node})
        elif args.command == "preflist":
            pl = client.preflist(args.key)
            _print({"key": args.key, **asdict(pl)})
        elif args.command == "admin":
            _print(client.admin(args.action))
        else:
            _print(client.status())
    return 0
