"""`__main__.py`: every sample stack builds under mocks; invalid input is a RunError before any resource."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from shipyard.offline import InvalidProgramInput, PlannedResource, run_offline
from shipyard.repo import Repo
from tests.support.charts import copy_charts, sha256, shared_charts, sums

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("stack", [s.name for s in Repo(REPO).stacks()])
def test_every_sample_stack_builds_under_mocks(stack):
    resources = run_offline(REPO, stack)
    types = {r.type for r in resources}
    assert {"shipyard:cluster:Cluster", "shipyard:addons:AddonBundle", "shipyard:tenancy:TeamTenancy"} <= types
    assert all(r.parent for r in resources)


def test_invalid_stack_file_is_a_run_error_before_any_resource(platform_repo):
    path = platform_repo / "stacks/ledger/prod.yaml"
    path.write_text(path.read_text().replace("minSize: 2", "minSize: 9"))
    registered: list[PlannedResource] = []
    with pytest.raises(InvalidProgramInput) as exc:
        run_offline(platform_repo, "ledger-prod", into=registered)
    assert "stack 'ledger-prod' is invalid; nothing was changed" in str(exc.value)
    assert "stacks/ledger/prod.yaml:10:" in str(exc.value) and "minSize (9) is larger than desiredSize" in str(exc.value)
    assert registered == []


def test_prod_stack_maps_every_addon_and_protects_namespaces():
    resources = run_offline(REPO, "ledger-prod")
    charts = {r.name: r.inputs for r in resources if r.type == "kubernetes:helm.sh/v4:Chart"}
    assert set(charts) == {f"ledger-addons-{a}" for a in
                           ("cert-manager", "external-dns", "ingress-nginx", "kube-prometheus-stack", "metrics-server")}
    # team values deep-merged over the catalog defaults
    assert charts["ledger-addons-ingress-nginx"]["values"]["controller"]["replicaCount"] == 2
    assert charts["ledger-addons-ingress-nginx"]["values"]["controller"]["service"] == {"type": "LoadBalancer"}
    [ns] = [r for r in resources if r.name == "ledger-tenancy-ledger-api-ns"]
    assert ns.protect
    assert sum(r.type == "aws:ec2/natGateway:NatGateway" for r in resources) == 3  # one NAT per zone in prod


def test_offline_preview_plans_the_staged_archive_paths_without_reading_a_chart_source(monkeypatch, tmp_path):
    monkeypatch.setenv("SHIPYARD_CHART_MIRROR", str(tmp_path / "empty"))  # would fail if it were read
    charts = {r.name: r.inputs for r in run_offline(REPO, "ledger-prod") if r.type == "kubernetes:helm.sh/v4:Chart"}
    assert charts["ledger-addons-ingress-nginx"]["chart"] == ".charts/ingress-nginx-4.13.3.tgz"
    assert charts["ledger-addons-ingress-nginx"]["version"] == "4.13.3"
    assert charts["ledger-addons-cert-manager"]["chart"] == ".charts/cert-manager-v1.18.2.tgz"
    # an eks stack never gets the catalog's localValues
    assert "apiService" not in charts["ledger-addons-metrics-server"]["values"]


LOCAL_STACK = """team: itest
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
addons:
  bundles: [baseline, observability, gitops]
  enable: [external-dns]
namespaces:
  - name: itest-web
    quota: {cpu: "4", memory: 8Gi, pods: 20}
"""


def run_program(root: Path, stack: str, config: dict[str, str] | None = None,
                into: list[PlannedResource] | None = None) -> list[PlannedResource]:
    """The real `__main__.py` under mocks, as the engine runs it (not offline: chart sources are read)."""
    import os
    import runpy
    import sys

    from shipyard.offline import _forget_components, record

    cwd, saved = os.getcwd(), _forget_components()
    sys.path.insert(0, str(root))
    os.chdir(root)
    try:
        return record(lambda: runpy.run_path(str(root / "__main__.py"), run_name="__main__"), stack_name=stack,
                      config=config, into=into)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(root))
        _forget_components()
        sys.modules.update(saved)


@pytest.fixture
def local_stack(platform_repo: Path, tmp_path: Path, monkeypatch) -> Path:
    """A local stack with all six add-ons, and a local control plane's kubeconfig where the program looks."""
    (platform_repo / "stacks/itest").mkdir()
    (platform_repo / "stacks/itest/dev.yaml").write_text(LOCAL_STACK)
    home = tmp_path / "home"
    (home / "local").mkdir(parents=True)
    (home / "local/kubeconfig").write_text("{}")
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    return platform_repo


def test_program_installs_every_addon_from_its_verified_staged_archive(local_stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_CHART_MIRROR", str(copy_charts(tmp_path / "anywhere" / "mirror")))
    resources = run_program(local_stack, "itest-dev")
    charts = {r.name: r.inputs for r in resources if r.type == "kubernetes:helm.sh/v4:Chart"}
    assert len(charts) == 6
    for inputs in charts.values():
        path = local_stack / inputs["chart"]
        assert inputs["chart"].startswith(".charts/") and path.is_file()
        assert sha256(path) == sums(shared_charts())[path.name]
    values = charts["itest-addons-ingress-nginx"]["values"]["controller"]
    assert values["admissionWebhooks"] == {"enabled": False} and values["service"] == {"type": "LoadBalancer"}


def test_program_config_mirror_wins_over_the_environment(local_stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_CHART_MIRROR", str(tmp_path / "missing"))
    mirror = copy_charts(tmp_path / "configured")
    resources = run_program(local_stack, "itest-dev", config={"chartMirror": str(mirror)})
    assert sum(r.type == "kubernetes:helm.sh/v4:Chart" for r in resources) == 6


def test_mismatching_mirror_archive_is_a_run_error_before_any_resource(local_stack, tmp_path, monkeypatch):
    mirror = copy_charts(tmp_path / "mirror")
    (mirror / "argo-cd-8.3.5.tgz").write_bytes(b"tampered")
    (mirror / "metrics-server-3.13.0.tgz").unlink()
    monkeypatch.setenv("SHIPYARD_CHART_MIRROR", str(mirror))
    registered: list[PlannedResource] = []
    with pytest.raises(pulumi.RunError) as error:
        run_program(local_stack, "itest-dev", into=registered)
    message = str(error.value)
    assert "stack 'itest-dev': add-on charts could not be obtained from the chart mirror" in message
    assert f"{mirror / 'argo-cd-8.3.5.tgz'} has digest {sha256(mirror / 'argo-cd-8.3.5.tgz')}" in message
    assert sums(shared_charts())["argo-cd-8.3.5.tgz"] in message
    assert "the chart mirror has no metrics-server-3.13.0.tgz" in message
    assert registered == []
    assert not (local_stack / ".charts" / "argo-cd-8.3.5.tgz").exists()
