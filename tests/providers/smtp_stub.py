"""A loopback SMTP server that follows a script, for the faults a real server will not stage on cue:
silence, a close at a chosen command, a reply trickled byte by byte."""
from __future__ import annotations

import socket
import threading
import time

CLOSE = "close"  # close the connection instead of answering
SILENT = "silent"  # answer nothing until the client leaves
TRICKLE = "trickle"  # send a reply one byte every TRICKLE_GAP_S
TRICKLE_GAP_S = 0.1
# Every wait of the stub is bounded: a test that forgets it never hangs the suite.
MAX_CONNECTION_S = 10.0


class ScriptedMta:
    """Answers each command by the script (verb -> reply line or CLOSE/SILENT/TRICKLE); "." is the final reply.

    Commands not in the script get the usual positive answer. `after_final` (CLOSE) ends the
    connection once a message was answered.
    """

    DEFAULTS = {"greeting": "220 stub ESMTP", "EHLO": "250-stub\r\n250 SIZE 1000000", "MAIL": "250 OK",
                "RCPT": "250 OK", "DATA": "354 go ahead", ".": "250 OK queued", "RSET": "250 OK",
                "NOOP": "250 OK", "QUIT": "221 bye"}

    def __init__(self, script: dict | None = None, after_final: str | None = None) -> None:
        """Listen on a free loopback port; serve on a thread until stop()."""
        self.script = {**self.DEFAULTS, **(script or {})}
        self.after_final = after_final
        self.connections = 0
        self.commands: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the port."""
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        """Accept connections, one at a time, until stopped."""
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            self.connections += 1
            threading.Thread(target=self._converse, args=(connection,), daemon=True).start()

    def _converse(self, connection: socket.socket) -> None:
        """Run the script on one connection."""
        connection.settimeout(MAX_CONNECTION_S)
        reader = connection.makefile("rb")
        try:
            if self._answer(connection, "greeting"):
                self._commands(connection, reader)
        except OSError:
            pass
        finally:
            reader.close()
            connection.close()

    def _commands(self, connection: socket.socket, reader) -> None:
        """Answer commands until the script closes or the client leaves."""
        deadline = time.monotonic() + MAX_CONNECTION_S
        while time.monotonic() < deadline:
            line = reader.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().decode("ascii", "replace").upper()
            self.commands.append(verb)
            if not self._answer(connection, verb):
                return
            if verb == "DATA" and self.script["DATA"].startswith("354"):
                while reader.readline() not in (b".\r\n", b""):
                    pass
                self.commands.append(".")
                if not self._answer(connection, ".") or self.after_final == CLOSE:
                    return
            if verb == "QUIT":
                return

    def _answer(self, connection: socket.socket, verb: str) -> bool:
        """Send the scripted answer; False when the script ends the conversation."""
        reply = self.script.get(verb, "250 OK")
        if reply == CLOSE:
            return False
        if reply == SILENT:
            _wait_for_close(connection)
            return False
        if reply == TRICKLE:
            for byte in b"220 slowly\r\n":
                connection.sendall(bytes([byte]))
                time.sleep(TRICKLE_GAP_S)
            return True
        connection.sendall(reply.encode() + b"\r\n")
        return True


def _wait_for_close(connection: socket.socket) -> None:
    """Read and drop until the client closes (or MAX_CONNECTION_S passes)."""
    deadline = time.monotonic() + MAX_CONNECTION_S
    while time.monotonic() < deadline:
        try:
            if not connection.recv(4096):
                return
        except socket.timeout:
            return
