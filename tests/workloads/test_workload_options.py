"""``--workload-option KEY=VALUE``: a workload's keyword options, typed, checked before a run."""

from __future__ import annotations

import random
from collections import Counter

import pytest

import workloads
from workloads.base import WorkerState


def test_options_are_the_constructors_keyword_options_with_their_defaults() -> None:
    assert workloads.options_of("register") == {
        "read": 0.45,
        "blind": 0.25,
        "context_write": 0.25,
        "zipfian": False,
    }
    assert workloads.options_of("set") == {"read_ratio": 0.1}
    assert workloads.options_of("kv") == {}


def test_a_delete_heavy_register_mix_makes_deletes_where_it_knows_a_context() -> None:
    w = workloads.build("register", 10, ["read=0.5", "blind=0.05", "context-write=0.1"])
    state = WorkerState()
    for i in range(10):
        state.contexts[f"r{i}"] = ("ctx", ["w-1"])
    rng = random.Random(3)
    mix = Counter(op["f"] for op in (w.next_op(rng, state) for _ in range(4000)))
    assert 0.31 < mix["delete"] / 4000 < 0.39  # the rest of the mix: 35%
    assert 0.46 < mix["read"] / 4000 < 0.54


def test_values_take_their_defaults_types() -> None:
    w = workloads.build("register", None, ["zipfian=yes", "read=1", "blind=0", "context_write=0"])
    assert w._cum is not None and w.read == 1.0 and w.blind == 0.0  # type: ignore[attr-defined]
    s = workloads.build("set", 3, ["read_ratio=0.5"])
    assert s.read_ratio == 0.5 and len(s.keys) == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "options", "said"),
    [
        ("register", ["deletes=0.3"], "has no option 'deletes'; it takes blind, context_write"),
        ("register", ["read=0.9", "blind=0.2"], "summing to at most 1"),
        ("register", ["read=-0.1"], "read=-0.1"),
        ("register", ["zipfian=maybe"], "not a boolean"),
        ("set", ["read_ratio=1.5"], "read_ratio is a share in [0, 1]"),
        ("kv", ["read=0.5"], "it takes none"),
        ("set", ["read_ratio"], "takes KEY=VALUE"),
    ],
)
def test_bad_options_are_refused_naming_the_fault(name: str, options: list[str], said: str) -> None:
    with pytest.raises(ValueError, match=None) as e:
        workloads.build(name, None, options)
    assert said in str(e.value)
