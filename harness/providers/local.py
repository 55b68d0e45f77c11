"""The local provider: hosts without VMs, one network namespace per node.

Layout of cluster ``C`` (every kernel object carries the ``dh-`` prefix):

- namespaces ``dh-C-ctl`` (the control host) and ``dh-C-n1`` … ``dh-C-nN``;
- the bridge ``dh-br`` lives *inside* ``dh-C-ctl`` with the control address (``.1``); each
  node namespace has ``eth0`` (``.10+i``) joined to it by a veth ``dh-nI``. Nothing of the
  cluster sits in the root namespace: no address, no route, no link, no iptables rule, so a
  packet to a cluster address can never leave the machine, and deleting the namespaces
  removes every link with them;
- each node namespace runs its own ``sshd -f`` with a config, host key and
  ``authorized_keys`` under ``/var/lib/dynamo-harness/C/`` — the machine's SSH setup is
  never read or changed. The harness's client key and a ``known_hosts`` of the generated
  host keys live in ``/var/lib/dynamo-harness/C/ssh/``, so host keys are verified.

The harness reaches the hosts from ``dh-C-ctl`` (see ``netns.entered``).
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import netns
from harness.cluster import ROOT_DIR, Cluster
from harness.remote import Host

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it; packages create it at boot

SSHD_CONFIG = """\
# sshd of harness host {node} in cluster {cluster}; started with -f, nothing else reads it.
ListenAddress {address}
Port 22
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
PrintMotd no
AcceptEnv none
MaxSessions 64
MaxStartups 64:30:128
ClientAliveInterval 10
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class LocalCluster:
    """Names, addresses and files of one namespace cluster; ``up``/``down``/``status``."""

    name: str = "default"
    size: int = 5
    subnet: str = "10.77.0.0/24"

    def __post_init__(self) -> None:
        if not self.name.replace("-", "").isalnum():
            raise ValueError(f"cluster name {self.name!r}: use letters, digits and '-'")
        if not 1 <= self.size <= 200:
            raise ValueError(f"a local cluster has 1..200 nodes, not {self.size}")
        ipaddress.ip_network(self.subnet)

    # names and places

    @property
    def base(self) -> Path:
        return Path(ROOT_DIR) / self.name

    @property
    def ssh_dir(self) -> Path:
        return self.base / "ssh"

    @property
    def key_file(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def control_ns(self) -> str:
        return f"{netns.PREFIX}{self.name}-ctl"

    @property
    def nodes(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.size + 1)]

    def node_ns(self, node: str) -> str:
        return f"{netns.PREFIX}{self.name}-{node}"

    def _addr(self, offset: int) -> str:
        net = ipaddress.ip_network(self.subnet)
        return str(net.network_address + offset)

    @property
    def control_address(self) -> str:
        return self._addr(1)

    def address(self, node: str) -> str:
        return self._addr(10 + int(node[1:]))

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def sshd_dir(self, node: str) -> Path:
        return self.base / node / "sshd"

    def hosts(self, connect_timeout: float = 10.0) -> list[Host]:
        return [
            Host(
                name=n,
                address=self.address(n),
                key_file=self.key_file,
                known_hosts=self.known_hosts,
                connect_timeout=connect_timeout,
            )
            for n in self.nodes
        ]

    def ours(self) -> list[str]:
        """This cluster's namespaces: its control host and nodes ``n<k>`` of any count —
        never another cluster's whose name starts with this one's (``a`` vs ``a-b``)."""
        mine = re.compile(rf"{re.escape(netns.PREFIX + self.name)}-(ctl|n[0-9]+)")
        return [ns for ns in netns.names() if mine.fullmatch(ns)]

    # lifecycle

    def is_up(self) -> bool:
        """All namespaces exist and every node's sshd is alive (extra nodes are allowed)."""
        have = set(self.ours())
        if self.control_ns not in have:
            return False
        return all(self.node_ns(n) in have and self._sshd_alive(n) for n in self.nodes)

    def up(self) -> bool:
        """Make the cluster unless it is already up; returns True if it made it."""
        if self.is_up():
            return False
        self.down()
        _require_tools()
        self._make_keys()
        netns.add(self.control_ns)
        c = self.control_ns
        netns.ip("-n", c, "link", "add", "dh-br", "type", "bridge")
        netns.ip("-n", c, "addr", "add", f"{self.control_address}/{self.prefixlen}", "dev", "dh-br")
        netns.ip("-n", c, "link", "set", "dh-br", "up")
        for n in self.nodes:
            ns = self.node_ns(n)
            netns.add(ns)
            veth = f"dh-{n}"
            netns.ip(
                "-n", c, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns
            )
            netns.ip("-n", c, "link", "set", veth, "master", "dh-br", "up")
            netns.ip("-n", ns, "addr", "add", f"{self.address(n)}/{self.prefixlen}", "dev", "eth0")
            netns.ip("-n", ns, "link", "set", "eth0", "up")
            self._start_sshd(n)
        log.info("cluster %s up: %d hosts in %s", self.name, self.size, self.subnet)
        return True

    def down(self) -> list[str]:
        """Remove this cluster's namespaces and every process of it; return what went."""
        removed = []
        for ns in self.ours():
            netns.delete(ns)
            removed.append(ns)
        # Daemons whose namespace vanished under them still name their files on the command line.
        stale = netns.processes_under(f"{self.base}/")
        if stale:
            netns.kill_pids(stale)
            removed.extend(f"pid {p}" for p in stale)
        return removed

    def status(self) -> list[dict[str, object]]:
        have = set(self.ours())
        rows: list[dict[str, object]] = [
            {
                "host": "control",
                "namespace": self.control_ns,
                "address": self.control_address,
                "exists": self.control_ns in have,
                "sshd": "-",
            }
        ]
        for n in self.nodes:
            ns = self.node_ns(n)
            rows.append(
                {
                    "host": n,
                    "namespace": ns,
                    "address": self.address(n),
                    "exists": ns in have,
                    "sshd": self._sshd_alive(n) if ns in have else False,
                }
            )
        return rows

    @contextmanager
    def session(self) -> Iterator[bool]:
        """Make the cluster if needed (and remove it after, only if this made it).

        A cluster that a run made and a crash (SIGKILL) left behind is not the user's: its
        ``run.pid`` names a dead process, so it is remade here and removed after.
        """
        with self._exclusive():
            if self.is_up() and self._left_by_dead_run():
                self.down()
            existed = self.is_up()
            try:
                if not existed:
                    self.up()
                    self._run_marker.write_text(f"{os.getpid()}\n")
                yield not existed
            finally:
                if not existed:
                    self.down()
                    self._run_marker.unlink(missing_ok=True)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One run at a time on a cluster: a second one fails at once instead of sharing hosts."""
        self.base.mkdir(parents=True, exist_ok=True)
        with (self.base / "run.lock").open("w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(
                    f"cluster {self.name} is in use by another run; use --cluster OTHER"
                ) from None
            yield

    def adopt(self) -> None:
        """``harness cluster up`` on a cluster a run made: from now on it is the user's."""
        self._run_marker.unlink(missing_ok=True)

    @property
    def _run_marker(self) -> Path:
        return self.base / "run.pid"

    def _left_by_dead_run(self) -> bool:
        try:
            pid = int(self._run_marker.read_text())
        except (OSError, ValueError):
            return False
        return not Path(f"/proc/{pid}").exists()

    # pieces

    def _make_keys(self) -> None:
        self.ssh_dir.mkdir(parents=True, exist_ok=True)
        for d in (Path(ROOT_DIR), self.base, self.ssh_dir):
            d.chmod(0o755 if d != self.ssh_dir else 0o700)
        if not self.key_file.exists():
            _keygen(self.key_file, f"dh-{self.name}-harness")
        pub = self.key_file.with_suffix(".pub").read_text()
        (self.ssh_dir / "authorized_keys").write_text(pub)
        (self.ssh_dir / "authorized_keys").chmod(0o600)
        lines = []
        for n in self.nodes:
            d = self.sshd_dir(n)
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o700)
            key = d / "ssh_host_ed25519_key"
            if not key.exists():
                _keygen(key, f"dh-{self.name}-{n}")
            kind, blob = key.with_suffix(".pub").read_text().split()[:2]
            lines.append(f"{self.address(n)} {kind} {blob}\n")
            (d / "sshd_config").write_text(
                SSHD_CONFIG.format(
                    node=n,
                    cluster=self.name,
                    address=self.address(n),
                    host_key=key,
                    pid_file=d / "sshd.pid",
                    authorized_keys=self.ssh_dir / "authorized_keys",
                )
            )
        self.known_hosts.write_text("".join(lines))

    def _start_sshd(self, node: str) -> None:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        cfg = self.sshd_dir(node) / "sshd_config"
        # sshd binds before it daemonizes, so it accepts connections once this returns.
        netns.in_netns(self.node_ns(node), SSHD, "-f", str(cfg), "-E", str(cfg.parent / "sshd.log"))

    def _sshd_alive(self, node: str) -> bool:
        pid_file = self.sshd_dir(node) / "sshd.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        return pid in netns.pids(self.node_ns(node))


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _require_tools() -> None:
    missing = [t for t in ("ip", "ssh-keygen", SSHD) if shutil.which(t) is None]
    if missing:
        raise RuntimeError(
            f"the local provider needs {', '.join(missing)} "
            "(apt-get install iproute2 openssh-server openssh-client)"
        )


class LocalProvider:
    """Provider over a ``LocalCluster``: the harness works from the control namespace."""

    name = "local"

    def __init__(self, cluster: LocalCluster, *, connect_timeout: float = 10.0) -> None:
        self.local = cluster
        self.connect_timeout = connect_timeout

    @contextmanager
    def session(self) -> Iterator[Cluster]:
        with self.local.session(), netns.entered(self.local.control_ns):
            cluster = Cluster(
                name=self.local.name,
                hosts=self.local.hosts(self.connect_timeout),
                addresses={n: self.local.address(n) for n in self.local.nodes},
                control_address=self.local.control_address,
            )
            try:
                yield cluster
            finally:
                cluster.close()
