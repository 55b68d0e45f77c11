"""What running a node under libfaketime costs: ``time.time()`` and ``time.monotonic()`` per call.

The clock nemesis starts every node with libfaketime preloaded and ``FAKETIME_NO_CACHE=1``
(the offset file is read on every wall-clock call, so an offset change shows at once).
This measures that price in a child process, with and without the library. No cluster and
no root needed; the machine's clock is never touched.

    .venv/bin/python bench/nemesis_faketime.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from nemesis.clock import LIBRARIES, offset_text

PROBE = """
import json, time
n = 200_000
out = {}
for name, fn in (("time", time.time), ("monotonic", time.monotonic)):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    out[name] = (time.perf_counter() - start) / n * 1e9
print(json.dumps(out))
"""


def measure(env: dict[str, str]) -> dict[str, float]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(r.stdout)


def main() -> None:
    lib = next((p for p in LIBRARIES if Path(p).exists()), None)
    if lib is None:
        sys.exit("libfaketime is not installed (apt-get install faketime)")
    with tempfile.TemporaryDirectory() as tmp:
        offset = Path(tmp) / "clock.offset"
        offset.write_text(offset_text(12.5) + "\n")
        plain = measure(dict(os.environ))
        faked = measure(
            dict(
                os.environ,
                LD_PRELOAD=lib,
                FAKETIME_TIMESTAMP_FILE=str(offset),
                FAKETIME_NO_CACHE="1",
                FAKETIME_DONT_FAKE_MONOTONIC="1",
            )
        )
    print("| call | plain ns/call | libfaketime, no cache, ns/call |")
    print("|---|---|---|")
    for name in ("time", "monotonic"):
        print(f"| time.{name}() | {plain[name]:.0f} | {faked[name]:.0f} |")


if __name__ == "__main__":
    main()
