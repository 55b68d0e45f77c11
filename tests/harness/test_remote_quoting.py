"""Remote commands are argument vectors: each element reaches the program as one argument,
whatever it holds; shell only through ``run_shell``, with values as positional parameters.

The command lines ``Remote`` sends are run here by a real ``sh -c`` (what sshd does with
them), so the test sees the arguments the remote program would get.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.remote import command_line, shell_line

NASTY = [
    "a name with spaces",
    "x; touch {canary}",
    "$(touch {canary})",
    "`touch {canary}`",
    'it\'s "quoted"',
    "-rf",
    "*",
    "tab\there\nnewline",
    "",
    "&& touch {canary} ||",
]
PRINT_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


def sh(line: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=False, cwd=cwd)


@pytest.fixture
def nasty(tmp_path):
    canary = tmp_path / "canary"
    return [a.format(canary=canary) for a in NASTY], canary


def test_every_element_of_argv_arrives_as_one_argument_unexpanded(nasty, tmp_path):
    args, canary = nasty
    r = sh(command_line([sys.executable, "-c", PRINT_ARGV, *args]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == args
    assert not canary.exists()


def test_a_path_with_spaces_and_a_semicolon_is_one_file(tmp_path):
    keep = tmp_path / "keep"
    keep.write_text("still here")
    odd = tmp_path / "odd name; rm -rf keep"
    r = sh(command_line(["touch", odd.name]), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert odd.exists() and keep.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["keep", odd.name])


def test_run_shell_passes_values_as_positional_parameters_never_into_the_script(nasty):
    args, canary = nasty
    script = f'code=$1; shift; {sys.executable} -c "$code" "$@" | cat'
    r = sh(shell_line(script, [PRINT_ARGV, *args]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == args
    assert not canary.exists()


@pytest.mark.parametrize("bad", ["rm -rf /tmp/x", b"ls"])
def test_a_string_command_is_refused_not_quoted_as_one_word(bad):
    with pytest.raises(TypeError, match="argument list"):
        command_line(bad)


def test_an_empty_command_is_refused():
    with pytest.raises(ValueError, match="empty"):
        command_line([])


def test_numbers_and_paths_are_passed_as_their_text(tmp_path):
    r = sh(command_line([sys.executable, "-c", PRINT_ARGV, 7, 0.5, tmp_path]))
    assert json.loads(r.stdout) == ["7", "0.5", str(tmp_path)]
