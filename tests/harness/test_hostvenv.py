"""The host virtualenv installer, against a recording host: the commands it sends (argument
vectors, pip from its own wheel, no index), what a current host is spared, and where the
power-loss fault puts its own virtualenv for a system with no Python on its hosts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import hostvenv
from harness.hostvenv import Bundle
from harness.remote import Result
from nemesis import power
from systems.base import Capabilities

WHEELS = tuple(
    Path(f"/w/{name}")
    for name in (
        "dynamo_harness-0.1.0-py3-none-any.whl",
        "mfusepy-3.1.0-py3-none-any.whl",
        "msgpack-1.1.0-cp313-cp313-linux_x86_64.whl",
        "pip-25.0-py3-none-any.whl",
    )
)
BUNDLE = Bundle(WHEELS, "abc  dynamo_harness-0.1.0-py3-none-any.whl\n")


class Host:
    """Records every command; ``cat`` of a manifest answers ``manifest``, ``probe`` its ok."""

    name = "n1"

    def __init__(self, manifest: str = "", probe_ok: bool = True) -> None:
        self.manifest, self.probe_ok = manifest, probe_ok
        self.calls: list[Any] = []

    def run(self, argv: list[str], **kw: Any) -> Result:
        self.calls.append(argv)
        ok = self.probe_ok or argv[0] == "mkdir" or "-m" in argv or "install" in argv
        return Result("n1", " ".join(argv), 0 if ok else 1, "python=/usr/bin/python3\n", "")

    def run_shell(self, script: str, *args: Any, **kw: Any) -> Result:
        self.calls.append(("shell", *args))
        return Result("n1", script, 0, self.manifest, "")

    def put(self, local: Path, remote: str) -> None:
        self.calls.append(("put", local.name, remote))

    def write_file(self, remote: str, text: str, mode: int = 0o644) -> None:
        self.calls.append(("write", remote, text))


def install(host: Host, extras: tuple[str, ...] = ("fast", "powerfs")) -> bool:
    return hostvenv.install(
        host,  # type: ignore[arg-type]
        "/r/n1/tools",
        BUNDLE,
        python="/usr/bin/python3",
        extras=extras,
        probe=["/r/n1/tools/venv/bin/python", "-c", "import mfusepy"],
        timeout=60,
    )


def test_a_host_without_the_manifest_gets_a_venv_from_dist_with_pip_from_its_wheel() -> None:
    host = Host(manifest="")
    assert install(host)
    assert ["rm", "-rf", "/r/n1/tools/venv", "/r/n1/tools/dist"] in host.calls
    puts = [c for c in host.calls if c[0] == "put"]
    assert puts == [("put", w.name, f"/r/n1/tools/dist/{w.name}") for w in WHEELS]
    assert ["/usr/bin/python3", "-m", "venv", "--without-pip", "/r/n1/tools/venv"] in host.calls
    pip = next(c for c in host.calls if "install" in c)
    assert pip == [
        "/r/n1/tools/venv/bin/python",
        "/r/n1/tools/dist/pip-25.0-py3-none-any.whl/pip",
        *("install", "--isolated", "--quiet", "--no-index", "--disable-pip-version-check"),
        *("--find-links", "/r/n1/tools/dist", "dynamo-harness[powerfs]"),  # no uvloop wheel
    ]
    assert host.calls[-1] == ("write", "/r/n1/tools/dist/MANIFEST", BUNDLE.manifest)


def test_a_host_with_the_same_manifest_and_a_working_venv_installs_nothing() -> None:
    host = Host(manifest=BUNDLE.manifest)
    assert not install(host)
    assert all(c[0] not in ("put", "write", "rm") for c in host.calls)


def test_a_broken_venv_is_reinstalled_even_when_the_manifest_matches() -> None:
    host = Host(manifest=BUNDLE.manifest, probe_ok=False)
    assert install(host)
    assert any(c[0] == "put" for c in host.calls)


class Cluster:
    def remote_dir(self, node: str) -> str:
        return f"/var/lib/dynamo-harness/c/{node}"


class NoPython:
    name = "etcd"
    capabilities = Capabilities(operations=frozenset(), data_dir=True)


class OwnPython(NoPython):
    capabilities = Capabilities(operations=frozenset(), data_dir=True, host_python=True)

    def host_python(self, cluster: Any, node: str) -> str:
        return "/own/python"


def test_powerfs_runs_from_the_systems_python_or_from_a_venv_of_ours(tmp_path: Path) -> None:
    c = Cluster()
    ours = "/var/lib/dynamo-harness/c/n1/powerfs/venv/bin/python"
    assert power.host_python(NoPython(), c, "n1") == ours  # type: ignore[arg-type]
    assert power.host_python(OwnPython(), c, "n1") == "/own/python"  # type: ignore[arg-type]
    assert power.prepare(OwnPython(), tmp_path) is None  # type: ignore[arg-type]


def test_powerfs_imports_on_a_host_without_the_harness_ssh_dependencies() -> None:
    """The powerfs virtualenv has the project without its ``harness`` extra (no invoke,
    paramiko or fabric): ``python -m nemesis.powerfs`` must still import."""
    blocked = "import sys; sys.modules.update(dict.fromkeys(('invoke', 'paramiko', 'fabric')))"
    code = f"{blocked}; import nemesis.powerfs.__main__, nemesis.power"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
