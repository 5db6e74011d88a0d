"""Toolchain bookkeeping (no Go builds here: the integration suite uses the real tools)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.errors import ToolError
from shipyard.tools import MANIFEST, Toolchain

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def chain(tmp_path: Path) -> Toolchain:
    return Toolchain(REPO, cache=tmp_path / "tools")


def _fake_install(chain: Toolchain, name: str, version_output: str = "") -> Path:
    tool = chain.tool(name)
    directory = chain.install_dir(tool)
    (directory / "bin").mkdir(parents=True)
    for binary in tool.binaries:
        path = directory / "bin" / binary
        path.write_text(f"#!/bin/sh\necho '{version_output or tool.expect}'\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    for data in tool.files:
        (directory / data).parent.mkdir(parents=True, exist_ok=True)
        (directory / data).write_text("x")
    (directory / MANIFEST).write_text(json.dumps({"name": tool.name, "version": tool.version}))
    return directory


def test_pins_come_from_tools_toml_and_pyproject(chain: Toolchain):
    pins = {t.name: t.version for t in chain.tools()}
    assert pins == {"pulumi": "3.274.1", "pulumi-resource-kubernetes": "4.25.0", "etcd": "3.6.16",
                    "kubernetes": "1.36.3", "kwok": "0.8.0", "actionlint": "1.7.12"}


def test_nothing_installed_is_reported_missing(chain: Toolchain, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert all(not s.ok and s.detail == "not installed" for s in chain.states())
    with pytest.raises(ToolError, match="run `shipyard tools install`"):
        chain.bin_dirs()


def test_a_half_finished_build_never_counts(chain: Toolchain):
    directory = _fake_install(chain, "etcd")
    (directory / MANIFEST).unlink()
    assert chain.state(chain.tool("etcd")).detail == "not installed"
    partial = chain.cache / ".etcd-3.6.16.partial-123"
    partial.mkdir()
    assert not chain.state(chain.tool("etcd")).ok


def test_installed_tool_at_its_pin_is_ok(chain: Toolchain):
    _fake_install(chain, "etcd")
    state = chain.state(chain.tool("etcd"))
    assert state.ok and state.path == chain.install_dir(chain.tool("etcd")) / "bin"


def test_wrong_version_is_not_ok(chain: Toolchain):
    _fake_install(chain, "etcd", version_output="etcd Version: 3.4.23")
    state = chain.state(chain.tool("etcd"))
    assert not state.ok and "version mismatch" in state.detail


def test_pulumi_on_path_at_the_pinned_version_is_used(chain: Toolchain, tmp_path: Path, monkeypatch):
    bin_dir = tmp_path / "ambient"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.274.1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = chain.state(chain.tool("pulumi"))
    assert state.ok and state.path == bin_dir


def test_missing_go_is_one_clear_error(chain: Toolchain, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolError, match="Go is not installed.*install Go 1.26 or newer"):
        chain.install(["etcd"], log=lambda line: None)


def test_tools_status_exit_code_and_json(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TOOLS", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["--repo", str(REPO), "tools", "status", "--json"]) == 1
    states = json.loads(capsys.readouterr().out)
    assert {s["name"] for s in states} >= {"pulumi", "etcd", "kwok"} and not any(s["ok"] for s in states)
