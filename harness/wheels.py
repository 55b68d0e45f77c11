"""Wheels a node installs from: the project and its runtime dependencies, so nodes need no internet.

The project wheel is built from the source tree the harness runs from, with a fixed
``SOURCE_DATE_EPOCH`` so unchanged sources give a byte-identical wheel and a host that
already has this exact set skips reinstalling. Dependency wheels come from a local cache,
filled once from the package index with pip.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DISTRIBUTION = "dynamo-harness"
RUNTIME = ("msgpack",)  # what the node needs
INSTALLER = "pip"  # run from its wheel on the node: a venv without ensurepip is 2 s faster
OPTIONAL = ("uvloop", "mfusepy")  # installed on nodes when a wheel is at hand (mfusepy:
# the power-loss fault's filesystem, nemesis.powerfs, runs from the node's virtualenv)
FIXED_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip can hold


class WheelError(Exception):
    pass


def source_root() -> Path:
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").exists():
        raise WheelError(
            f"no pyproject.toml above {Path(__file__).parent}: run the harness from a checkout "
            "(pip install -e .) so it can build the node's wheel"
        )
    return root


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynamo-harness" / "wheels"


def _pip(*args: str, timeout: float = 300.0) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=FIXED_EPOCH, PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if r.returncode != 0:
        raise WheelError(f"pip {' '.join(args)} failed:\n{r.stderr.strip()[-2000:]}")


def _dependency_wheel(name: str, *, required: bool) -> Path | None:
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        if required:
            raise WheelError(f"{name} is not installed here; pip install {name}") from None
        return None
    cache = cache_dir()
    stem = name.replace("-", "_").lower()
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        log.info("fetching the %s %s wheel into %s", name, version, cache)
        try:
            _pip(
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                f"{name}=={version}",
            )
        except (WheelError, subprocess.TimeoutExpired) as e:
            if required:
                raise WheelError(f"no wheel for {name}=={version}: {e}") from e
            log.warning("no wheel for optional %s: nodes run without it", name)
            return None
        found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    return found[-1] if found else None


def build(out: Path) -> list[Path]:
    """Put the project's wheel and its runtime dependencies' wheels in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    _pip(
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(out),
        str(source_root()),
    )
    for name in (INSTALLER, *RUNTIME, *OPTIONAL):
        wheel = _dependency_wheel(name, required=name in (INSTALLER, *RUNTIME))
        if wheel is not None:
            (out / wheel.name).write_bytes(wheel.read_bytes())
    return sorted(out.glob("*.whl"))


def manifest(wheels: list[Path]) -> str:
    """One ``sha256  name`` line per wheel: equal manifests mean an identical install."""
    return "".join(
        f"{hashlib.sha256(w.read_bytes()).hexdigest()}  {w.name}\n" for w in sorted(wheels)
    )
