"""Every mutant's patch still applies to this tree and gives code that compiles (fast: no
cluster), so a change to the node cannot quietly retire a mutant."""

from __future__ import annotations

import py_compile
import subprocess
from pathlib import Path

import pytest

from tests.mutants.run import HERE, MUTANTS, apply, copy_tree


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_patch_applies_and_compiles(name: str, tmp_path: Path) -> None:
    copy_tree(tmp_path)
    patch = HERE / f"{name}.patch"
    apply(patch, tmp_path)
    changed = [
        line.removeprefix("+++ b/")
        for line in patch.read_text().splitlines()
        if line.startswith("+++ b/")
    ]
    assert changed
    for path in changed:
        assert "MUTANT" in (tmp_path / path).read_text()
        py_compile.compile(str(tmp_path / path), doraise=True)
    r = subprocess.run(["git", "status", "--porcelain"], cwd=HERE, capture_output=True, text=True)
    assert not any(ln.endswith(".orig") or ln.endswith(".rej") for ln in r.stdout.splitlines())


def test_every_mutant_has_a_patch() -> None:
    assert {p.stem for p in HERE.glob("*.patch")} == set(MUTANTS)
