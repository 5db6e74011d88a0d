"""The main job end to end: up, no-op up, preview of an edit, drift found by refresh, failure repair, destroy.

The tests run in file order on one stack (`itest-dev`) on the real local control plane.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from shipyard.engine import Engine
from shipyard.errors import EngineError, InvalidInputError, ToolError

STACK = "itest-dev"
QUOTA = "itest-tenancy-itest-web-quota"


def _set_pods(repo: Path, pods: int) -> None:
    path = repo / "stacks/itest/dev.yaml"
    text = path.read_text()
    import re

    path.write_text(re.sub(r"pods: \d+", f"pods: {pods}", text))


def _get(kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def test_up_creates_every_object(engine: Engine, kubectl):
    outcome = engine.up(STACK)
    assert outcome.summary.get("create", 0) >= 10
    ns = _get(kubectl, "namespace", "itest-web")
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "shipyard"
    assert ns["metadata"]["labels"]["shipyard.io/team"] == "itest"
    quota = _get(kubectl, "-n", "itest-web", "resourcequota", "team-quota")
    assert quota["spec"]["hard"] == {"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi"}
    binding = _get(kubectl, "-n", "itest-web", "rolebinding", "team-developers")
    assert binding["roleRef"]["name"] == "edit" and binding["subjects"][0]["name"] == "itest-devs"
    policy = _get(kubectl, "-n", "itest-web", "networkpolicy", "default-deny-ingress")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert _get(kubectl, "-n", "itest-web", "limitrange", "team-defaults")["spec"]["limits"][0]["type"] == "Container"
    # the add-on from the chart mirror (the real chart): its Deployment became Available on the fake node
    deployment = _get(kubectl, "-n", "kube-metrics", "deployment", "metrics-server")
    conditions = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
    assert conditions["Available"] == "True"


def test_second_up_changes_nothing(engine: Engine):
    outcome = engine.up(STACK)
    assert outcome.changes == []
    assert set(outcome.summary) == {"same"}


def test_state_holds_no_plaintext_kubeconfig_key_or_passphrase(cluster, shipyard_home: Path):
    kubeconfig = json.loads(cluster.kubeconfig.read_text())
    secrets = [kubeconfig["users"][0]["user"]["client-key-data"], kubeconfig["users"][0]["user"]["client-certificate-data"],
               (shipyard_home / "passphrase").read_text().strip(), "PRIVATE KEY"]
    files = [p for p in (shipyard_home / "state").rglob("*") if p.is_file()]
    assert files
    for path in files:
        raw = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in raw, f"{secret[:12]}... in plain text in {path}"


def test_preview_of_an_edit_shows_exactly_that_change(engine: Engine, itest_repo: Path):
    _set_pods(itest_repo, 30)
    try:
        outcome = engine.preview(STACK)
    finally:
        _set_pods(itest_repo, 20)
    assert [(c.op, c.name) for c in outcome.changes] == [("update", QUOTA)]
    assert outcome.changes[0].properties == ("spec.hard.pods",)


def test_invalid_file_is_refused_before_the_engine(engine: Engine, itest_repo: Path, kubectl):
    path = itest_repo / "stacks/itest/dev.yaml"
    good = path.read_text()
    path.write_text(good.replace("pods: 20", "pods: -5"))
    try:
        with pytest.raises(InvalidInputError):
            engine.up(STACK)
    finally:
        path.write_text(good)
    assert _get(kubectl, "-n", "itest-web", "resourcequota", "team-quota")["spec"]["hard"]["pods"] == "20"


def test_out_of_band_change_is_found_by_refresh(engine: Engine, kubectl):
    kubectl("-n", "itest-web", "patch", "resourcequota", "team-quota", "--type=merge",
            "-p", '{"spec":{"hard":{"pods":"99"}}}')
    outcome = engine.refresh_preview(STACK)
    changed = {c.name: c for c in outcome.changes}
    assert QUOTA in changed, outcome.changes
    assert changed[QUOTA].op == "update"
    assert "spec.hard.pods" in changed[QUOTA].properties or "spec" in changed[QUOTA].properties, changed[QUOTA]
    assert len(outcome.changes) == 1, outcome.changes


def test_failed_up_leaves_state_the_next_up_repairs(engine: Engine, cluster, itest_repo: Path, kubectl):
    _set_pods(itest_repo, 25)
    stopped = threading.Event()

    def stop_api_midway(line: str) -> None:
        if not stopped.is_set() and ("Updating" in line or QUOTA in line):
            stopped.set()
            cluster.stop_component("kube-apiserver", kill=True)

    with pytest.raises(EngineError):
        engine.up(STACK, on_output=stop_api_midway)
    assert stopped.is_set()
    cluster.up(log=lambda line: None)
    engine.up(STACK)
    assert _get(kubectl, "-n", "itest-web", "resourcequota", "team-quota")["spec"]["hard"]["pods"] == "25"
    assert engine.up(STACK).changes == []


def test_destroy_removes_everything(engine: Engine, kubectl):
    outcome = engine.destroy(STACK)
    assert outcome.summary.get("delete", 0) >= 10
    for namespace in ("itest-web", "kube-metrics"):
        result = kubectl("get", "namespace", namespace, check=False)
        assert result.returncode != 0 and "NotFound" in result.stderr


def test_missing_plugin_fails_fast_naming_it_and_its_install_command(engine: Engine):
    # The test suite installs the `local` profile: no AWS provider plugin. An eks stack stops before the
    # engine starts, naming the plugin, its pin and the command that installs it — nothing about a machine.
    with pytest.raises(ToolError) as error:
        engine.preview("ledger-dev")
    message = str(error.value)
    assert "pulumi-resource-aws 7.51.1" in message
    assert "shipyard tools install pulumi-resource-aws" in message and "--for engine" in message
    assert "machine" not in message


def test_cli_up_preview_destroy_exit_codes(itest_repo: Path, cluster):
    import os
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("shipyard"))
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "SHIPYARD_HOME": os.environ["SHIPYARD_HOME"]}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, "--repo", str(itest_repo), *args], env=env, capture_output=True, text=True,
                              timeout=300)

    up = run("up", STACK)
    assert up.returncode == 0, up.stderr[-2000:]
    assert "resource(s) changed" in up.stdout
    assert run("preview", STACK, "--detailed-exitcode").returncode == 0
    _set_pods(itest_repo, 21)
    try:
        changed = run("preview", STACK, "--detailed-exitcode", "--json", "-")
        assert changed.returncode == 2
    finally:
        _set_pods(itest_repo, 20)
    refused = run("destroy", STACK)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert run("destroy", STACK, "--yes").returncode == 0
