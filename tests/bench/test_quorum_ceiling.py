"""The bench's durable ceiling (``bench/quorum_ceiling.py --durable``) acknowledges a write
only once it is in its file: a floor that skipped the disk would make the node look slow."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from dynamo.cluster import free_ports

CEILING = Path(__file__).parents[2] / "bench" / "quorum_ceiling.py"
HEADER = struct.Struct(">I")


def call(sock: socket.socket, msg: dict[str, object]) -> dict[str, object]:
    body = msgpack.packb(msg, use_bin_type=True)
    sock.sendall(HEADER.pack(len(body)) + body)
    (length,) = HEADER.unpack(recv(sock, HEADER.size))
    reply: dict[str, object] = msgpack.unpackb(recv(sock, length), raw=False)
    return reply


def recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the ceiling closed the connection"
        data += chunk
    return data


@pytest.fixture
def ceiling(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    args = ["--name", "n1", "--listen", address, "--peers", f"n1={address}"]
    proc = subprocess.Popen([sys.executable, str(CEILING), *args, "--durable", str(tmp_path)])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert proc.poll() is None, "the ceiling exited"
                assert time.monotonic() < deadline, "the ceiling did not listen"
                time.sleep(0.05)
        with sock:
            yield sock, tmp_path / "n1.log"
    finally:
        proc.terminate()
        proc.wait()


def test_a_durable_ceiling_acknowledges_each_replica_put_once_it_is_in_the_file(
    ceiling: tuple[socket.socket, Path],
) -> None:
    sock, log = ceiling
    records = []
    for i in range(20):
        obj = {"s": [["c", i + 1, 0.0, b"v%d" % i]], "v": {"c": i + 1}}
        reply = call(sock, {"op": "replica_put", "id": i, "key": f"k{i}", "obj": obj})
        assert reply == {"id": i, "ok": True}
        records.append([f"k{i}", obj])
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(log.read_bytes().rstrip(b"\0"))
        assert list(unpacker) == records
