"""The report ingest process: gateways' callbacks on one asyncio event loop, many small requests cheaply.

`python -m app.api.ingest_server --bind 127.0.0.1:8001` serves the same Herald app as gunicorn,
built for what a gateway that posts one delivery report per request sends: thousands of small
keep-alive POSTs a second. A plain single report (app/api/report_ingest.py decides which) is
verified and parsed on the loop and handed to the process's group committer; its answer, 200
once committed, is written when the flusher calls back, so no thread waits per request.
Everything else (bulk callbacks, inbound messages, every refusal, any other path) runs through
the Flask app on a small thread pool, exactly as gunicorn would run it, so every answer but the
fast one has one author. Point gateways' report URLs (or the reverse proxy's /webhooks/) here.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import unquote

from app import create_app
from app.api import webhooks
from app.api.report_ingest import ANSWERS, prepare_report, report_target

log = logging.getLogger("herald.ingest")
MAX_HEAD_BYTES = 32 * 1024
# Idle keep-alive connections are closed after this long, as gunicorn's keepalive does.
IDLE_SECONDS = 75.0


class IngestServer:
    """The app, its fast path and the pool the rest runs on."""

    def __init__(self, app, host: str, port: int, threads: int) -> None:
        """Ready to serve `app` on host:port; `threads` run whatever is not the fast path."""
        self.app, self.host, self.port = app, host, port
        self.limit = app.config["HERALD_WEBHOOK_MAX_BYTES"]
        self.group_commit = app.config["HERALD_REPORT_GROUP_COMMIT"]
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest")

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection's requests in order until it closes, goes idle or sends garbage."""
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:
                request = await self._read_request(reader, peer)
                if request is None:
                    break
                environ, keep_alive = request
                writer.write(await self.answer(environ, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            pass
        except _BadRequest as exc:
            writer.write(_encode(exc.status, [("Content-Type", "text/plain")], exc.reason.encode(), False))
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, peer) -> tuple[dict, bool] | None:
        """The next request as a WSGI environ, and whether to keep the connection; None at a clean end."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise _BadRequest(HTTPStatus.BAD_REQUEST, "incomplete request head") from None
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "malformed request line") from None
        headers = [line.partition(":") for line in lines[1:]]
        environ = _environ(method, target, version, [(n.strip(), v.strip()) for n, _, v in headers], self, peer)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            raise _BadRequest(HTTPStatus.NOT_IMPLEMENTED, "chunked request bodies are not supported")
        length = environ.get("CONTENT_LENGTH", "0") or "0"
        if not length.isdigit():
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        # A body over the limit is still read (up to 16 times it) so Flask can answer 413 properly.
        if int(length) > 16 * self.limit:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        body = await reader.readexactly(int(length))
        environ["wsgi.input"] = io.BytesIO(body)
        keep_alive = version == "HTTP/1.1" and environ.get("HTTP_CONNECTION", "").lower() != "close"
        return environ, keep_alive

    async def answer(self, environ: dict, keep_alive: bool) -> bytes:
        """The fast path's answer for a plain single report, else Flask's."""
        target = report_target(environ, self.limit) if self.group_commit else None
        if target is not None:
            body = environ["wsgi.input"].getvalue()
            with self.app.app_context():
                report = prepare_report(environ, body, *target)
                committer = webhooks.report_committer() if report is not None else None
            if report is not None:
                created = await _committed(committer, target[0], report)
                if created is not None:
                    return _encode(200, [("Content-Type", "application/json")], ANSWERS[created], keep_alive)
        status, headers, payload = await asyncio.get_running_loop().run_in_executor(self.pool, self._flask, environ)
        return _encode(status, headers, payload, keep_alive)

    def _flask(self, environ: dict) -> tuple[int, list, bytes]:
        """Run the Flask app on one request, as a WSGI server would (on a pool thread)."""
        started: list = []
        chunks = self.app.wsgi_app(environ, lambda status, headers, exc_info=None: started.extend((status, headers)))
        try:
            payload = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return int(started[0].split(" ", 1)[0]), started[1], payload


async def _committed(committer, account: str, report) -> bool | None:
    """Whether the report was new, once committed; None when it could not be stored (Flask answers)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def done(created: bool, error: Exception | None) -> None:
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None if error else created))
    committer.submit(account, report, done)
    return await future


class _BadRequest(Exception):
    """A request that cannot be read: answered with `status` and the connection closed."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _environ(method: str, target: str, version: str, headers: list, server: IngestServer, peer) -> dict:
    """A WSGI environ for one request (PEP 3333)."""
    path, _, query = target.partition("?")
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
               "QUERY_STRING": query, "SERVER_NAME": server.host, "SERVER_PORT": str(server.port),
               "SERVER_PROTOCOL": version, "REMOTE_ADDR": peer[0], "REMOTE_PORT": str(peer[1]),
               "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
               "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        elif key:
            environ["HTTP_" + key] = f"{environ['HTTP_' + key]},{value}" if "HTTP_" + key in environ else value
    return environ


def _encode(status: int, headers: list, body: bytes, keep_alive: bool) -> bytes:
    """Status line, headers and body in one buffer."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers if name.lower() not in ("content-length", "connection")]
    lines += [f"Content-Length: {len(body)}", "Connection: keep-alive" if keep_alive else "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def serve(server: IngestServer) -> None:
    """Listen until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    listening = await asyncio.start_server(server.connection, server.host, server.port, limit=MAX_HEAD_BYTES,
                                           backlog=1024, reuse_address=True, reuse_port=True)
    log.info("report ingest listening on http://%s:%d", server.host, server.port)
    try:
        await stop
    finally:
        listening.close()
        server.pool.shutdown(wait=False)


def main() -> None:
    """`python -m app.api.ingest_server --bind HOST:PORT [--threads N]`."""
    parser = argparse.ArgumentParser(prog="python -m app.api.ingest_server")
    parser.add_argument("--bind", default="127.0.0.1:8001")
    parser.add_argument("--threads", type=int, default=8, help="threads for requests off the fast path")
    args = parser.parse_args()
    host, _, port = args.bind.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ingest %(levelname)s %(message)s")
    asyncio.run(serve(IngestServer(create_app(), host or "127.0.0.1", int(port), args.threads)))


if __name__ == "__main__":
    main()
