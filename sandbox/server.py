"""Gunicorn, configured in code: one gthread worker, keep-alive, no access log."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


def _worker_exit(server, worker) -> None:
    """Stop the report senders when the worker process ends."""
    from sandbox import wsgi

    wsgi.shutdown()


def gunicorn_options(host: str, port: int, threads: int, log_level: str) -> dict:
    """The settings the sandbox always runs with."""
    return {
        "bind": [f"{host}:{port}"],
        # One process: the ledger and dedup store are in-process state.
        "workers": 1,
        # gthread keeps connections alive; the sync worker closes each one.
        "worker_class": "gthread",
        # Enough threads that configured latency does not serialise requests.
        "threads": threads,
        "keepalive": 75,
        # An access log line per request would cost more than the request itself.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": log_level,
        # Several sandboxes (tests, demos) may run at once; a shared control socket would clash.
        "control_socket_disable": True,
        "graceful_timeout": 5,
        "proc_name": "herald-sandbox",
        "worker_exit": _worker_exit,
    }


class SandboxServer(BaseApplication):
    """A gunicorn application that never reads gunicorn.conf.py or GUNICORN_CMD_ARGS."""

    def __init__(self, options: dict) -> None:
        """Remember the options load_config() will apply."""
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options instead of parsing a command line or config file."""
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self):
        """Import the WSGI app inside the worker, so its state is created there."""
        from sandbox.wsgi import app

        return app
