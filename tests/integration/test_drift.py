"""Drift on the real upstream charts: the six catalog add-ons (263 objects, CRDs, webhooks, hook Jobs) on the
real engine and API server. Zero false alarms (after up, again and again, and after the control plane
restarts), every kind of out-of-band change found with the right resource, fields and field manager, access
nobody declared reported as `unmanaged`, pending Git changes reported apart, and `up` repairing all but
the unmanaged objects (they are the team's).

One real-chart `up` for the whole module: the tests run in file order on `drift-dev`.
"""

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
TEAM_NS = "drift-web"
PREFIX = "drift-tenancy-drift-web"
ADDONS = "drift-addons"


def _drift(repo: Path):
    [report] = run_stacks(repo, "drift", [STACK], log=lambda line: None)
    assert report.error is None, report.error
    return report


def _found(report) -> set[tuple]:
    return {(c.source, c.op, c.type.rsplit(":", 1)[-1], c.name, *c.properties) for c in report.changes}


def _get(kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def applied(engine, itest_repo: Path, kubectl):
    outcome = engine.up(STACK)
    assert outcome.summary.get("create", 0) > 250, outcome.summary
    yield outcome
    engine.destroy(STACK)


def test_every_addon_is_ready_with_production_values(applied, kubectl):
    # Pulumi's await logic passed for every object (the up succeeded); the production values stand: the
    # ingress controller's Service is a LoadBalancer, given its address by the local controller.
    service = _get(kubectl, "-n", "ingress-nginx", "service", "ingress-nginx-controller")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"
    crds = _get(kubectl, "customresourcedefinitions")["items"]
    assert len(crds) >= 20
    for namespace in ("ingress-nginx", "cert-manager", "external-dns", "kube-metrics", "monitoring", "argocd"):
        deployments = _get(kubectl, "-n", namespace, "deployments")["items"]
        assert deployments, namespace
        for deployment in deployments:
            conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions", [])}
            assert conditions.get("Available") == "True", (namespace, deployment["metadata"]["name"])


def test_the_teams_groups_cannot_touch_the_addon_namespaces(applied, kubectl):
    # Even with every RBAC right (system:masters), a request made as one of the team's groups is refused.
    as_team = ("--as=dev@example.com", "--as-group=system:masters", "--as-group=drift-devs")
    refused = kubectl("-n", "monitoring", "create", "rolebinding", "sneaky", "--clusterrole=admin",
                      "--group=outsiders", *as_team, check=False)
    assert refused.returncode != 0 and "managed by Shipyard (a platform add-on)" in refused.stderr, refused.stderr
    refused = kubectl("-n", "argocd", "scale", "deployment", "argo-cd-argocd-server", "--replicas=0", *as_team,
                      check=False)
    assert refused.returncode != 0 and "stacks/drift/dev.yaml" in refused.stderr, refused.stderr


def test_five_checks_after_up_are_clean_and_a_second_up_changes_nothing(applied, engine, itest_repo: Path):
    for attempt in range(5):
        report = _drift(itest_repo)
        assert report.extra["status"] == "clean" and report.changes == [], (attempt, report.changes)
    outcome = engine.up(STACK)
    assert outcome.changes == [] and outcome.repairs == []


def test_still_clean_after_the_control_plane_restarts(applied, engine, cluster, itest_repo: Path):
    cluster.down(log=lambda line: None)
    cluster.up(log=lambda line: None)
    report = _drift(itest_repo)
    assert report.extra["status"] == "clean", report.changes
    outcome = engine.up(STACK)
    assert outcome.changes == [] and outcome.repairs == []


def test_out_of_band_changes_are_found_with_who_made_them_and_up_repairs_all_but_unmanaged(
        applied, engine, itest_repo: Path, kubectl):
    # on the real charts
    kubectl("-n", "argocd", "scale", "deployment", "argo-cd-argocd-server", "--replicas=3")
    kubectl("-n", "monitoring", "patch", "configmap", "kube-prometheus-stack-grafana", "--type=merge",
            "-p", json.dumps({"data": {"grafana.ini": "[security]\nadmin_user = intruder\n"}}))
    kubectl("-n", "kube-metrics", "delete", "service", "metrics-server")
    # on the team's namespace
    kubectl("-n", TEAM_NS, "patch", "networkpolicy", "default-deny-ingress", "--type=merge",
            "-p", '{"spec":{"podSelector":{"matchLabels":{"app":"nothing"}}}}')
    kubectl("label", "namespace", TEAM_NS, "pod-security.kubernetes.io/enforce=privileged", "--overwrite")
    kubectl("-n", TEAM_NS, "patch", "rolebinding", "team-developers", "--type=json", "-p",
            '[{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"Group",'
            '"name":"intruders"}}]')
    kubectl("-n", TEAM_NS, "patch", "resourcequota", "team-quota", "--type=merge", "-p",
            '{"spec":{"hard":{"pods":"99"}}}')
    kubectl("-n", TEAM_NS, "create", "rolebinding", "outside-admin", "--clusterrole=admin", "--group=outsiders")
    allow_all = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "allow-all", "namespace": TEAM_NS},
                 "spec": {"podSelector": {}, "ingress": [{}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(allow_all))

    report = _drift(itest_repo)
    assert report.extra["status"] == "drift"
    chart = f"{ADDONS}-"
    assert _found(report) == {
        ("live", "update", "Deployment", f"{chart}argo-cd:argocd/argo-cd-argocd-server", "spec.replicas"),
        ("live", "update", "ConfigMap", f"{chart}kube-prometheus-stack:monitoring/kube-prometheus-stack-grafana",
         'data["grafana.ini"]'),
        ("live", "delete", "Service", f"{chart}metrics-server:kube-metrics/metrics-server"),
        ("live", "update", "NetworkPolicy", f"{PREFIX}-default-deny", "spec.podSelector"),
        ("live", "update", "Namespace", f"{PREFIX}-ns", 'metadata.labels["pod-security.kubernetes.io/enforce"]'),
        ("live", "update", "RoleBinding", f"{PREFIX}-developers", "subjects"),
        ("live", "update", "ResourceQuota", f"{PREFIX}-quota", "spec.hard.pods"),
        ("live", "unmanaged", "RoleBinding", f"{TEAM_NS}/outside-admin", "grants access"),
        ("live", "unmanaged", "NetworkPolicy", f"{TEAM_NS}/allow-all", "opens the network"),
    }
    by = {c.name: c.by for c in report.changes}
    assert by[f"{PREFIX}-ns"] == "kubectl-label"
    assert by[f"{PREFIX}-default-deny"] == "kubectl-patch"
    assert by[f"{chart}argo-cd:argocd/argo-cd-argocd-server"] == "kubectl"  # the scale subresource
    assert by[f"{TEAM_NS}/outside-admin"] == "kubectl-create"
    assert by[f"{TEAM_NS}/allow-all"] == "kubectl-client-side-apply"
    assert all(c.at for c in report.changes if c.by and c.name != f"{chart}argo-cd:argocd/argo-cd-argocd-server")

    preview = engine.preview(STACK)
    planned = {r["name"]: r for r in preview.repairs}
    assert planned[f"{PREFIX}-ns"]["fields"] == [{
        "path": 'metadata.labels["pod-security.kubernetes.io/enforce"]', "old": "privileged", "new": "baseline",
        "by": "kubectl-label"}]
    assert planned[f"{chart}metrics-server:kube-metrics/metrics-server"]["action"] == "recreate"

    outcome = engine.up(STACK)
    assert {r["name"] for r in outcome.repairs} == set(planned)
    report = _drift(itest_repo)
    assert _found(report) == {
        ("live", "unmanaged", "RoleBinding", f"{TEAM_NS}/outside-admin", "grants access"),
        ("live", "unmanaged", "NetworkPolicy", f"{TEAM_NS}/allow-all", "opens the network"),
    }
    assert _get(kubectl, "namespace", TEAM_NS)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert _get(kubectl, "-n", TEAM_NS, "networkpolicy", "default-deny-ingress")["spec"]["podSelector"] == {}
    subjects = _get(kubectl, "-n", TEAM_NS, "rolebinding", "team-developers")["subjects"]
    assert [s["name"] for s in subjects] == ["drift-devs"]
    assert _get(kubectl, "-n", "argocd", "deployment", "argo-cd-argocd-server")["spec"]["replicas"] == 1
    assert "intruder" not in _get(kubectl, "-n", "monitoring", "configmap",
                                  "kube-prometheus-stack-grafana")["data"]["grafana.ini"]
    _get(kubectl, "-n", "kube-metrics", "service", "metrics-server")
    # the team's own objects stayed (reported, never deleted); gone, the next check is clean (the test below)
    kubectl("-n", TEAM_NS, "delete", "rolebinding", "outside-admin")
    kubectl("-n", TEAM_NS, "delete", "networkpolicy", "allow-all")


def test_unapplied_edit_is_pending_from_git_and_cli_exit_codes(applied, engine, itest_repo: Path, tmp_path: Path):
    path = itest_repo / "stacks/drift/dev.yaml"
    original = path.read_text()
    path.write_text(re.sub(r"pods: 20", "pods: 22", original))
    exe = str(Path(sys.executable).with_name("shipyard"))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SHIPYARD_HOME", "SHIPYARD_CHART_MIRROR",
                                                      "SHIPYARD_TOOLS", "PYTHONPATH")}
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
