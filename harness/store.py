"""The store: ``store/<test-name>/<YYYYMMDDTHHMMSS>/`` per run, and ``store/latest``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.options import TestOptions

HISTORY = "history.jsonl"
TEST = "test.json"
RESULTS = "results.json"
HARNESS_LOG = "harness.log"
NODES = "nodes"


def new_run_dir(store: Path, test_name: str) -> Path:
    """Make a fresh run directory and point ``store/latest`` at it."""
    parent = store / test_name
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime())
    run = parent / stamp
    suffix = 1
    while True:
        try:
            run.mkdir()
            break
        except FileExistsError:
            suffix += 1
            run = parent / f"{stamp}-{suffix}"
    link = store / "latest"
    tmp = store / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.relative_to(store))
    tmp.replace(link)
    return run


def versions() -> dict[str, str]:
    from harness import __version__ as harness_version

    out = {
        "harness": harness_version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        from dynamo import __version__ as node_version

        out["dynamo"] = node_version
    except ImportError:
        pass
    try:
        root = Path(__file__).resolve().parents[1]
        out["commit"] = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out


def write_test(run: Path, options: TestOptions, **extra: Any) -> None:
    """(Re)write ``test.json``: the options, the seed, versions, and facts learnt while running."""
    path = run / TEST
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("name", options.test_name())
    data.setdefault("start", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    data["seed"] = options.seed
    data["options"] = options.to_json()
    data.setdefault("versions", versions())
    data.update(extra)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
