"""The local control plane's own contract: idempotent up, status exit codes, down leaves nothing behind,
LoadBalancer Services get an address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shipyard.local import COMPONENTS, LOADBALANCER, LocalCluster
from shipyard.local_loadbalancer import FIELD_MANAGER

ADDRESS = [{"ip": "127.0.0.1", "ipMode": "VIP"}]


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
    assert (local.logs / f"{LOADBALANCER}.log").read_text().rstrip().endswith("stopped (SIGTERM)")


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


def _service(kubectl, name: str) -> dict:
    return json.loads(kubectl("-n", "default", "get", "service", name, "-o", "json", "--show-managed-fields").stdout)


def _ingress(service: dict) -> list:
    return service.get("status", {}).get("loadBalancer", {}).get("ingress", [])


def _wait_for_address(kubectl, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while not _ingress(service := _service(kubectl, name)):
        assert time.monotonic() < deadline, f"{name} got no address within {timeout}s: {service['status']}"
        time.sleep(0.25)
    return service


def test_load_balancer_services_get_an_address_set_by_the_cluster_and_lose_it_with_their_type(cluster, kubectl):
    try:
        kubectl("-n", "default", "create", "service", "clusterip", "lb-probe-plain", "--tcp=80:8080")
        kubectl("-n", "default", "create", "service", "loadbalancer", "lb-probe-web", "--tcp=80:8080")
        web = _wait_for_address(kubectl, "lb-probe-web")
        assert _ingress(web) == ADDRESS
        [entry] = [m for m in web["metadata"]["managedFields"] if m["manager"] == FIELD_MANAGER]
        assert entry["subresource"] == "status" and entry["operation"] == "Apply"
        assert "f:ingress" in entry["fieldsV1"]["f:status"]["f:loadBalancer"]
        # Watch events come in order: the controller saw the ClusterIP Service before the one it served.
        assert _ingress(_service(kubectl, "lb-probe-plain")) == []

        # No longer a LoadBalancer: the API server itself drops the address, and refuses one on another
        # type (which is why the controller has nothing to take back).
        kubectl("-n", "default", "patch", "service", "lb-probe-web", "-p", '{"spec": {"type": "ClusterIP"}}')
        assert _ingress(_service(kubectl, "lb-probe-web")) == []
        refused = kubectl("-n", "default", "patch", "service", "lb-probe-plain", "--subresource=status",
                          "--type=merge", "-p", json.dumps({"status": {"loadBalancer": {"ingress": ADDRESS}}}),
                          check=False)
        assert refused.returncode != 0 and "may only be used when" in refused.stderr
    finally:
        kubectl("-n", "default", "delete", "service", "lb-probe-plain", "lb-probe-web", "--ignore-not-found")


def test_up_restarts_a_killed_load_balancer_controller_alone_and_it_serves_what_it_missed(cluster, kubectl):
    before = {s.name: s.pid for s in cluster.status()}
    os.kill(before[LOADBALANCER], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(s.running for s in cluster.status() if s.name == LOADBALANCER):
        assert time.monotonic() < deadline, "the killed controller is still running"
        time.sleep(0.1)
    assert not cluster.healthy()
    try:
        kubectl("-n", "default", "create", "service", "loadbalancer", "lb-probe-late", "--tcp=80:8080")
        assert _ingress(_service(kubectl, "lb-probe-late")) == []  # nobody serves it while the controller is dead
        assert cluster.up(log=lambda line: None) is True
        after = {s.name: s.pid for s in cluster.status()}
        assert after[LOADBALANCER] != before[LOADBALANCER]
        assert {k: v for k, v in after.items() if k != LOADBALANCER} == \
            {k: v for k, v in before.items() if k != LOADBALANCER}  # the control plane kept running
        assert cluster.healthy()
        assert _ingress(_wait_for_address(kubectl, "lb-probe-late")) == ADDRESS
    finally:
        kubectl("-n", "default", "delete", "service", "lb-probe-late", "--ignore-not-found")
