"""The Vagrantfile and the vagrant provider, as far as a machine without VMs can check them:
Ruby syntax, ``vagrant validate``, the shared layout file, and parsing ``vagrant ssh-config``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.exitcodes import ExitCode
from harness.providers.vagrant import hosts_from_ssh_config

VAGRANT = Path(__file__).resolve().parents[2] / "vagrant"

SSH_CONFIG = """\
Host n1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/dynamo-harness/vagrant/.vagrant/machines/n1/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host n2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/me/dynamo-harness/vagrant/.vagrant/machines/n2/virtualbox/private_key"
"""


def vagrant_env(tmp_path: Path) -> dict[str, str]:
    """Keep Vagrant's state and the generated key out of the tree and out of $HOME."""
    return dict(
        os.environ,
        VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"),
        VAGRANT_HOME=str(tmp_path / "home"),
        DH_VAGRANT_KEY_DIR=str(tmp_path / "key"),
        VAGRANT_CHECKPOINT_DISABLE="1",
    )


@pytest.mark.skipif(shutil.which("ruby") is None, reason="needs ruby")
def test_vagrantfile_is_valid_ruby() -> None:
    r = subprocess.run(
        ["ruby", "-c", str(VAGRANT / "Vagrantfile")], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stderr


@pytest.mark.skipif(
    shutil.which("vagrant") is None, reason="needs vagrant (apt-get install vagrant)"
)
def test_vagrant_validates_the_control_vm_and_five_nodes(tmp_path: Path) -> None:
    r = subprocess.run(
        ["vagrant", "validate", "--ignore-provider"],
        cwd=VAGRANT,
        capture_output=True,
        text=True,
        timeout=120,
        env=vagrant_env(tmp_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validated successfully" in r.stdout
    for name in ("control", "n1", "n2", "n3", "n4", "n5"):
        assert f"{name}:" in r.stdout
    assert (tmp_path / "key" / "id_ed25519.pub").exists()


def test_layout_is_five_nodes_on_one_private_network_and_debian_12() -> None:
    layout = json.loads((VAGRANT / "nodes.json").read_text())
    assert layout["box"] == "debian/bookworm64"
    assert list(layout["nodes"]) == ["n1", "n2", "n3", "n4", "n5"]
    nets = {a.rsplit(".", 1)[0] for a in [layout["control"], *layout["nodes"].values()]}
    assert len(nets) == 1
    text = (VAGRANT / "Vagrantfile").read_text()
    assert 'scripts", "prepare-node.sh"' in text  # the one node-preparation script


def test_ssh_config_hosts_become_root_logins_with_vagrants_keys() -> None:
    hosts = hosts_from_ssh_config(SSH_CONFIG, ["n1", "n2"], connect_timeout=3)
    assert [(h.name, h.address, h.port, h.user) for h in hosts] == [
        ("n1", "127.0.0.1", 2222, "root"),
        ("n2", "127.0.0.1", 2200, "root"),
    ]
    assert str(hosts[1].key_file).endswith("n2/virtualbox/private_key")
    with pytest.raises(ValueError, match="n3"):
        hosts_from_ssh_config(SSH_CONFIG, ["n1", "n3"], connect_timeout=3)


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant")
def test_vagrant_provider_without_vms_fails_with_a_clear_error(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in vagrant_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    r = cli(
        "run",
        "--provider",
        "vagrant",
        "--vagrant-dir",
        str(VAGRANT),
        "--store",
        str(tmp_path / "store"),
        timeout=180,
    )
    assert r.returncode == ExitCode.HARNESS_FAILED
    assert "vagrant ssh-config failed" in r.stderr
