"""What running a node under libfaketime costs, and why the monotonic fix is turned off.

The clock nemesis starts every node with libfaketime preloaded (``nemesis.clock.ENV``).
This starts one loopback node (N=R=W=1) per setting and measures, from a client in this
process: puts per second for ``--seconds``, and that ``status``'s ``wall_clock`` is off by
the offset in the file. No root and no cluster; the machine's clock is never touched.

    .venv/bin/python bench/nemesis_faketime.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dynamo.client import Client
from nemesis.clock import ENV, LIBRARIES, OFFSET_FILE, offset_text

OFFSET = -8.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(env: dict[str, str], work: Path, seconds: float) -> tuple[float, float]:
    """(puts/s, the node's clock offset) for a node started with ``env``."""
    address = f"127.0.0.1:{free_port()}"
    data = work / f"data-{time.monotonic_ns()}"
    args = ["--name", "n1", "--listen", address, "--seeds", f"n1={address}"]
    args += ["--n", "1", "--r", "1", "--w", "1", "--data-dir", str(data)]
    node = subprocess.Popen(
        [sys.executable, "-m", "dynamo", "node", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client([address], timeout=5) as c:
            for _ in range(100):
                try:
                    before = time.time()
                    wall = c.status()["wall_clock"]
                    skew = wall - (before + time.time()) / 2
                    break
                except Exception:
                    time.sleep(0.1)
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < seconds:
                c.put(f"k{n % 100}", "x")
                n += 1
            return n / (time.perf_counter() - start), skew
    finally:
        node.terminate()
        node.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    seconds = p.parse_args().seconds
    lib = next((x for x in LIBRARIES if Path(x).exists()), None)
    if lib is None:
        sys.exit("libfaketime is not installed (apt-get install faketime)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / OFFSET_FILE).write_text(offset_text(OFFSET) + "\n")
        faked = {**ENV, "LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": str(work / OFFSET_FILE)}
        default_fix = {k: v for k, v in faked.items() if k != "FAKETIME_FORCE_MONOTONIC_FIX"}
        settings = {
            "no libfaketime": {},
            "nemesis.clock.ENV (monotonic fix off)": faked,
            "same, monotonic fix left on": default_fix,
        }
        print(f"| node started with | puts/s | wall_clock offset (file: {OFFSET:+g} s) |")
        print("|---|---|---|")
        for name, extra in settings.items():
            rate, skew = measure({**os.environ, **extra}, work, seconds)
            print(f"| {name} | {rate:.0f} | {skew:+.3f} s |")


if __name__ == "__main__":
    main()
