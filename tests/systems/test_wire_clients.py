"""The adapters' own wire clients (RESP, etcd's JSON gateway) against servers made here.

What matters is the classification a checker relies on: refused before sending is ``fail``
(Definite), silence or a reset once the request is out is ``info`` (Indefinite).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import pytest

from systems.errors import Definite, Indefinite
from systems.etcd.gateway import Gateway, b64, prefix_end, read_response, unb64
from systems.redis.resp import Connection, ReplyError, encode, read_reply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def feed(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


def test_resp_encodes_commands_as_bulk_string_arrays() -> None:
    assert encode(["SADD", "s0", 7]) == b"*3\r\n$4\r\nSADD\r\n$2\r\ns0\r\n$1\r\n7\r\n"


def test_resp_reads_every_reply_kind() -> None:
    async def main() -> None:
        assert await read_reply(feed(b"+OK\r\n")) == b"OK"
        assert await read_reply(feed(b":42\r\n")) == 42
        assert await read_reply(feed(b"$-1\r\n")) is None
        assert await read_reply(feed(b"*2\r\n$1\r\n1\r\n$2\r\n22\r\n")) == [b"1", b"22"]
        err = await read_reply(feed(b"-READONLY You can't write against a read only replica.\r\n"))
        assert isinstance(err, ReplyError) and err.code == "READONLY"

    asyncio.run(main())


def test_resp_refused_connection_is_definite() -> None:
    async def main() -> None:
        c = Connection("127.0.0.1", free_port(), 1.0)
        with pytest.raises(Definite):
            await c.call("SET", "k", "v")

    asyncio.run(main())


def test_resp_error_reply_is_definite_and_silence_after_sending_is_indefinite() -> None:
    async def main() -> None:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(100)
            w.write(b"-READONLY no\r\n")
            await w.drain()
            await r.read(100)  # the second command: never answered
            await asyncio.sleep(5)

        server, port = await serve(handler)
        c = Connection("127.0.0.1", port, 0.3)
        with pytest.raises(ReplyError) as e:
            await c.call("SET", "k", "v")
        assert e.value.definite
        with pytest.raises(Indefinite):
            await c.call("SET", "k", "v")
        await c.close()
        server.close()

    asyncio.run(main())


def test_resp_reset_after_sending_is_indefinite() -> None:
    async def main() -> None:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(100)
            w.close()

        server, port = await serve(handler)
        c = Connection("127.0.0.1", port, 1.0)
        with pytest.raises(Indefinite):
            await c.call("SADD", "s", 1)
        server.close()

    asyncio.run(main())


def test_gateway_reads_chunked_and_sized_responses() -> None:
    async def main() -> None:
        sized = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        assert await read_response(feed(sized)) == (200, b"{}")
        chunked = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
        )
        assert await read_response(feed(chunked)) == (200, b'{"a":1}')

    asyncio.run(main())


def test_gateway_keys_are_base64_and_a_prefix_covers_its_set() -> None:
    assert unb64(b64("s0/12")) == "s0/12"
    assert prefix_end("s0/") == "s00"
    assert "s0/" <= "s0/999" < prefix_end("s0/") <= "s1/1"


def answering(status: int, body: dict[str, object]) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        data = json.dumps(body).encode()
        w.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(data), data))
        await w.drain()
        await asyncio.sleep(1)

    return handler


@pytest.mark.parametrize(
    ("status", "body", "definite"),
    [
        (503, {"error": "etcdserver: request timed out", "code": 14}, False),
        (400, {"error": "etcdserver: key is not provided", "code": 3}, True),
    ],
)
def test_gateway_classifies_etcds_errors(
    status: int, body: dict[str, object], definite: bool
) -> None:
    async def main() -> None:
        server, port = await serve(answering(status, body))
        g = Gateway("127.0.0.1", port, 1.0)
        with pytest.raises((Definite, Indefinite)) as e:
            await g.call("kv/put", {"key": b64("k")})
        assert e.value.definite is definite
        await g.close()
        server.close()

    asyncio.run(main())


def test_gateway_refused_is_definite_and_silence_is_indefinite() -> None:
    async def main() -> None:
        with pytest.raises(Definite):
            await Gateway("127.0.0.1", free_port(), 1.0).call("kv/put", {})

        async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server, port = await serve(silent)
        g = Gateway("127.0.0.1", port, 0.3)
        with pytest.raises(Indefinite):
            await g.call("kv/put", {})
        await g.close()
        server.close()

    asyncio.run(main())


def etcd_like(answers: list[tuple[int, dict[str, object]]], seen: list[str]) -> Handler:
    """Answer each request (keep-alive, any connection) with the next of ``answers``."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await r.readexactly(length)
                seen.append(head.split(b" ")[1].decode())
                status, body = answers.pop(0)
                data = json.dumps(body).encode()
                w.write(
                    b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(data), data)
                )
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    return handler


ELECTION = (503, {"error": "etcdserver: leader changed", "code": 14})


def test_etcd_read_is_retried_through_an_election_and_a_write_is_not() -> None:
    from systems.etcd.client import EtcdClient

    async def main() -> None:
        seen: list[str] = []
        kvs = {"kvs": [{"key": b64("s1/7")}, {"key": b64("s1/9")}]}
        answers = [ELECTION, ELECTION, (200, kvs), ELECTION]
        server, port = await serve(etcd_like(answers, seen))
        client = EtcdClient("127.0.0.1", 2.0, port=port)
        assert await client.read_set("s1") == {7, 9}
        assert seen == ["/v3/kv/range"] * 3
        with pytest.raises(Indefinite, match="leader changed"):
            await client.add("s1", 11)
        assert seen[3:] == ["/v3/kv/put"]
        await client.close()
        server.close()

    asyncio.run(main())


def test_etcd_read_gives_up_when_its_timeout_is_spent() -> None:
    from systems.etcd.client import EtcdClient

    async def main() -> None:
        seen: list[str] = []
        server, port = await serve(etcd_like([ELECTION] * 100, seen))
        client = EtcdClient("127.0.0.1", 0.4, port=port)
        with pytest.raises(Indefinite, match="leader changed"):
            await client.read("r1")
        assert 2 <= len(seen) < 10
        await client.close()
        server.close()

    asyncio.run(main())
