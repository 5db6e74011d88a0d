"""`__main__.py`: every sample stack builds under mocks; invalid input is a RunError before any resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.offline import InvalidProgramInput, PlannedResource, run_offline
from shipyard.repo import Repo

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
