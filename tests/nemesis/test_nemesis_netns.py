"""Every fault on a real namespace cluster, looked at from outside while it holds.

One cluster (``nem``) serves the module. Each test runs ``harness run`` on it with a seeded
nemesis; a watcher follows ``history.jsonl`` and, the moment a fault op completes, checks
from the namespaces that the fault is real: a TCP connect across a grudge fails (and works
again after the heal), a killed node has no process, a paused one is in state ``T``, a
node's ``wall_clock`` is off by its recorded offset, a lossy node's UDP packets arrive at
about ``1 - p``. After every run nothing of the nemesis may be left on the hosts; at the end
``cluster down`` must leave nothing at all.

Run these one cluster at a time: ``flock /tmp/dynamo-harness-cluster.lock pytest -m netns``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import nemesis
from harness.exitcodes import ExitCode

pytestmark = pytest.mark.netns

NAME = "nem"
ROOT = Path("/var/lib/dynamo-harness") / NAME
REPO = Path(__file__).resolve().parents[2]
NODES = [f"n{i}" for i in range(1, 6)]
PORT = 7000
COMMON = ("--cluster", NAME, "--settle", "1", "--progress", "none", "--rate", "100")
Op = dict[str, Any]


def harness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ, CI="1"),
    )


def address(node: str) -> str:
    return f"10.77.0.{10 + int(node[1:])}"


def in_ns(node: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", f"dh-{NAME}-{node}", *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def can_connect(src: str, dst: str, wait: float) -> bool:
    """A TCP connect from ``src``'s namespace to ``dst``'s sshd (always up, whatever the node)."""
    probe = f"</dev/tcp/{address(dst)}/22"
    return in_ns(src, "timeout", str(wait), "bash", "-c", probe).returncode == 0


def command_lines() -> dict[int, bytes]:
    """Every live process's command line (NUL-separated), by pid."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            found[int(proc.name)] = (proc / "cmdline").read_bytes()
    return found


def node_pids(node: str) -> list[int]:
    marker = f"{ROOT}/{node}/venv/bin/dynamo\0node\0".encode()
    return [pid for pid, cmd in command_lines().items() if marker in cmd]


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def clock_offset(node: str) -> float:
    """The node's ``wall_clock`` minus the true time, from ``dynamo status`` in its namespace."""
    before = time.time()
    r = in_ns(node, f"{ROOT}/{node}/venv/bin/dynamo", "status", "--node", f"{address(node)}:{PORT}")
    after = time.time()
    assert r.returncode == 0, r.stderr
    return float(json.loads(r.stdout)["wall_clock"]) - (before + after) / 2


SAMPLER = """
import json, sys, time
from dynamo.client import Client
with Client([sys.argv[1]], timeout=5) as c:
    for _ in range(int(sys.argv[2])):
        before = time.time()
        wall = c.status()["wall_clock"]
        print(wall - (before + time.time()) / 2, flush=True)
        time.sleep(0.037)
"""


def clock_samples(node: str, count: int) -> list[float]:
    """``count`` readings of the node's clock offset, from one client process, ~40 ms apart."""
    python = f"{ROOT}/{node}/venv/bin/python"
    r = in_ns(node, python, "-c", SAMPLER, f"{address(node)}:{PORT}", str(count))
    assert r.returncode == 0, r.stderr
    return [float(x) for x in r.stdout.split()]


RECEIVER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
got = 0
try:
    while True:
        s.recv(64)
        got += 1
except TimeoutError:
    print(got)
"""
SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    try:
        s.sendto(b"probe", (sys.argv[1], 9999))
    except PermissionError:  # dropped on OUTPUT by iptables
        pass
    time.sleep(0.001)
"""


def udp_delivery(src: str, dst: str, count: int) -> float:
    """The share of ``count`` datagrams from ``src`` that a receiver in ``dst`` gets."""
    ns = f"dh-{NAME}-{dst}"
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", RECEIVER, address(dst), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        in_ns(src, sys.executable, "-c", SENDER, address(dst), str(count))
        got = int(receiver.communicate(timeout=30)[0].strip())
    finally:
        receiver.kill()
        receiver.wait()
    return got / count


def processes_under_root(sshd: bool = False) -> list[str]:
    """Command lines of every process that names the cluster's directory (sshd's if asked)."""
    marker = f"{ROOT}/".encode()
    return [
        cmd.replace(b"\0", b" ").decode(errors="replace")[:120]
        for cmd in command_lines().values()
        if marker in cmd and (sshd or b"/sshd/" not in cmd)
    ]


def residue() -> list[str]:
    """What the nemesis or the node could have left on the hosts after a run."""
    found = [f"process: {p}" for p in processes_under_root()]
    for node in NODES:
        rules = in_ns(node, "iptables-save").stdout
        found += [f"{node}: {ln}" for ln in rules.splitlines() if "DH-" in ln]
        d = ROOT / node
        if (d / "clock.strobe.pid").exists():
            found.append(f"{node}: strobe loop")
        offset = d / "clock.offset"
        if offset.exists() and float(offset.read_text()) != 0:
            found.append(f"{node}: clock offset {offset.read_text().strip()}")
    return found


def cluster_leftovers() -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found = [ln.split()[0] for ln in names.splitlines() if ln.startswith(f"dh-{NAME}-")]
    return found + processes_under_root(sshd=True)


def root_rules() -> list[str]:
    """The root namespace's iptables rules, which nothing here may change."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if not ln.startswith(("#", ":"))]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    harness("cluster", "down", "--cluster", NAME)
    rules = root_rules()
    r = harness("cluster", "up", "--cluster", NAME)
    assert r.returncode == 0, r.stderr
    try:
        yield
    finally:
        r = harness("cluster", "down", "--cluster", NAME)
    assert r.returncode == 0, r.stderr
    assert cluster_leftovers() == []
    assert root_rules() == rules


class Watch:
    """Follows a run's history; checks each completed fault op against the hosts.

    It tracks the faults in force from the history alone, and skips a look another fault
    would confound (a connect to a lossy node, the clock of a paused one).
    """

    def __init__(self, store: Path) -> None:
        self.history = store / "latest" / "history.jsonl"
        self.ops: list[Op] = []
        self.seen: list[str] = []  # what was checked, e.g. "kill n3: no process"
        self.failures: list[str] = []
        self.grudge: dict[str, list[str]] = {}
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.lossy: set[str] = set()
        self.offsets: dict[str, float] = {}
        self.late: list[str] = []  # faults whose look the run overtook (set aside)
        self._offset = 0

    def poll(self) -> list[Op]:
        if not self.history.exists():
            return []
        with self.history.open() as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind("\n") + 1]
        self._offset += len(complete.encode())
        new = [json.loads(ln) for ln in complete.splitlines() if ln]
        self.ops += new
        return new

    def expect(self, ok: bool, what: str) -> None:
        (self.seen if ok else self.failures).append(what)

    def observe(self, op: Op) -> None:
        f, v = op["f"], op.get("value")
        if op.get("error"):
            self.failures.append(f"{f} failed: {op['error']}")
            return
        look = {
            "start-partition": self._partition,
            "stop-partition": self._healed,
            "kill": self._kill,
            "start": self._start,
            "pause": self._pause,
            "resume": self._resume,
            "bump-clock": self._bump,
            "strobe-clock": self._strobe,
            "reset-clock": self._reset,
            "start-loss": self._loss,
            "stop-loss": self._loss_counted,
        }[f]
        look(v)

    def _partition(self, grudge: dict[str, list[str]]) -> None:
        self.grudge = grudge
        pairs = [(a, b) for a in NODES for b in NODES if a != b]

        def probe(pair: tuple[str, str]) -> tuple[str, str, bool, bool]:
            a, b = pair
            cut = b in grudge.get(a, ()) or a in grudge.get(b, ())
            if not cut and (a in self.lossy or b in self.lossy):
                return a, b, cut, True  # a lost SYN would look like a cut
            return a, b, cut, can_connect(a, b, 1 if cut else 3)

        with ThreadPoolExecutor(len(pairs)) as pool:
            for a, b, cut, connected in pool.map(probe, pairs):
                self.expect(connected != cut, f"partition {a}->{b}: cut={cut}, connect={connected}")

    def _healed(self, grudge: dict[str, list[str]]) -> None:
        self.grudge = {}
        for a, drops in grudge.items():
            for b in drops:
                if not ({a, b} & self.lossy):
                    self.expect(can_connect(a, b, 3), f"healed {a}->{b} connects")

    def _kill(self, nodes: list[str]) -> None:
        self.down |= set(nodes)
        for n in nodes:
            self.expect(node_pids(n) == [], f"kill {n}: no process")

    def _start(self, nodes: list[str]) -> None:
        self.down -= set(nodes)
        for n in nodes:
            pids = node_pids(n)
            self.expect(len(pids) == 1, f"start {n}: one process ({pids})")

    def _pause(self, nodes: list[str]) -> None:
        self.paused |= set(nodes)
        for n in nodes:
            states = [process_state(p) for p in node_pids(n)]
            self.expect(states == ["T"], f"pause {n}: stopped ({states})")

    def _resume(self, nodes: list[str]) -> None:
        self.paused -= set(nodes)
        for n in nodes:
            states = [process_state(p) for p in node_pids(n)]
            self.expect(len(states) == 1 and states != ["T"], f"resume {n}: running ({states})")

    def _clock_nodes(self, nodes: list[str]) -> list[str]:
        return [n for n in nodes if n not in self.down | self.paused]

    def _bump(self, offsets: dict[str, float]) -> None:
        self.offsets = dict(offsets)
        for n in self._clock_nodes(list(offsets)):
            got = clock_offset(n)
            self.expect(abs(got - offsets[n]) < 0.5, f"bump {n}: {got:+.2f} vs {offsets[n]:+.2f}")

    def _strobe(self, offsets: dict[str, float]) -> None:
        self.offsets = dict(offsets)
        for n in self._clock_nodes(list(offsets))[:1]:
            samples = clock_samples(n, 16)
            near_zero = any(abs(s) < 0.5 for s in samples)
            near_offset = any(abs(s - offsets[n]) < 0.5 for s in samples)
            shown = ", ".join(f"{s:+.1f}" for s in samples)
            self.expect(near_zero and near_offset, f"strobe {n} ±{offsets[n]}: {shown}")

    def _reset(self, offsets: dict[str, float]) -> None:
        self.offsets = {}
        for n in self._clock_nodes(list(offsets)):
            got = clock_offset(n)
            self.expect(abs(got) < 0.5, f"reset {n}: {got:+.2f}")

    def _loss(self, value: dict[str, Any]) -> None:
        self.lossy = set(value["nodes"])
        p, src = value["probability"], value["nodes"][0]
        peers = [n for n in NODES if n != src and src not in self.grudge.get(n, ())]
        if not peers:
            return
        count = 800
        delivered = udp_delivery(src, peers[0], count)
        sd = (p * (1 - p) / count) ** 0.5
        self.expect(
            abs((1 - delivered) - p) < 5 * sd,
            f"loss {src}->{peers[0]}: lost {1 - delivered:.3f} of {count}, asked {p}",
        )

    def _loss_counted(self, value: dict[str, Any]) -> None:
        self.lossy = set()
        packets, dropped, p = value["packets"], value["dropped"], value["probability"]
        sd = (p * (1 - p) / max(packets, 1)) ** 0.5
        rate = dropped / max(packets, 1)
        self.expect(
            packets >= 200 and abs(rate - p) < 5 * sd + 0.01,
            f"loss counters: {dropped}/{packets} = {rate:.3f} dropped, asked {p}",
        )


def _overtakes(op: Op) -> bool:
    """An op that shows the run has moved past the fault being looked at."""
    return (
        (op["process"] == "nemesis" and op["type"] == "invoke")
        or bool(op.get("final"))
        or op["process"] in ("convergence", "anti-entropy", "harness")
    )


class Run:
    """``harness run`` in the background, with a ``Watch`` checking each fault as it lands."""

    def __init__(self, store: Path, *args: str) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.err = store / "stderr.txt"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", *COMMON, "--store", str(store), *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.err.open("wb"),
            env=dict(os.environ, CI="1"),
        )
        self.watch = Watch(store)
        self.looking = True
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        pending: list[Op] = []
        while self.proc.poll() is None:
            pending += self.watch.poll()
            while pending:
                op = pending.pop(0)
                if self.looking and op["process"] == "nemesis" and op["type"] == "info":
                    self._look(op, pending)
            time.sleep(0.05)
        self.watch.poll()

    def _look(self, op: Op, pending: list[Op]) -> None:
        """Check one fault; a look the run overtook — the next fault op, or the reads after
        the heal, were recorded before it ended — saw a state that was no longer the fault's
        and is set aside as late (``Watch.late``), neither a pass nor a failure."""
        w = self.watch
        marks = len(w.seen), len(w.failures)
        try:
            w.observe(op)
        except Exception as e:  # a look that broke is a failure, not a crash
            w.failures.append(f"{op['f']}: {type(e).__name__}: {e}")
        pending += w.poll()
        if any(_overtakes(o) for o in pending):
            del w.seen[marks[0] :], w.failures[marks[1] :]
            w.late.append(op["f"])

    def wait_for(self, done: Callable[[list[Op]], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.watch.ops):
            assert self.proc.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, f"timed out; ops: {self.nemesis_ops()}"
            time.sleep(0.05)

    def finish(self, timeout: float = 240) -> int:
        rc = self.proc.wait(timeout=timeout)
        self.thread.join(timeout=30)
        return rc

    def nemesis_ops(self, type_: str = "info") -> list[Op]:
        return [o for o in self.watch.ops if o["process"] == "nemesis" and o["type"] == type_]


def plan(spec: str, seed: int, count: int) -> list[Op]:
    n = nemesis.build(spec)
    n.plan(NODES)
    rng = random.Random(f"{seed}/nemesis")
    return [op for op in (n.next_op(rng) for _ in range(count)) if op is not None]


def seed_where(spec: str, fs: list[str]) -> int:
    """The first seed whose schedule starts with ops ``fs``."""
    return next(s for s in range(10_000) if [o["f"] for o in plan(spec, s, len(fs))] == fs)


def checked_run(tmp_path: Path, *args: str) -> tuple[int, Run]:
    run = Run(tmp_path, *args)
    rc = run.finish()
    (tmp_path / "looks.txt").write_text("".join(f"{w}\n" for w in run.watch.seen))
    assert run.watch.failures == [], run.watch.failures
    assert residue() == []
    return rc, run


def replays(run: Run, spec: str, seed: int) -> None:
    """The run's faults are the seeded schedule's first k ops, then the heal ops after them."""
    invoked = [{"f": o["f"], "value": o["value"]} for o in run.nemesis_ops("invoke")]
    for k in range(len(invoked), 1, -1):
        n = nemesis.build(spec)
        n.plan(NODES)
        rng = random.Random(f"{seed}/nemesis")
        ops: list[Op] = []
        for _ in range(10 * k):
            if len(ops) == k:
                break
            op = n.next_op(rng)
            if op is not None:
                ops.append(op)
        if ops + n.heal_ops() == invoked:
            return
    pytest.fail(f"not the schedule of seed {seed}: {invoked}")


def alternate(fs: list[str], start: str, stop: str) -> None:
    assert len(fs) >= 2 and fs == [start, stop] * (len(fs) // 2), fs


def test_partitions_cut_exactly_the_grudge_and_the_heal_restores_it(
    cluster: None, tmp_path: Path
) -> None:
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", "partition", "--seed", "7"),
        *("--time-limit", "14", "--nemesis-interval", "4"),
    )
    assert rc == ExitCode.VALID, run.err.read_text()
    fs = [o["f"] for o in run.nemesis_ops()]
    alternate(fs, "start-partition", "stop-partition")
    assert all(o["value"] for o in run.nemesis_ops())  # each carries its grudge
    looked = fs.count(fs[0]) - run.watch.late.count(fs[0])
    assert looked > 0 and sum(w.startswith("partition ") for w in run.watch.seen) == 20 * looked
    replays(run, "partition", 7)


def test_kill_leaves_no_process_and_start_brings_one_back(cluster: None, tmp_path: Path) -> None:
    seed = seed_where("kill:one/minority", ["kill", "start"])
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", "kill:one/minority", "--seed", str(seed)),
        *("--time-limit", "12", "--nemesis-interval", "4"),
    )
    assert rc == ExitCode.VALID, run.err.read_text()
    alternate([o["f"] for o in run.nemesis_ops()], "kill", "start")
    assert any(w.startswith("kill ") for w in run.watch.seen)


def test_pause_stops_the_process_and_resume_continues_it(cluster: None, tmp_path: Path) -> None:
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", "pause:minority/majority", "--seed", "3"),
        *("--time-limit", "10", "--nemesis-interval", "3"),
    )
    assert rc == ExitCode.VALID, run.err.read_text()
    alternate([o["f"] for o in run.nemesis_ops()], "pause", "resume")
    assert sum(w.startswith("pause ") for w in run.watch.seen) >= 2


def test_loss_drops_packets_at_about_the_asked_rate(cluster: None, tmp_path: Path) -> None:
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", "loss:one,p=0.3", "--seed", "5"),
        *("--time-limit", "8", "--nemesis-interval", "4"),
    )
    assert rc == ExitCode.VALID, run.err.read_text()  # lossy links may slow it, never lose
    alternate([o["f"] for o in run.nemesis_ops()], "start-loss", "stop-loss")
    assert any(w.startswith("loss counters") for w in run.watch.seen)
    assert any(w.startswith("loss n") for w in run.watch.seen)


CLOCK = "clock:all,skew=20"


def clock_seed() -> int:
    return seed_where(CLOCK, ["bump-clock", "reset-clock", "strobe-clock", "reset-clock"])


def test_clock_skew_shows_in_the_nodes_wall_clock_and_siblings_lose_nothing(
    cluster: None, tmp_path: Path
) -> None:
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", CLOCK, "--seed", str(clock_seed()), "--mode", "siblings"),
        *("--time-limit", "12.5", "--nemesis-interval", "3"),
    )
    fs = [o["f"] for o in run.nemesis_ops()]
    assert fs[:4] == ["bump-clock", "reset-clock", "strobe-clock", "reset-clock"]
    assert sum(w.startswith("bump ") for w in run.watch.seen) == 5
    # the strobe look takes 16 samples; on a loaded machine the run may overtake it (late)
    strobed = any(w.startswith("strobe ") for w in run.watch.seen)
    assert strobed or "strobe-clock" in run.watch.late
    assert rc == ExitCode.VALID, run.err.read_text()


def test_lww_under_the_same_clock_schedule_loses_acknowledged_writes(
    cluster: None, tmp_path: Path
) -> None:
    pytest.importorskip("harness.analysis", reason="needs the checkers' analysis")
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", CLOCK, "--seed", str(clock_seed()), "--mode", "lww"),
        *("--time-limit", "12.5", "--nemesis-interval", "3"),
    )
    assert rc == ExitCode.INVALID, run.err.read_text()
    results = (tmp_path / "latest" / "results.json").read_text()
    assert '"lost"' in results


ALL = "all,p=0.2,skew=10"
LOOKS = ("partition ", "kill ", "pause ", "strobe ", "loss ")


def test_all_faults_follow_the_seeded_schedule_and_each_is_real(
    cluster: None, tmp_path: Path
) -> None:
    kinds = {"start-partition", "kill", "pause", "strobe-clock", "start-loss"}
    seed = next(s for s in range(10_000) if kinds <= {o["f"] for o in plan(ALL, s, 6)})
    rc, run = checked_run(
        tmp_path,
        *("--nemesis", ALL, "--seed", str(seed)),
        *("--time-limit", "21", "--nemesis-interval", "3"),
    )
    assert rc == ExitCode.VALID, run.err.read_text()  # siblings mode loses nothing to any fault
    replays(run, ALL, seed)
    for look in LOOKS:  # every kind of fault was looked at, and was real
        assert any(w.startswith(look) for w in run.watch.seen), (look, run.watch.seen)


FAULTS = "partition:halves,pause:all,clock:all"
LEAVES = ["start-partition", "pause", "bump-clock"]


def kill_mid_fault(tmp_path: Path, sig: signal.Signals) -> Run:
    """A run stopped by ``sig`` while a partition, a pause and clock skew all hold."""
    seed = seed_where(FAULTS, LEAVES)
    run = Run(
        tmp_path,
        *("--nemesis", FAULTS, "--seed", str(seed)),
        *("--time-limit", "60", "--nemesis-interval", "1.5"),
    )
    run.looking = False
    run.wait_for(lambda ops: len([o for o in ops if o["process"] == "nemesis"]) >= 6)
    run.proc.send_signal(sig)
    return run


def test_ctrl_c_mid_fault_heals_everything(cluster: None, tmp_path: Path) -> None:
    run = kill_mid_fault(tmp_path, signal.SIGINT)
    assert run.finish() == ExitCode.UNKNOWN
    assert residue() == []
    healed = [o["f"] for o in run.nemesis_ops()][3:]
    assert sorted(healed) == ["reset-clock", "resume", "stop-partition"]


def test_after_sigkill_the_next_run_or_cluster_down_heals(cluster: None, tmp_path: Path) -> None:
    run = kill_mid_fault(tmp_path / "a", signal.SIGKILL)
    run.finish()
    left = residue()
    assert any("DH-PARTITION" in x for x in left) and any("clock offset" in x for x in left)
    assert all(process_state(p) == "T" for n in NODES for p in node_pids(n))

    rc, _ = checked_run(tmp_path / "b", "--nemesis", "none", "--time-limit", "3")
    assert rc == ExitCode.VALID

    run = kill_mid_fault(tmp_path / "c", signal.SIGKILL)
    run.finish()
    assert residue() != []
    r = harness("cluster", "down", "--cluster", NAME)
    assert r.returncode == 0, r.stderr
    assert cluster_leftovers() == []
