"""An SMSC nobody here wrote: tests/peers/node_smsc.js on the `smpp` npm package, for SMPP tests.

The package is installed with npm under the data directory on first use (tests/peers/package.json
pins it); where Node.js or npm is missing, or the registry cannot be reached, the tests that need
it are skipped with that reason.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import requests
from smpp_testing import PASSWORD, REPO, START_TIMEOUT_S, SYSTEM_ID, free_port, poll_until

PEERS = os.path.join(REPO, "tests", "peers")
INSTALL_TIMEOUT_S = 180


def _install_dir() -> str:
    """Where the peers' npm packages live: under the stack's data directory, outside the repository."""
    return os.path.join(os.environ.get("HERALD_DATA_DIR") or os.path.join(REPO, ".data"), "peers")


def installed_peers() -> str:
    """The node_modules directory holding the pinned `smpp` package; pytest.skip with the reason if it cannot be."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"the independent SMSC needs {tool}, which is not on PATH")
    prefix = _install_dir()
    wanted = json.load(open(os.path.join(PEERS, "package.json")))["dependencies"]["smpp"]
    manifest = os.path.join(prefix, "node_modules", "smpp", "package.json")
    if os.path.exists(manifest) and json.load(open(manifest)).get("version") == wanted:
        return os.path.join(prefix, "node_modules")
    os.makedirs(prefix, exist_ok=True)
    shutil.copy(os.path.join(PEERS, "package.json"), prefix)
    try:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", prefix], cwd=prefix,
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm could not install the smpp package within {INSTALL_TIMEOUT_S} s")
    if done.returncode != 0 or not os.path.exists(manifest):
        pytest.skip(f"npm could not install the smpp package: {done.stderr.strip()[-300:]}")
    return os.path.join(prefix, "node_modules")


class NodeSmsc:
    """The node SMSC's control API and where it listens."""

    def __init__(self, smpp_port: int, control_port: int) -> None:
        """A client for the control port."""
        self.smpp_port = smpp_port
        self.base_url = f"http://127.0.0.1:{control_port}"

    def settings(self, **overrides) -> dict:
        """Adapter settings aimed at this SMSC, with short timeouts for tests."""
        return {"host": "127.0.0.1", "port": self.smpp_port, "system_id": SYSTEM_ID, "password": PASSWORD,
                "source_addr": "HERALD", "connect_timeout": 2.0, "response_timeout": 3.0,
                "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, **overrides}

    def ledger(self) -> dict:
        """What the SMSC took: binds, submits, whole messages (reassembled), receipts."""
        return requests.get(f"{self.base_url}/ledger", timeout=10).json()

    def configure(self, **changes) -> None:
        """Throttle or fail every Nth submit_sm, refuse binds for a while, or cut every bind at the Nth submit_sm."""
        response = requests.post(f"{self.base_url}/config", json=changes, timeout=10)
        assert response.status_code == 200, response.text

    def reset(self) -> None:
        """An empty ledger and no faults."""
        requests.post(f"{self.base_url}/reset", timeout=10).raise_for_status()

    def mobile_originated(self, sender: str, to: str, text: str) -> requests.Response:
        """Have the SMSC deliver a person's text to the bound ESME."""
        return requests.post(f"{self.base_url}/mo", json={"from": sender, "to": to, "text": text}, timeout=10)


def _answers(url: str) -> bool:
    """Whether the control port answers yet."""
    try:
        return requests.get(f"{url}/ledger", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_node_smsc():
    """Start the node SMSC on free loopback ports; stop it afterwards."""
    modules = installed_peers()
    smpp_port, control_port = free_port(), free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(["node", os.path.join(PEERS, "node_smsc.js"), str(smpp_port), str(control_port),
                                SYSTEM_ID, PASSWORD], env=dict(os.environ, NODE_PATH=modules), stdout=log, stderr=log)
    smsc = NodeSmsc(smpp_port, control_port)
    try:
        if not poll_until(lambda: process.poll() is None and _answers(smsc.base_url), START_TIMEOUT_S, 0.05):
            log.seek(0)
            raise RuntimeError(f"node SMSC did not start:\n{log.read().decode(errors='replace')}")
        yield smsc
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
