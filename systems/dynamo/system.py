"""The reference Dynamo node as a ``System``: deployed from wheels over SSH, run as a daemon.

On each host everything lives in ``/var/lib/dynamo-harness/<cluster>/<node>/``::

    prepare-node.sh   the node-preparation script (also the Vagrant provisioner)
    dist/             the wheels, and MANIFEST (their hashes: same manifest, no reinstall)
    venv/             the node's virtualenv, installed from dist/ with --no-index
                      (``harness.hostvenv``, which the power-loss fault also uses)
    node.json         the node's configuration, as given to ``dynamo node``
    run-node.sh       starts the node in the foreground; the daemon is ``setsid`` of it
    node.env          ``KEY=value`` lines exported before start, written by the harness
                      for the run's nemesis (libfaketime for clock faults)
    node.pid  node.log  data/
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamo import options as node_options
from harness import hostvenv
from harness.cluster import Cluster
from harness.remote import quote_all
from systems.base import REGISTER_OPS, SET_OPS, Capabilities
from systems.dynamo.client import DynamoClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DynamoConfig:
    """How the nodes are deployed; ``node`` holds ``NodeConfig`` values (``dynamo.options``)."""

    port: int = 7000
    node: Mapping[str, Any] = field(default_factory=lambda: node_options.parse([]))
    start_timeout: float = 30.0
    install_timeout: float = 600.0

    @property
    def partitions(self) -> int:
        return int(self.node["partitions"])

    @property
    def n(self) -> int:
        return int(self.node["n"])


@functools.lru_cache(maxsize=4)
def _ring(nodes: tuple[str, ...], partitions: int) -> Any:
    from dynamo.ring import Ring

    return Ring.balanced(nodes, partitions)


class DynamoSystem:
    name = "dynamo"
    capabilities = Capabilities(
        operations=SET_OPS | REGISTER_OPS,
        local_reads=True,
        backlog=True,
        counters=True,
        replicas=True,
        owners=True,
        host_env=True,
        data_dir=True,
        host_python=True,
    )

    def __init__(self, config: DynamoConfig, bundle: hostvenv.Bundle | None = None) -> None:
        self.config = config
        self.bundle = bundle or hostvenv.Bundle()
        self.ring_shape: tuple[int, int] = (config.partitions, config.n)

    def prepare(self, work: Path) -> None:
        """The node's wheels and their dependencies, built once for every host."""
        self.bundle = hostvenv.Bundle.build(work / "dist")

    # where things are

    def endpoint(self, cluster: Cluster, node: str) -> str:
        return f"{cluster.addresses[node]}:{self.config.port}"

    def _dir(self, cluster: Cluster, node: str) -> str:
        return cluster.remote_dir(node)

    def data_dir(self, cluster: Cluster, node: str) -> str:
        return f"{self._dir(cluster, node)}/data"

    def host_python(self, cluster: Cluster, node: str) -> str:
        """The node's virtualenv: the project's wheel (``nemesis.powerfs``) and mfusepy."""
        return f"{self._dir(cluster, node)}/venv/bin/python"

    def log_files(self, cluster: Cluster, node: str) -> list[str]:
        d = self._dir(cluster, node)
        files = ("node.log", "node.json", "run-node.sh", "node.env", "powerfs.log")
        return [f"{d}/{f}" for f in files]

    # install

    def install(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self._dir(cluster, node)
        t = self.config.install_timeout
        python = hostvenv.prepare_host(remote, d, t)
        probe = ["test", "-x", f"{d}/venv/bin/dynamo"]
        extras = ("fast", "powerfs")  # powerfs: host_python runs nemesis.powerfs
        hostvenv.install(
            remote, d, self.bundle, python=python, extras=extras, probe=probe, timeout=t
        )
        self._write_config(cluster, node)

    def _write_config(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self._dir(cluster, node)
        seeds = ",".join(f"{n}={self.endpoint(cluster, n)}" for n in cluster.nodes)
        config = {
            "name": node,
            "listen": self.endpoint(cluster, node),
            "seeds": seeds,
            "data_dir": f"{d}/data",
            **self.config.node,
        }
        args = [
            *("--name", node, "--listen", config["listen"], "--seeds", seeds),
            *("--data-dir", f"{d}/data"),
            *node_options.argv(self.config.node),
        ]
        script = (
            "#!/bin/sh\n"
            f"cd {quote_all([d])} || exit 1\n"
            "echo $$ > node.pid\n"
            "if [ -f node.env ]; then set -a; . ./node.env; set +a; fi\n"
            f"exec {quote_all([f'{d}/venv/bin/dynamo', 'node', *args])}\n"
        )
        remote.run_shell('pkill -F "$1/node.pid" -KILL 2>/dev/null', d, check=False)
        remote.run(["rm", "-rf", f"{d}/data", f"{d}/node.log", f"{d}/node.pid"])
        remote.write_file(f"{d}/node.json", json.dumps(config, indent=2) + "\n")
        remote.write_file(f"{d}/run-node.sh", script, mode=0o755)

    # process control

    def start(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self._dir(cluster, node)
        # setsid -f: the node leaves the SSH session's process group and holds none of its fds.
        remote.run_shell(
            'cd "$1" && rm -f node.pid && setsid -f sh "$1/run-node.sh" >> "$1/node.log" 2>&1 '
            "< /dev/null",
            d,
            timeout=15,
        )
        self._wait_ready(cluster, node)

    def _wait_ready(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self._dir(cluster, node)
        tries = max(1, int(self.config.start_timeout / 0.5))
        probe = (
            'for i in $(seq "$2"); do'
            '  "$1/venv/bin/dynamo" status --node "$3" >/dev/null 2>&1 && exit 0;'
            '  [ -f "$1/node.pid" ] && ! kill -0 "$(cat "$1/node.pid")" 2>/dev/null && exit 3;'
            "  sleep 0.5; "
            "done; exit 4"
        )
        r = remote.run_shell(
            probe,
            d,
            tries,
            self.endpoint(cluster, node),
            timeout=self.config.start_timeout + 30,
            check=False,
        )
        if not r.ok:
            why = (
                "exited"
                if r.exit_code == 3
                else f"did not answer in {self.config.start_timeout:g}s"
            )
            tail = remote.run(["tail", "-n", "30", f"{d}/node.log"], check=False).stdout
            raise RuntimeError(f"{node}: the node {why}; last log lines:\n{tail}")

    def _signal(self, cluster: Cluster, node: str, sig: str) -> None:
        d = self._dir(cluster, node)
        cluster.remote(node).run_shell(
            'p=$(cat "$1/node.pid") && kill -"$2" "$p"', d, sig, timeout=15
        )

    def kill(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "KILL")

    def wipe(self, cluster: Cluster, node: str) -> None:
        cluster.remote(node).run(["rm", "-rf", f"{self._dir(cluster, node)}/data"], timeout=30)

    def pause(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "STOP")

    def resume(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "CONT")

    def stop(self, cluster: Cluster, node: str) -> None:
        d = self._dir(cluster, node)
        cluster.remote(node).run_shell(
            'p=$(cat "$1/node.pid" 2>/dev/null) || exit 0; kill -CONT "$p"; kill -TERM "$p"; '
            'for i in $(seq 50); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.2; done; '
            'kill -KILL "$p"',
            d,
            timeout=30,
            check=False,
        )

    # clients

    def ready(self, cluster: Cluster) -> None:
        """Ask a node how its ring is shaped: replica sets follow what the nodes run."""
        from dynamo.client import AsyncClient

        async def ask() -> dict[str, Any]:
            client = AsyncClient([self.endpoint(cluster, cluster.nodes[0])], timeout=5.0)
            try:
                return await client.status()
            finally:
                await client.close()

        status = asyncio.run(ask())
        self.ring_shape = (int(status["partitions"]), int(status["n"]))
        log.info("the nodes run %d partitions, N=%d", *self.ring_shape)

    def client(self, endpoint: str, timeout: float) -> DynamoClient:
        return DynamoClient(endpoint, timeout)

    async def counters(self, address: str) -> Mapping[str, Any]:
        """``dynamo status``'s ``counters``: hints, read repairs, anti-entropy, reaping."""
        from dynamo.client import AsyncClient

        client = AsyncClient([address], timeout=5.0)
        try:
            st = await client.status()
        finally:
            await client.close()
        return dict(st.get("counters") or {})

    async def backlog(self, address: str) -> int | None:
        """Hints to hand off, partitions to transfer, and peers it thinks down."""
        from dynamo.client import AsyncClient

        client = AsyncClient([address], timeout=2.0)
        try:
            st = await client.status()
        except Exception:
            return None
        finally:
            await client.close()
        down = sum(1 for m in st.get("members", {}).values() if not m.get("up", True))
        return int(st.get("hints_pending", 0)) + len(st.get("transfers_pending", ())) + down

    def replicas(self, nodes: Sequence[str], key: str) -> list[str] | None:
        """The key's preference list on the ring the nodes bootstrap from their seeds.

        Right while membership stays as deployed (no joins or leaves during a test).
        """
        partitions, n = self.ring_shape
        return _ring(tuple(nodes), partitions).preference_list(key, n)

    async def preference_list(self, address: str, key: str) -> list[str]:
        """The owners of ``key`` as the node at ``address`` sees them (its ``preflist``)."""
        from dynamo.client import AsyncClient

        async with AsyncClient([address], timeout=5.0) as client:
            return (await client.preflist(key)).owners


def configure(test: Any, options: Mapping[str, str]) -> DynamoSystem:
    """The adapter's entry point: ``harness run``'s node options, then ``--system-option``
    ``KEY=VALUE`` pairs naming node options (``partitions=128``, ``strict_quorum=true``)."""
    argv = [
        *("--n", str(test.n), "--r", str(test.r), "--w", str(test.w), "--mode", test.mode),
        *(["--buffered"] if test.buffered else []),
        *shlex.split(test.node_args),
        *option_argv(options),
    ]
    try:
        values = node_options.parse(argv)
    except ValueError as e:
        raise ValueError(f"node options: {e}") from e
    node_options.check(values, max(values["n"], 1))
    return DynamoSystem(DynamoConfig(port=test.port, node=values))


def option_argv(options: Mapping[str, str]) -> list[str]:
    """``KEY=VALUE`` system options as ``dynamo node`` flags."""
    argv: list[str] = []
    flags = {o.name.removeprefix("--").replace("-", "_"): o for o in node_options.OPTIONS}
    for key, value in options.items():
        o = flags.get(key.replace("-", "_"))
        if o is None:
            raise ValueError(
                f"system dynamo has no option {key!r}; it takes {', '.join(sorted(flags))}"
            )
        if o.kind is None:
            if value.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(f"{key} is a switch: true or false, not {value!r}")
            if value.lower() in ("1", "true", "yes", "on"):
                argv.append(o.name)
        else:
            argv += [o.name, value]
    return argv
