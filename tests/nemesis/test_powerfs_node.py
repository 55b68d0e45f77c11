"""The power-loss fault's teeth, on a real node process: with its data directory on powerfs,
kill -9 mid-load, drop everything unsynced, restart, read every ack back. The real node
(WAL, synchronous=FULL; or ``--storage log``: write + fdatasync) loses nothing; a node that
acks before fsync (SQLite synchronous=OFF, or the log engine ``--buffered``) loses
acknowledged writes — which kill -9 alone does not show.

A few trials each; ``bench/powerfs_trials.py --trials 20`` is the full run. Under
``flock /tmp/dh-cluster.lock``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.cluster


def _trials() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "powerfs_trials.py"
    spec = importlib.util.spec_from_file_location("powerfs_trials", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trials(fuse: None) -> ModuleType:
    return _trials()


@pytest.mark.parametrize("build", ["real", "log"], ids=["sqlite", "log"])
def test_real_node_loses_no_acknowledged_write_over_power_losses(
    trials: ModuleType, tmp_path: Path, build: str
) -> None:
    tally = trials.run_trials(build, 4, tmp_path, log=tmp_path / "powerfs.log")
    assert tally.acked > 0
    assert (tally.lost, tally.unstartable) == (0, 0), tally.line()


def test_ack_before_fsync_node_loses_acknowledged_writes_on_power_loss(
    trials: ModuleType, tmp_path: Path
) -> None:
    tally = trials.run_trials("sync-off", 3, tmp_path, log=tmp_path / "powerfs.log")
    assert tally.lost > 0, tally.line()


def test_buffered_log_node_loses_acknowledged_writes_on_power_loss(
    trials: ModuleType, tmp_path: Path
) -> None:
    """The log engine's control: acks before fdatasync, so the drop must catch it."""
    tally = trials.run_trials("log-buffered", 3, tmp_path, log=tmp_path / "powerfs.log")
    assert tally.lost > 0, tally.line()


def test_kill_alone_cannot_catch_the_ack_before_fsync_node(
    trials: ModuleType, tmp_path: Path
) -> None:
    """The control: the kernel keeps what a killed process wrote, so only the drop shows it."""
    tally = trials.run_trials("sync-off", 2, tmp_path, fault="kill", log=tmp_path / "powerfs.log")
    assert tally.acked > 0
    assert tally.lost == 0, tally.line()
