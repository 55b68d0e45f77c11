"""The register workload's choices: every delete carries the context of what it deletes."""

from __future__ import annotations

import random

from workloads.base import WorkerState
from workloads.register import RegisterWorkload


def test_after_an_empty_read_no_delete_is_made_and_after_a_full_one_deletes_carry_it() -> None:
    w = RegisterWorkload(1, read=0.0, blind=0.0, context_write=0.0)  # all deletes if it can
    rng = random.Random(7)
    empty, full = WorkerState(), WorkerState()
    empty.contexts["r0"] = ("ctx", [])
    full.contexts["r0"] = ("ctx", ["w-1", "w-2"])
    after_empty = [w.next_op(rng, empty) for _ in range(200)]
    assert {op["f"] for op in after_empty} == {"write"}
    assert all(op["context"] == [] for op in after_empty)
    after_full = [w.next_op(rng, full) for _ in range(200)]
    assert {op["f"] for op in after_full} == {"delete"}
    assert all(op["context"] == ["w-1", "w-2"] for op in after_full)
