"""The collector policy of a node process (``dynamo.node.settle_gc``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from dynamo.node import GC_THRESHOLD, settle_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_gc_freezes_the_live_objects_and_raises_the_thresholds(restored_gc) -> None:
    kept = [[i] for i in range(1000)]
    settle_gc()
    assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_freeze_count() >= len(kept)


def test_cyclic_garbage_made_after_settling_is_still_collected_unasked(restored_gc) -> None:
    """The collector still runs by itself: a cycle made after ``settle_gc`` is gone once the
    young generation's threshold of new containers has been allocated, with no
    ``gc.collect()`` call."""
    settle_gc()

    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # unreachable, but reference counting cannot free a cycle
    churn = [[] for _ in range(GC_THRESHOLD[0] + 1000)]
    assert gone() is None
    del churn
