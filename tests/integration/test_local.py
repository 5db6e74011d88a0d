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


def test_a_stack_being_updated_elsewhere_is_a_clear_error_and_wait_retries(engine, shipyard_home: Path):
    import json
    import threading
    import time

    import pytest

    from shipyard.errors import ConcurrentUpdateError
    from shipyard.runner import run_stacks

    engine.preview("itest-dev")  # the Pulumi stack exists (previews take no lock; updates do)
    lock_dir = shipyard_home / "state/.pulumi/locks/organization/shipyard/itest-dev"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_dir / "0b6b1f6e-0000-4000-8000-000000000001.json"
    lock.write_text(json.dumps({"pid": 4242, "username": "alice", "hostname": "ci-runner-7",
                                "timestamp": "2026-11-26T00:00:00Z"}))
    try:
        with pytest.raises(ConcurrentUpdateError, match=r"being updated by someone else.*alice@ci-runner-7"):
            engine.up("itest-dev")
        [failed] = run_stacks(engine.root, "up", ["itest-dev"], log=lambda line: None)
        assert "being updated by someone else" in failed.error
        threading.Timer(3, lock.unlink).start()
        started = time.monotonic()
        [waited] = run_stacks(engine.root, "up", ["itest-dev"], wait=True, log=lambda line: None)
        assert waited.error is None and time.monotonic() - started >= 3
    finally:
        lock.unlink(missing_ok=True)
