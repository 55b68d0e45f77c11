"""Redis with Sentinel on the test's hosts: a primary on the first node, a replica on each
other node, and a Sentinel beside every one of them.

On each host everything lives in ``/var/lib/dynamo-harness/<cluster>/<node>/``::

    redis.conf  redis.sh  redis.pid  redis.log  redis/        the server and its data
    sentinel.conf  sentinel.sh  sentinel.pid  sentinel.log  sentinel/
    powerfs/  powerfs.log      under the power-loss fault (``nemesis.power``): redis/ is a
                               powerfs mount over redis.disk/

Both configurations are written fresh at install (Sentinel rewrites its own as it learns
the topology: that is how a restarted Sentinel remembers a failover). A "node" is the host:
killing, pausing or stopping it does that to both daemons.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.cluster import Cluster
from systems import daemon

PORT = 6379
SENTINEL_PORT = 26379
MASTER = "mymaster"
DAEMONS = ("redis", "sentinel")
PACKAGES = ("redis-server", "redis-sentinel")


@dataclass(frozen=True)
class RedisConfig:
    """What a run may change of the deployment (``--system-option KEY=VALUE``)."""

    down_after_ms: int = 2000  # Sentinel: a primary silent this long is subjectively down
    failover_timeout_ms: int = 6000  # Sentinel: how long a failover may take, and retry gap
    appendfsync: str = "everysec"  # the AOF: no (AOF off), everysec or always
    min_replicas_to_write: int = 0  # the primary refuses writes with fewer replicas connected
    wait: int = 0  # the client sends WAIT for this many replicas after each write
    start_timeout: float = 20.0

    def validate(self, nodes: int | None = None) -> None:
        problems = []
        if self.down_after_ms < 100 or self.failover_timeout_ms < 500:
            problems.append("down_after_ms must be >= 100 and failover_timeout_ms >= 500")
        if self.appendfsync not in ("no", "everysec", "always"):
            problems.append(f"appendfsync={self.appendfsync!r}: use no, everysec or always")
        if self.min_replicas_to_write < 0 or self.wait < 0:
            problems.append("min_replicas_to_write and wait must be >= 0")
        if nodes is not None and max(self.min_replicas_to_write, self.wait) > nodes - 1:
            problems.append(f"{nodes} nodes have {nodes - 1} replicas")
        if problems:
            raise ValueError("; ".join(problems))


def quorum(nodes: int) -> int:
    """Sentinels that must agree a primary is down: a majority."""
    return nodes // 2 + 1


def redis_conf(c: RedisConfig, address: str, directory: str, primary: str | None) -> str:
    lines = [
        f"bind {address}",
        f"port {PORT}",
        "protected-mode no",
        "daemonize no",
        "set-proc-title no",  # keep the config's path in the command line: stale ones are found
        'logfile ""',
        f"dir {directory}/redis",
        'save ""',
        f"appendonly {'no' if c.appendfsync == 'no' else 'yes'}",
        f"appendfsync {'everysec' if c.appendfsync == 'no' else c.appendfsync}",
        f"min-replicas-to-write {c.min_replicas_to_write}",
        "min-replicas-max-lag 10",
        "repl-diskless-sync no",
    ]
    if primary is not None:
        lines.append(f"replicaof {primary} {PORT}")
    return "\n".join(lines) + "\n"


def sentinel_conf(c: RedisConfig, address: str, directory: str, primary: str, n: int) -> str:
    return (
        "\n".join(
            [
                f"bind {address}",
                f"port {SENTINEL_PORT}",
                "protected-mode no",
                "daemonize no",
                "set-proc-title no",
                'logfile ""',
                f"dir {directory}/sentinel",
                f"sentinel announce-ip {address}",
                f"sentinel monitor {MASTER} {primary} {PORT} {quorum(n)}",
                f"sentinel down-after-milliseconds {MASTER} {c.down_after_ms}",
                f"sentinel failover-timeout {MASTER} {c.failover_timeout_ms}",
                f"sentinel parallel-syncs {MASTER} {max(1, n - 1)}",
            ]
        )
        + "\n"
    )


LOGS = ("redis.log", "sentinel.log")


def _cli(address: str, port: int, *command: object) -> list[object]:
    return ["redis-cli", "-h", address, "-p", port, *command]


class RedisDeployment:
    """Install, start, signal and stop the two daemons of one host."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config

    def dir(self, cluster: Cluster, node: str) -> str:
        return cluster.remote_dir(node)

    def data_dir(self, cluster: Cluster, node: str) -> str:
        """The server's ``dir``: its append-only file (Sentinel keeps its state elsewhere)."""
        return f"{self.dir(cluster, node)}/redis"

    def primary(self, cluster: Cluster) -> str:
        """Where the primary starts: the first node (Sentinel moves it from there)."""
        return cluster.nodes[0]

    def install(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self.dir(cluster, node)
        daemon.ensure_programs(remote, ("redis-server", "redis-sentinel", "redis-cli"), PACKAGES)
        daemon.stop(remote, d, DAEMONS, grace=5)  # what an earlier, killed run left
        remote.run(["rm", "-rf", *(f"{d}/{f}" for f in ("redis", "sentinel", *LOGS))])
        remote.run(["mkdir", "-p", f"{d}/redis", f"{d}/sentinel"])
        address = cluster.addresses[node]
        first = self.primary(cluster)
        primary = cluster.addresses[first]
        c = self.config
        remote.write_file(
            f"{d}/redis.conf", redis_conf(c, address, d, None if node == first else primary)
        )
        remote.write_file(
            f"{d}/sentinel.conf", sentinel_conf(c, address, d, primary, len(cluster.nodes))
        )
        daemon.install(remote, d, "redis", ["redis-server", f"{d}/redis.conf"])
        daemon.install(remote, d, "sentinel", ["redis-sentinel", f"{d}/sentinel.conf"])

    def start(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self.dir(cluster, node)
        address = cluster.addresses[node]
        t = self.config.start_timeout
        daemon.start(remote, d, "redis")
        daemon.wait_until(remote, d, "redis", _cli(address, PORT, "ping"), t)
        daemon.start(remote, d, "sentinel")
        daemon.wait_until(remote, d, "sentinel", _cli(address, SENTINEL_PORT, "ping"), t)

    def wait_healthy(self, cluster: Cluster, node: str) -> None:
        """Until this node's Sentinel knows every other Sentinel and every replica."""
        remote, d = cluster.remote(node), self.dir(cluster, node)
        others = len(cluster.nodes) - 1
        cli = _cli(cluster.addresses[node], SENTINEL_PORT, "sentinel", "master", MASTER)
        # both counts (other Sentinels, replicas) equal ``others``: a pipeline, so the probe
        # is ``sh -c`` with every value a positional parameter
        script = (
            "\"$@\" | grep -A1 -x -E 'num-other-sentinels|num-slaves'"
            " | grep -v -x -E 'num-other-sentinels|num-slaves|--' | grep -c -x \"$0\""
            " | grep -q -x 2"
        )
        probe = ["sh", "-c", script, others, *cli]
        daemon.wait_until(remote, d, "sentinel", probe, self.config.start_timeout)

    def kill(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "KILL")

    def pause(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "STOP")

    def resume(self, cluster: Cluster, node: str) -> None:
        self._signal(cluster, node, "CONT")

    def _signal(self, cluster: Cluster, node: str, sig: str) -> None:
        remote, d = cluster.remote(node), self.dir(cluster, node)
        for name in DAEMONS:
            daemon.signal(remote, d, name, sig)

    def stop(self, cluster: Cluster, node: str) -> None:
        daemon.stop(cluster.remote(node), self.dir(cluster, node), DAEMONS)

    def log_files(self, cluster: Cluster, node: str) -> list[str]:
        d = self.dir(cluster, node)
        files = ("redis.log", "sentinel.log", "redis.conf", "sentinel.conf", "powerfs.log")
        return [f"{d}/{f}" for f in files]
