"""One exchange over real HTTP on 127.0.0.1: the whole-request deadline and the body cap while decoding."""

from __future__ import annotations

import gzip
import resource
import time
import zlib

import httpx
import orjson
import pytest

from exporter import transport
from exporter.transport import (
    MAX_RESPONSE_BYTES,
    BodyTooLarge,
    UndecodableBody,
    UnsupportedEncoding,
    build_pool,
    core_url,
    exchange,
    read_body,
)
from tests.hostile_server import gzip_bomb, hostile_server

ONE_ROW = b'{"solutionName":"INV_OOTB","operationType":"UPSERT","data":[{"order_number":"1"}]}'
PATH = "/api/v2/ingest/object/X"


def post(base_url: str, timeout: float = 2.0) -> transport.Exchange:
    with build_pool(1) as pool:
        return exchange(pool, "POST", core_url(base_url + PATH), ONE_ROW, {"Content-Type": "application/json"},
                        timeout)


def test_the_pool_is_httpcores_public_pool_with_the_deadline_backend() -> None:
    import httpcore

    with build_pool(2) as pool:
        assert isinstance(pool, httpcore.ConnectionPool)
    with hostile_server("ok") as server:
        answer = post(server.base_url)
    assert answer.status == 200 and orjson.loads(answer.body)["accepted"] == 1


@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers", "endless_trickle"])
def test_a_server_trickling_one_byte_a_second_is_abandoned_at_the_timeout(mode: str) -> None:
    with hostile_server(mode) as server:
        began = time.monotonic()
        with pytest.raises(Exception) as caught:
            post(server.base_url, timeout=1.0)
        elapsed = time.monotonic() - began
    assert isinstance(caught.value, transport.TRANSPORT_ERRORS)
    assert "did not complete within --timeout (1 s)" in str(caught.value)
    assert elapsed < 1.0 + 0.6


def test_stacked_gzip_bomb_stops_at_the_cap_while_decoding() -> None:
    """370 bytes of ``gzip, gzip`` that decode to 128 MiB: abandoned at 16 MB, never decoded whole."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with hostile_server("gzip_bomb_stacked") as server, pytest.raises(BodyTooLarge, match="over 16 MB once decoded"):
        post(server.base_url)
    assert len(gzip_bomb(2, 128)) < 5 * 1024
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 80 * 1024  # KiB: at most ~cap x 4


def test_no_decoding_stage_produces_more_than_the_cap() -> None:
    produced: list[int] = []
    bomb = gzip_bomb(2, 128)

    class Counting(transport._Inflater):
        def feed(self, data: bytes) -> bytes:
            out = super().feed(data)
            produced.append(len(out))
            return out

    original = transport._Inflater
    transport._Inflater = Counting  # type: ignore[misc]
    try:
        with pytest.raises(BodyTooLarge):
            read_body(200, httpx.Headers({"Content-Encoding": "gzip, gzip"}), [bomb[i:i + 64]
                                                                                  for i in range(0, len(bomb), 64)])
    finally:
        transport._Inflater = original  # type: ignore[misc]
    assert max(produced) <= MAX_RESPONSE_BYTES and sum(produced) <= 2 * MAX_RESPONSE_BYTES


def test_a_stack_of_encodings_is_undone_in_order() -> None:
    with hostile_server("gzip_gzip_ok") as server:
        answer = post(server.base_url)
    assert orjson.loads(answer.body)["accepted"] == 1
    body = b'{"ok": true}'
    for encoding, encoded in [("deflate", zlib.compress(body)),
                              ("deflate", _raw_deflate(body)),
                              ("gzip, identity", gzip.compress(body)),
                              ("identity", body),
                              ("deflate, gzip", gzip.compress(zlib.compress(body)))]:
        assert read_body(200, httpx.Headers({"Content-Encoding": encoding}), [encoded]) == body, encoding


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_an_encoding_that_cannot_be_bounded_is_unsupported(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="unsupported encoding"):
        read_body(200, httpx.Headers({"Content-Encoding": encoding}), [b"\x00" * 10])


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b'{"accepted": 1}')[:-12]],
                         ids=["not gzip", "truncated"])
def test_a_body_that_does_not_decode_as_labelled_is_undecodable(body: bytes) -> None:
    with pytest.raises(UndecodableBody, match="cannot be decoded as gzip"):
        read_body(200, httpx.Headers({"Content-Encoding": "gzip"}), [body])


SUCCESS = b'{"accepted": 2, "failed": []}'


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 10_000], ids=lambda n: f"chunks of {n}")
def test_every_gzip_member_of_a_body_is_decoded_and_zero_padding_ignored(size: int) -> None:
    two_members = gzip.compress(SUCCESS[:10]) + gzip.compress(SUCCESS[10:])
    padded = gzip.compress(SUCCESS) + b"\x00" * 5

    assert read_body(200, httpx.Headers({"Content-Encoding": "gzip"}), _chunked(two_members, size)) == SUCCESS
    assert read_body(200, httpx.Headers({"Content-Encoding": "gzip"}), _chunked(padded, size)) == SUCCESS


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", gzip.compress(SUCCESS) + b"<html>proxy</html>"),
    ("gzip", gzip.compress(SUCCESS) + b"\x00\x00x"),
    ("gzip", gzip.compress(SUCCESS) + b"\x1f"),
    ("deflate", zlib.compress(SUCCESS) + b"x"),
], ids=["text after the stream", "text after padding", "half a member's magic", "deflate with trailing bytes"])
@pytest.mark.parametrize("size", [1, 10_000], ids=lambda n: f"chunks of {n}")
def test_bytes_after_the_compressed_stream_make_the_body_undecodable(encoding: str, body: bytes, size: int) -> None:
    """Before, whatever followed the first stream was dropped: a body read in part passed for the API's answer."""
    with pytest.raises(UndecodableBody, match=f"cannot be decoded as {encoding}"):
        read_body(200, httpx.Headers({"Content-Encoding": encoding}), _chunked(body, size))


def test_a_plain_body_over_the_cap_is_stopped_as_it_streams() -> None:
    with hostile_server("huge_body") as server, pytest.raises(BodyTooLarge, match="HTTP 200 with a body over 16 MB"):
        post(server.base_url, timeout=10)


def test_the_http_layer_reaches_into_no_private_httpx_or_httpcore_attribute() -> None:
    """Today's client patched ``transport._pool._network_backend``, which the next httpcore release may break."""
    import ast
    import inspect

    from exporter import classify, client

    for module in (transport, classify, client):
        attributes = {node.attr for node in ast.walk(ast.parse(inspect.getsource(module)))
                      if isinstance(node, ast.Attribute)}
        assert not {"_pool", "_network_backend"} & attributes, module.__name__
