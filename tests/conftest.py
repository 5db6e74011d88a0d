"""Shared fixtures. Unit tests may not reach a real engine or the network: an autouse guard fails them."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What a platform repository is made of (copied into temp dirs for tests that change files).
REPO_PARTS = ("Pulumi.yaml", "__main__.py", "components", "addons", "stacks", "tools.toml", "shipyard", "pyproject.toml")


@pytest.fixture(autouse=True)
def _no_network(request, monkeypatch):
    """Fail a unit test that connects anywhere but loopback; integration tests are marked and exempt."""
    if request.node.get_closest_marker("integration"):
        return
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and sock.family != socket.AF_UNIX:
            raise AssertionError(f"unit test tried to reach {address}; mark it integration or use a fake")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def platform_repo(tmp_path: Path) -> Path:
    """A copy of this platform repository (program, components, catalog, stacks) to change freely."""
    root = tmp_path / "platform"
    root.mkdir()
    for part in REPO_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / part)
    return root
