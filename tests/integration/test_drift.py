"""Drift detection on the real engine and API server: no false alarms, every kind of out-of-band change
found with the right resource and property, pending Git changes reported separately, `up` repairs all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.runner import run_stacks

STACK = "drift-dev"
PREFIX = "drift-tenancy-drift-web"
CHART = "drift-addons-external-dns:external-dns/external-dns"


def _drift(repo: Path):
    [report] = run_stacks(repo, "drift", [STACK], log=lambda line: None)
    assert report.error is None, report.error
    return report


def _found(report) -> set[tuple[str, str, str, str]]:
    return {(c.source, c.op, c.type.rsplit(":", 1)[-1], c.name, *c.properties) for c in report.changes}


@pytest.fixture(scope="module")
def applied(engine, itest_repo: Path):
    engine.up(STACK)
    yield
    engine.destroy(STACK)


def test_repeated_checks_right_after_up_are_clean(applied, itest_repo: Path):
    for _ in range(2):
        report = _drift(itest_repo)
        assert report.extra["status"] == "clean" and report.changes == []


def test_every_kind_of_out_of_band_change_is_found_and_up_repairs_it(applied, engine, itest_repo: Path, kubectl):
    ns = "drift-web"
    kubectl("label", "namespace", ns, "shipyard.io/team=someone-else", "--overwrite")
    kubectl("-n", ns, "patch", "resourcequota", "team-quota", "--type=merge", "-p", '{"spec":{"hard":{"pods":"99"}}}')
    kubectl("-n", ns, "patch", "limitrange", "team-defaults", "--type=json",
            "-p", '[{"op":"replace","path":"/spec/limits/0/default/cpu","value":"3"}]')
    kubectl("-n", ns, "patch", "rolebinding", "team-developers", "--type=json", "-p",
            '[{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"Group",'
            '"name":"intruders"}}]')
    kubectl("-n", ns, "delete", "rolebinding", "team-admins")
    kubectl("-n", ns, "patch", "networkpolicy", "default-deny-ingress", "--type=merge",
            "-p", '{"spec":{"policyTypes":["Ingress","Egress"]}}')
    kubectl("label", "namespace", "external-dns", "app.kubernetes.io/managed-by=kubectl", "--overwrite")
    kubectl("-n", "external-dns", "scale", "deployment", "external-dns", "--replicas=3")
    kubectl("-n", "external-dns", "patch", "service", "external-dns", "--type=json",
            "-p", '[{"op":"replace","path":"/spec/ports/0/port","value":9999}]')
    kubectl("-n", "external-dns", "label", "serviceaccount", "external-dns", "app.kubernetes.io/name=other",
            "--overwrite")

    report = _drift(itest_repo)
    assert report.extra["status"] == "drift"
    assert _found(report) == {
        ("live", "update", "Namespace", f"{PREFIX}-ns", "metadata.labels.shipyard.io/team"),
        ("live", "update", "ResourceQuota", f"{PREFIX}-quota", "spec.hard.pods"),
        ("live", "update", "LimitRange", f"{PREFIX}-limits", "spec.limits[0].default.cpu"),
        ("live", "update", "RoleBinding", f"{PREFIX}-developers", "subjects"),
        ("live", "delete", "RoleBinding", f"{PREFIX}-admins"),
        ("live", "update", "NetworkPolicy", f"{PREFIX}-default-deny", "spec.policyTypes"),
        ("live", "update", "Namespace", "drift-addons-external-dns-ns", "metadata.labels.app.kubernetes.io/managed-by"),
        ("live", "update", "Deployment", CHART, "spec.replicas"),
        ("live", "update", "Service", CHART, "spec.ports[0].port"),
        ("live", "update", "ServiceAccount", CHART, "metadata.labels.app.kubernetes.io/name"),
    }

    engine.up(STACK)
    report = _drift(itest_repo)
    assert report.extra["status"] == "clean", report.changes
    subjects = json.loads(kubectl("-n", ns, "get", "rolebinding", "team-developers", "-o", "json").stdout)["subjects"]
    assert [s["name"] for s in subjects] == ["drift-devs"]


def test_unapplied_edit_is_pending_from_git_and_cli_exit_codes(applied, engine, itest_repo: Path, tmp_path: Path):
    path = itest_repo / "stacks/drift/dev.yaml"
    original = path.read_text()
    path.write_text(re.sub(r"pods: 20", "pods: 22", original))
    exe = str(Path(sys.executable).with_name("shipyard"))
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "SHIPYARD_HOME": os.environ["SHIPYARD_HOME"]}
    out = tmp_path / "drift.json"
    try:
        result = subprocess.run([exe, "--repo", str(itest_repo), "drift", STACK, "--json", str(out), "--markdown",
                                 str(tmp_path / "drift.md")], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr[-2000:]
        data = json.loads(out.read_text())
        [stack] = data["stacks"]
        assert stack["stack"] == STACK and stack["status"] == "drift"
        [change] = stack["changes"]
        assert change == {"urn": change["urn"], "type": "kubernetes:core/v1:ResourceQuota", "name": f"{PREFIX}-quota",
                          "op": "update", "source": "git", "properties": ["spec.hard.pods"]}
        assert "| `drift-dev` | drift | 0 | 1 |" in (tmp_path / "drift.md").read_text()
    finally:
        path.write_text(original)
    clean = subprocess.run([exe, "--repo", str(itest_repo), "drift", STACK], env=env, capture_output=True, text=True,
                           timeout=300)
    assert clean.returncode == 0 and f"{STACK}: clean" in clean.stdout
