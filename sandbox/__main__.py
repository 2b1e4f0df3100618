"""Run the sandbox gateway in the foreground: python -m sandbox [--host] [--port] [--smpp-port] [--smtp-port] [--server asyncio|gunicorn]."""
from __future__ import annotations

import argparse
import ssl

from sandbox.server import SandboxServer, gunicorn_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--smpp-port", type=int, default=0,
                        help="also run the SMPP 3.4 server (SMSC) on this port; 0 = off (asyncio server only)")
    parser.add_argument("--smtp-port", type=int, default=0,
                        help="also run the SMTP server on this port; 0 = off (asyncio server only)")
    parser.add_argument("--smtp-tls-cert", default="", help="PEM certificate chain: the SMTP server offers STARTTLS")
    parser.add_argument("--smtp-tls-key", default="", help="PEM private key of --smtp-tls-cert")
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

        aioserver.run(args.host, args.port, args.smpp_port, args.smtp_port, smtp_tls_context(args))
        return
    SandboxServer(gunicorn_options(args.host, args.port, args.threads, args.log_level)).run()


def smtp_tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The SMTP server's TLS context, when a certificate and key are given."""
    if not args.smtp_tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.smtp_tls_cert, args.smtp_tls_key or None)
    return context


if __name__ == "__main__":
    main()
