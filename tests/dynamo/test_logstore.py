"""The log engine's own laws: replay after a torn tail, refusal of corrupt acknowledged data,
compaction that keeps every live key, hint and metadata value (and survives a crash at any
step), and a model-based test against a dict. The shared storage behaviour is pinned for
both engines in test_storage.py."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo import logstore
from dynamo.logstore import HEADER, CorruptLog, LogStorage, frames
from dynamo.storage import HASH_PREFIX_BITS, hash_prefix, prefix_range
from dynamo.versions import VersionedObject, update


def obj(value: bytes) -> VersionedObject:
    new = update(VersionedObject(), {}, "n1.a.1", value, 1.0)
    new.actor = "n1.a.1"
    return new


def values(store: LogStorage, key: str) -> list[bytes] | None:
    got = store.get(key)
    return None if got is None else got.values


async def fill(store: LogStorage, n: int, prefix: str = "k") -> None:
    await asyncio.gather(*(store.put(f"{prefix}{i}", obj(b"v%d" % i)) for i in range(n)))


def write(path: Path, n: int, **kw: Any) -> LogStorage:
    """A store holding keys k0..k{n-1}, one batch per key (so one frame each)."""

    async def run() -> LogStorage:
        store = LogStorage(path, **kw)
        for i in range(n):
            await store.put(f"k{i}", obj(b"v%d" % i))
        return store

    return asyncio.run(run())


def crash(store: LogStorage) -> None:
    """Stop as a killed process would: nothing flushed, files simply let go."""
    store._closed = True
    store._queue.put(None)
    store._thread.join()
    os.close(store._fd)
    os.close(store._dir_lock)


def test_a_torn_tail_is_cut_off_and_the_rest_replays(tmp_path: Path) -> None:
    write(tmp_path / "log", 10).close()
    current = tmp_path / "log" / "current"
    *_, (_, whole, _) = frames(current.read_bytes(), "")
    with open(current, "r+b") as f:
        f.truncate(whole - 3)  # the last batch's write reached disk only in part
    again = LogStorage(tmp_path / "log")
    try:
        assert again.count() == 9 and values(again, "k8") == [b"v8"] and again.get("k9") is None
        assert current.stat().st_size < whole - 3  # cut back to the last whole frame
    finally:
        again.close()
    LogStorage(tmp_path / "log").close()  # and it opens again


def test_zeros_after_the_last_frame_are_a_torn_tail(tmp_path: Path) -> None:
    write(tmp_path / "log", 5).close()
    with open(tmp_path / "log" / "current", "ab") as f:
        f.write(bytes(4096))  # a size extended on disk whose data never arrived
    again = LogStorage(tmp_path / "log")
    assert again.count() == 5
    again.close()


def test_a_corrupt_frame_with_data_after_it_refuses_to_open(tmp_path: Path) -> None:
    write(tmp_path / "log", 10).close()
    current = tmp_path / "log" / "current"
    data = bytearray(current.read_bytes())
    length, _ = HEADER.unpack_from(data, 0)
    second = HEADER.size + length  # the second frame: acknowledged, with eight after it
    data[second + HEADER.size + 5] ^= 0xFF
    current.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match=f"current: corrupt frame at offset {second} "):
        LogStorage(tmp_path / "log")
    assert current.read_bytes() == bytes(data)  # nothing cut


def damage_header(data: bytearray, pos: int, how: str) -> None:
    if how == "zeroed":  # a sector that never reached the disk, or was lost
        data[pos : pos + HEADER.size] = bytes(HEADER.size)
    else:  # a length that claims more than the file holds
        data[pos : pos + 4] = (1 << 31).to_bytes(4, "little")


@pytest.mark.parametrize("how", ["zeroed", "overlong"])
def test_a_bad_header_with_good_frames_after_it_refuses_to_open(tmp_path: Path, how: str) -> None:
    """Not a torn tail: cutting there would drop eight acknowledged batches."""
    write(tmp_path / "log", 10).close()
    current = tmp_path / "log" / "current"
    data = bytearray(current.read_bytes())
    (_, second, _), (_, third, _), *_ = frames(bytes(data), "")
    damage_header(data, second, how)
    current.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match=f"header at offset {second}, a good frame at {third}"):
        LogStorage(tmp_path / "log")
    assert current.read_bytes() == bytes(data)  # nothing cut


@pytest.mark.parametrize("how", ["zeroed", "overlong"])
def test_a_bad_header_on_the_last_frame_is_a_torn_tail(tmp_path: Path, how: str) -> None:
    """The last batch's pages reached the disk out of order: its body, not its header."""
    write(tmp_path / "log", 10).close()
    current = tmp_path / "log" / "current"
    data = bytearray(current.read_bytes())
    *_, (last, _, _) = frames(bytes(data), "")
    damage_header(data, last, how)
    current.write_bytes(bytes(data))
    again = LogStorage(tmp_path / "log")
    try:
        assert again.count() == 9 and again.get("k9") is None
        assert current.stat().st_size == last
    finally:
        again.close()


def test_a_second_process_cannot_open_the_same_log(tmp_path: Path) -> None:
    store = LogStorage(tmp_path / "log")
    try:
        with pytest.raises(RuntimeError, match="in use"):
            LogStorage(tmp_path / "log")
    finally:
        store.close()


async def _churn(store: LogStorage) -> None:
    """Overwrites, deletes, hints and metadata: most of the file dead."""
    for round in range(5):
        await asyncio.gather(*(store.put(f"k{i}", obj(b"r%d" % round)) for i in range(200)))
    await asyncio.gather(*(store.delete(f"k{i}") for i in range(150, 200)))
    await store.put("hinted", obj(b"h"), hint="n4")
    await store.put("hinted", obj(b"h2"), hint="n5")
    await store.put("gone-but-hinted", obj(b"g"), hint="n4")
    await store.delete("gone-but-hinted")
    await store.put("unhinted", obj(b"u"), hint="n4")
    await store.unhint("n4", "unhinted")
    store.meta_set("incarnation", "abc")
    store.meta_set("actor_lease", "1")
    store.meta_set("actor_lease", "2")


def _check(store: LogStorage) -> None:
    assert store.count() == 150 + 2
    assert all(values(store, f"k{i}") == [b"r4"] for i in range(150))
    assert all(store.get(f"k{i}") is None for i in range(150, 200))
    assert values(store, "hinted") == [b"h2"] and values(store, "unhinted") == [b"u"]
    assert store.hints == {"hinted": {"n4", "n5"}, "gone-but-hinted": {"n4"}}
    assert (store.meta_get("incarnation"), store.meta_get("actor_lease")) == ("abc", "2")
    assert sorted(k for k, _ in store.scan(0, 1 << 32)) == sorted(
        [*(f"k{i}" for i in range(150)), "hinted", "unhinted"]
    )


@pytest.mark.parametrize("partitions", [1, 64, 8192])
def test_a_scan_yields_exactly_the_partitions_keys_in_order_after_reopen_and_compaction(
    tmp_path: Path, partitions: int
) -> None:
    """``scan`` looks in the buckets a partition covers (a partition of 8,192 is narrower
    than a bucket); deleted keys leave their bucket; reopen and compaction keep them."""

    prefixes = {f"k{i}": hash_prefix(f"k{i}") for i in range(400)}

    def check(store: LogStorage, live: list[str]) -> None:
        width = (1 << HASH_PREFIX_BITS) // partitions
        want: dict[int, list[str]] = {}
        for key in sorted(live):
            want.setdefault(prefixes[key] // width, []).append(key)
        for p in range(partitions):
            got = [k for k, _ in store.scan(*prefix_range(p, partitions))]
            assert got == want.get(p, []), p

    async def scenario() -> None:
        store = LogStorage(tmp_path / "log", compact_min=0)
        await fill(store, 400)
        await asyncio.gather(*(store.delete(f"k{i}") for i in range(0, 400, 3)))
        live = [f"k{i}" for i in range(400) if i % 3]
        check(store, live)
        store.compact()
        check(store, live)
        store.close()
        store = LogStorage(tmp_path / "log")
        check(store, live)
        store.close()

    asyncio.run(scenario())


def test_compaction_keeps_live_keys_hints_and_metadata_and_drops_the_rest(
    tmp_path: Path,
) -> None:
    async def run() -> None:
        store = LogStorage(tmp_path / "log", compact_min=0, cache_objects=10)
        await _churn(store)
        assert store.compactions > 0  # the writer compacted on its own along the way
        before = (tmp_path / "log" / "current").stat().st_size
        store.compact()
        assert (tmp_path / "log" / "current").stat().st_size <= before
        _check(store)  # reads (mostly cache misses) see the new file
        await store.put("after", obj(b"a"))  # and writes go on appending to it
        store.close()

    asyncio.run(run())
    again = LogStorage(tmp_path / "log")
    try:
        assert values(again, "after") == [b"a"]

        async def forget() -> None:
            await again.delete("after")

        asyncio.run(forget())
        _check(again)
    finally:
        again.close()
    assert sorted(os.listdir(tmp_path / "log")) == ["current"]


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", ["written", "synced", "renamed", "dir synced"])
def test_a_crash_at_any_step_of_a_compaction_leaves_a_whole_store(
    tmp_path: Path, step: str
) -> None:
    async def run() -> LogStorage:
        store = LogStorage(tmp_path / "log", compact_min=1 << 40)
        await _churn(store)
        return store

    store = asyncio.run(run())

    def reached(name: str) -> None:
        if name == step:
            raise Crash(name)

    store._reached = reached  # type: ignore[method-assign]
    with pytest.raises(Crash):
        store._compact()  # on this thread: the writer is idle
    crash(store)
    if step == "written":  # power lost too: the unsynced new file kept only a part
        compact = tmp_path / "log" / "compact"
        compact.write_bytes(compact.read_bytes()[:100])
    again = LogStorage(tmp_path / "log", cache_objects=1)
    try:
        _check(again)
    finally:
        again.close()
    assert sorted(os.listdir(tmp_path / "log")) == ["current"]


def test_a_failed_write_fails_its_batch_and_leaves_the_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_all = logstore._write_all

    def disk_full(fd: int, data: bytes, offset: int) -> None:
        real_write_all(fd, data[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    async def run() -> None:
        store = LogStorage(tmp_path / "log")
        await store.put("a", obj(b"1"))
        monkeypatch.setattr(logstore, "_write_all", disk_full)
        with pytest.raises(OSError, match="No space"):
            await store.put("b", obj(b"2"))
        assert store.get("b") is None  # the cache forgot it
        monkeypatch.setattr(logstore, "_write_all", real_write_all)
        await store.put("c", obj(b"3"))
        store.close()

    asyncio.run(run())
    again = LogStorage(tmp_path / "log")
    try:
        assert (values(again, "a"), again.get("b"), values(again, "c")) == ([b"1"], None, [b"3"])
    finally:
        again.close()


keys = st.sampled_from(["a", "b", "c", "d", "e"])
targets = st.sampled_from(["n4", "n5"])
ops = st.one_of(
    st.tuples(st.just("put"), keys, st.binary(max_size=40), st.none() | targets),
    st.tuples(st.just("delete"), keys),
    st.tuples(st.just("unhint"), keys, targets),
    st.tuples(st.just("meta"), st.sampled_from(["x", "y"]), st.text(max_size=10)),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("compact")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ops, max_size=40), st.sampled_from([0, 1 << 30]))
def test_the_log_behaves_like_a_dict_across_reopens_and_compactions(
    script: list[tuple[Any, ...]], compact_min: int
) -> None:
    objects: dict[str, bytes] = {}
    hints: dict[str, set[str]] = {}
    meta: dict[str, str] = {}

    async def run(path: Path) -> None:
        store = LogStorage(path, compact_min=compact_min, cache_objects=2)
        for op, *args in script:
            if op == "put":
                key, value, hint = args
                objects[key] = value
                if hint is not None:
                    hints.setdefault(key, set()).add(hint)
                await store.put(key, obj(value), hint=hint)
            elif op == "delete":
                objects.pop(args[0], None)
                await store.delete(args[0])
            elif op == "unhint":
                key, target = args
                hints.get(key, set()).discard(target)
                await store.unhint(target, key)
            elif op == "meta":
                meta[args[0]] = args[1]
                store.meta_set(args[0], args[1])
            elif op == "reopen":
                store.close()
                store = LogStorage(path, compact_min=compact_min, cache_objects=2)
            else:
                store.compact()
            model_hints = {k: t for k, t in hints.items() if t}
            assert store.hints == model_hints
            assert {k: values(store, k) for k in "abcde"} == {
                k: [objects[k]] if k in objects else None for k in "abcde"
            }
            assert [k for k, _ in store.scan(0, 1 << 32)] == sorted(objects)
            assert store.count() == len(objects)
            assert {n: store.meta_get(n) for n in "xy"} == {n: meta.get(n) for n in "xy"}
        store.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "log"))


def test_replay_pauses_the_collector_and_gives_it_back_as_it_was(tmp_path: Path) -> None:
    write(tmp_path / "log", 3).close()
    seen: list[bool] = []
    original = LogStorage._apply

    def spy(self: LogStorage, base: int, body: bytes) -> None:
        seen.append(gc.isenabled())
        original(self, base, body)

    try:
        LogStorage._apply = spy  # type: ignore[method-assign]
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            LogStorage(tmp_path / "log").close()
            assert gc.isenabled() is enabled
    finally:
        LogStorage._apply = original  # type: ignore[method-assign]
        gc.enable()
    assert seen == [False] * 6
