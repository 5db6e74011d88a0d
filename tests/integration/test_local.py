"""The local control plane's own contract: idempotent up, status exit codes, down leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shipyard.local import COMPONENTS, LocalCluster


def test_up_twice_is_a_no_op_and_down_stops_every_process(itest_repo: Path, toolchain, tmp_path: Path):
    local = LocalCluster(itest_repo, toolchain=toolchain, home=tmp_path / "home")
    try:
        assert local.up(log=lambda line: None) is True
        pids = {s.name: s.pid for s in local.status()}
        assert set(pids) == set(COMPONENTS) and all(local.healthy() for _ in range(1))
        assert local.up(log=lambda line: None) is False  # already up: nothing restarted
        assert {s.name: s.pid for s in local.status()} == pids
        assert (local.kubeconfig.stat().st_mode & 0o777) == 0o600
    finally:
        local.down(log=lambda line: None)
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not local.healthy()
    assert (tmp_path / "home" / "local" / "etcd").is_dir()  # data kept without --purge


def test_cli_status_exit_codes(cluster, itest_repo: Path, shipyard_home: Path):
    exe = Path(sys.executable).with_name("shipyard")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "SHIPYARD_HOME": str(shipyard_home)}
    up = subprocess.run([str(exe), "--repo", str(itest_repo), "local", "status"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "healthy" in up.stdout
    env["SHIPYARD_HOME"] = str(shipyard_home.parent / "nowhere")
    down = subprocess.run([str(exe), "--repo", str(itest_repo), "local", "status"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert down.returncode == 1 and "NOT healthy" in down.stdout


def test_state_and_passphrase_need_no_variables(engine, shipyard_home: Path):
    engine.env()
    passphrase = shipyard_home / "passphrase"
    assert passphrase.is_file() and (passphrase.stat().st_mode & 0o777) == 0o600
    assert (shipyard_home / "state").is_dir()
