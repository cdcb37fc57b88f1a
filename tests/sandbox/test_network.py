"""Network: with `network=False` not even 127.0.0.1 of the host is reachable; with True it is."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.sandbox import Policy
from tests.sandbox.inside import run_in

CONNECT = """
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
        print(s.recv(16).decode())
except OSError as e:
    print("failed:", e)
"""


@pytest.fixture
def server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that greets every client with "hello"; its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize("network", [True, False])
def test_the_network_is_there_only_when_allowed(bwrap: None, server: int, tmp_path: Path, network: bool) -> None:
    done = run_in(Policy(writable=(), cwd=tmp_path, network=network), sys.executable, "-c", CONNECT, str(server))
    assert done.returncode == 0, done.stderr
    if network:
        assert done.stdout.strip() == "hello"
    else:
        assert done.stdout.startswith("failed:"), done.stdout
