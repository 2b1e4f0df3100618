"""The hot-path HTTP/1.1 exchange: framing by length, chunks or close; interim answers; failures."""
from __future__ import annotations

import socket

import pytest

from providers.http_exchange import AnswerLost, RequestNotSent, exchange, request_head


class _Conn:
    """A connected stand-in for a urllib3 connection, backed by one end of a socketpair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def connect(self) -> None:
        """Already connected."""


def _answer(raw: bytes):
    """Run one exchange against a peer that answers `raw` and closes."""
    ours, theirs = socket.socketpair()
    theirs.sendall(raw)
    theirs.shutdown(socket.SHUT_WR)
    try:
        response = exchange(_Conn(ours), request_head("POST", "/x", "gw", {"A": "b"}), b"k=v", 1.0, 1.0)
        sent = theirs.recv(65536)
        return response, sent
    finally:
        ours.close()
        theirs.close()


def test_writes_head_length_and_body_in_one_request():
    response, sent = _answer(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
    assert sent == b"POST /x HTTP/1.1\r\nHost: gw\r\nA: b\r\nContent-Length: 3\r\n\r\nk=v"
    assert (response.status, response.data, response.will_close) == (201, b"{}", False)


def test_chunked_answer_and_case_insensitive_headers():
    response, _ = _answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Retry-After-Ms: 250\r\n\r\n"
                          b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\nTrailer: x\r\n\r\n")
    assert response.data == b"abcdefg"
    assert response.headers.get("x-retry-after-ms") == response.headers.get("X-Retry-After-Ms") == "250"


def test_interim_answer_is_skipped_and_close_delimited_body_is_read_to_the_end():
    response, _ = _answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nwhole body")
    assert (response.status, response.data, response.will_close) == (200, b"whole body", True)


def test_connection_close_is_honoured():
    response, _ = _answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert response.will_close


def test_answer_cut_short_is_lost_not_unsent():
    with pytest.raises(AnswerLost):
        _answer(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(AnswerLost):
        _answer(b"garbage\r\n\r\n")


def test_write_failure_is_not_sent():
    ours, theirs = socket.socketpair()
    theirs.close()
    ours.close()
    with pytest.raises(RequestNotSent):
        exchange(_Conn(ours), b"POST / HTTP/1.1\r\n", b"", 1.0, 1.0)
