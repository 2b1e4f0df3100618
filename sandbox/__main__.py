"""Run the sandbox gateway in the foreground: python -m sandbox [--host] [--port] [--smpp-port] [--server asyncio|gunicorn]."""
from __future__ import annotations

import argparse

from sandbox.server import SandboxServer, gunicorn_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--smpp-port", type=int, default=0,
                        help="also run the SMPP 3.4 server (SMSC) on this port; 0 = off (asyncio server only)")
    parser.add_argument("--server", default="asyncio", choices=["asyncio", "gunicorn"],
                        help="asyncio: one event loop, one write per answer (default); gunicorn: gthread workers")
    parser.add_argument("--threads", type=int, default=32, help="gthread threads (gunicorn server only)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; logs go to stderr."""
    args = parse_args(argv)
    if args.server == "asyncio":
        from sandbox import aioserver

        aioserver.run(args.host, args.port, args.smpp_port)
        return
    SandboxServer(gunicorn_options(args.host, args.port, args.threads, args.log_level)).run()


if __name__ == "__main__":
    main()
