"""Shared fixtures. Unit tests may not reach a real engine or the network: an autouse guard fails them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_github import FakeServices
from tests.support.repo import copy_platform


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
    return copy_platform(tmp_path / "platform")


@pytest.fixture
def github(monkeypatch) -> Iterator[FakeServices]:
    """GitHub's API on loopback, configured through the environment as the workflows do. Teams:
    @acme/platform = pat, @acme/ledger = lena, @acme/payments = paul."""
    with FakeServices() as services:
        services.teams = {"acme/platform": {"pat"}, "acme/ledger": {"lena"}, "acme/payments": {"paul"}}
        monkeypatch.setenv("GITHUB_API_URL", services.url)
        monkeypatch.setenv("GITHUB_TOKEN", "test-token")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform-stacks")
        monkeypatch.delenv("SHIPYARD_GITHUB_TOKEN", raising=False)
        yield services
