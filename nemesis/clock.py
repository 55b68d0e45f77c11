"""Clock skew without touching a machine's clock: libfaketime and an offset file per node.

Under a clock nemesis every node runs with libfaketime preloaded (its ``host_env``, which
``nemesis.host.prepare`` writes to ``node.env`` before the system starts) and reads its
offset, e.g. ``+12.5`` or ``-3``, from ``<node dir>/clock.offset`` on every call
(``FAKETIME_NO_CACHE``). Only the wall clock moves: ``FAKETIME_DONT_FAKE_MONOTONIC`` keeps
asyncio's timers true. The nemesis bumps a node's offset, strobes it (flipping between 0
and an offset every ``STROBE_PERIOD`` in a loop on the node), and resets every node to 0.
Nothing here ever runs ``date -s``.
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nemesis import targets as targeting
from nemesis.base import Bound, NemesisError, Op, each
from nemesis.spec import DEFAULT_SKEW
from nemesis.targets import SPECS

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext

OFFSET_FILE = "clock.offset"
STROBE_PID = "clock.strobe.pid"
STROBE_PERIOD = 0.1
STROBE_LIMIT = 600  # seconds a strobe loop lives at most, should nobody stop it
LIBRARIES = tuple(
    f"{d}/libfaketimeMT.so.1"  # the thread-safe build: the node has a storage thread
    for d in (
        "/usr/lib/x86_64-linux-gnu/faketime",
        "/usr/lib/aarch64-linux-gnu/faketime",
        "/usr/lib/faketime",
        "/usr/lib64/faketime",
        "/usr/local/lib/faketime",
    )
)
# FAKETIME_FORCE_MONOTONIC_FIX=0: the fix glibc builds turn on by default rewrites every
# pthread_cond_timedwait, the GIL's included, and cut a node's puts from ~1000/s to ~15/s
# (bench/nemesis_faketime.py). The node never calls time.sleep, which libfaketime 0.9.10
# breaks (EINVAL) once the monotonic clock is left alone.
ENV = {
    "FAKETIME_NO_CACHE": "1",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    "FAKETIME_FORCE_MONOTONIC_FIX": "0",
}
MODES = ("bump", "strobe")


def offset_text(seconds: float) -> str:
    return f"{seconds:+.3f}"


def write_offset(node_dir: str, seconds: float, tmp: str = "tmp") -> str:
    """Shell: set the node's offset (write then rename, so libfaketime never reads half)."""
    path = shlex.quote(f"{node_dir}/{OFFSET_FILE}")
    return f"echo {offset_text(seconds)} > {path}.{tmp} && mv -f {path}.{tmp} {path}"


def stop_strobe(node_dir: str) -> str:
    """Shell: end a strobe loop (its whole process group), wherever one runs."""
    pid = shlex.quote(f"{node_dir}/{STROBE_PID}")
    return f"if [ -f {pid} ]; then kill -KILL -$(cat {pid}) 2>/dev/null; rm -f {pid}; fi"


def start_strobe(node_dir: str, delta: float) -> str:
    """Shell: a detached loop flipping the offset between ``delta`` and 0."""
    pid = f"{node_dir}/{STROBE_PID}"
    cycles = int(STROBE_LIMIT / (2 * STROBE_PERIOD))
    flip = (
        f"{write_offset(node_dir, delta, 'strobe')}; sleep {STROBE_PERIOD}; "
        f"{write_offset(node_dir, 0, 'strobe')}; sleep {STROBE_PERIOD}"
    )
    loop = (
        f"echo $$ > {shlex.quote(pid)}; i=0; "
        f"while [ $i -lt {cycles} ]; do {flip}; i=$((i+1)); done; rm -f {shlex.quote(pid)}"
    )
    return f"setsid -f sh -c {shlex.quote(loop)} > /dev/null 2>&1 < /dev/null"


def env_lines(node_dir: str) -> str:
    """Shell: print the ``node.env`` lines that put the node under libfaketime, if installed."""
    found = " ".join(LIBRARIES)
    return (
        f"for lib in {found}; do [ -f $lib ] && echo LD_PRELOAD=$lib && break; done; "
        f"echo FAKETIME_TIMESTAMP_FILE={shlex.quote(f'{node_dir}/{OFFSET_FILE}')}; "
        + "; ".join(f"echo {k}={v}" for k, v in ENV.items())
    )


def reset(node_dir: str) -> str:
    """Shell: no strobe loop, offset 0."""
    return f"{stop_strobe(node_dir)}; {write_offset(node_dir, 0)}"


def plan_offsets(nodes: Sequence[str], skew: float, rng: random.Random) -> dict[str, float]:
    """An offset for each node: a random sign and a size between a tenth of ``skew`` and it."""
    return {n: round(rng.choice((-1, 1)) * rng.uniform(skew / 10, skew), 3) for n in sorted(nodes)}


class ClockNemesis(Bound):
    name = "clock"
    fs = frozenset({"bump-clock", "strobe-clock", "reset-clock"})

    def __init__(
        self,
        targets: Sequence[str] = SPECS,
        skew: float = DEFAULT_SKEW,
        modes: Sequence[str] = MODES,
    ) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self.skew = skew
        self.modes = tuple(modes)
        self.skewed = False

    def host_env(self, node_dir: str) -> str:
        """libfaketime preloaded, reading this node's offset file."""
        return env_lines(node_dir)

    def setup(self, ctx: NemesisContext) -> None:
        self.bind(ctx)

        def check(node: str) -> None:
            env = f"{self.cluster.remote_dir(node)}/node.env"
            r = self.cluster.remote(node).run(
                ["grep", "-q", "^LD_PRELOAD=.*libfaketime", env], check=False
            )
            if not r.ok:
                raise NemesisError(
                    "the node does not run under libfaketime (install the faketime package)"
                )

        each(self.nodes, check)
        self._reset()

    def next_op(self, rng: random.Random) -> Op | None:
        if self.skewed:
            return self._reset_op()
        mode = rng.choice(self.modes)
        chosen = targeting.pick(rng.choice(self.targets), self.nodes, rng)
        if not chosen:
            return None
        self.skewed = True
        return {"f": f"{mode}-clock", "value": plan_offsets(chosen, self.skew, rng)}

    def _reset_op(self) -> Op:
        self.skewed = False
        return {"f": "reset-clock", "value": {n: 0.0 for n in self.nodes}}

    def invoke(self, op: Op) -> Op:
        f, offsets = op["f"], op["value"]
        if f == "reset-clock":
            self._reset()
            return op
        if f not in self.fs:
            raise NemesisError(f"clock: cannot do {f!r}")
        cluster = self.cluster

        def one(node: str) -> None:
            d = cluster.remote_dir(node)
            if f == "bump-clock":
                cmd = f"{stop_strobe(d)}; {write_offset(d, offsets[node])}"
            else:
                cmd = f"{reset(d)} && {start_strobe(d, offsets[node])}"
            cluster.remote(node).run_shell(cmd, timeout=30)

        each(sorted(offsets), one)
        return op

    def heal_ops(self) -> list[Op]:
        return [self._reset_op()] if self.skewed else []

    def teardown(self) -> None:
        if self.ctx is not None:
            self._reset()

    def _reset(self) -> None:
        cluster = self.cluster
        each(
            cluster.nodes,
            lambda node: cluster.remote(node).run_shell(
                reset(cluster.remote_dir(node)), timeout=30
            ),
        )
