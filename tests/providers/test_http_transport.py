"""The shared HTTP transport over real TLS (trustme) and through HTTP proxies, all on loopback."""
from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from at_gateway import Reply
from providers.africastalking import AfricasTalkingSMS
from providers.base import NotSent, OutboundMessage, ProviderConfigError
from providers.http_transport import HttpTransport

OUTBOUND = OutboundMessage(message_id=1, to="+260971234567", body="hi", idempotency_key="k1")


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with JSON naming its request target and the client's port."""

    protocol_version = "HTTP/1.1"
    timeout = 5

    def do_POST(self) -> None:
        """Echo the target and the client port, keeping the connection alive."""
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"path": self.path, "port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    """Threaded loopback server that does not wait on idle keep-alive threads."""

    daemon_threads = True
    block_on_close = False


@pytest.fixture(scope="module")
def ca():
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
def tls_server(ca):
    """An HTTPS echo server on 127.0.0.1 with a certificate for that address."""
    server = _Server(("127.0.0.1", 0), _Echo)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    """The CA's certificate as a PEM file."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _post(transport: HttpTransport) -> dict:
    """One POST through the transport; its JSON answer."""
    head = transport.request_head("POST", "/echo", {"Content-Type": "application/json"})
    response = transport.exchange(head, b"{}")
    assert response.status == 200
    return json.loads(response.data)


def test_requests_over_real_tls_reuse_one_kept_alive_connection(tls_server, ca_file):
    transport = HttpTransport("test", tls_server, connect_timeout=2, read_timeout=2, ca_certs=ca_file)
    try:
        first, second = _post(transport), _post(transport)
    finally:
        transport.close()

    assert first["path"] == "/echo" and first["port"] == second["port"]


def test_a_certificate_from_an_unknown_authority_is_not_sent(tls_server):
    transport = HttpTransport("test", tls_server, connect_timeout=2, read_timeout=2)

    with pytest.raises(NotSent) as caught:
        _post(transport)
    assert caught.value.code == "tls_failed" and caught.value.gateway_fault == "down"


class _Proxy(socketserver.ThreadingTCPServer):
    """A loopback proxy: CONNECT tunnels, and forwards absolute-form requests; records each first line."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.lines: list[str] = []


class _ProxyHandler(socketserver.BaseRequestHandler):
    """Reads the first request head, opens the upstream connection, then relays bytes both ways."""

    def handle(self) -> None:
        """Tunnel or forward one client connection."""
        client = self.request
        client.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        self.server.lines.append(line)
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=5)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            hostport = target.split("/")[2]
            host, port = hostport.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=5)
            upstream.sendall(head)
        _relay(client, upstream)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    other.start()
    pump(client, upstream)
    other.join(timeout=5)
    upstream.close()


@pytest.fixture
def proxy():
    """A running loopback proxy."""
    server = _Proxy()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_https_goes_through_a_connect_tunnel_with_the_gateways_certificate_checked(tls_server, ca_file, proxy):
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    transport = HttpTransport("test", tls_server, connect_timeout=2, read_timeout=2, ca_certs=ca_file,
                              proxy_url=proxy_url)
    try:
        first, second = _post(transport), _post(transport)
    finally:
        transport.close()

    # One tunnel for both requests (http.client speaks CONNECT as HTTP/1.0).
    assert [line.rsplit(" ", 1)[0] for line in proxy.lines] == [f"CONNECT {tls_server.removeprefix('https://')}"]
    assert first["path"] == "/echo" and first["port"] == second["port"]


def test_http_is_forwarded_with_the_absolute_uri(gateway, proxy):
    gateway.answer(Reply(201, {"SMSMessageData": {"Message": "Sent", "Recipients": [
        {"statusCode": 101, "number": "+260971234567", "status": "Success", "cost": "ZMW 0.25",
         "messageId": "ATX1", "messageParts": 1}]}}))
    adapter = AfricasTalkingSMS(base_url=gateway.url, username="u", api_key="k",
                                proxy_url=f"http://127.0.0.1:{proxy.server_address[1]}")
    try:
        assert adapter.send(OUTBOUND).provider_message_id == "ATX1"
    finally:
        adapter.close()

    assert proxy.lines == [f"POST {gateway.url}/version1/messaging HTTP/1.1"]


def test_a_proxy_that_does_not_listen_is_not_sent(closed_port):
    transport = HttpTransport("test", "https://gateway.example", connect_timeout=0.5, read_timeout=0.5,
                              proxy_url=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(NotSent):
        _post(transport)


def test_a_proxy_url_that_is_not_http_is_a_config_error():
    with pytest.raises(ProviderConfigError, match="proxy_url"):
        HttpTransport("test", "https://gateway.example", connect_timeout=1, read_timeout=1, proxy_url="socks5://x:1")
