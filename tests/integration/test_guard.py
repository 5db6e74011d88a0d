"""Deletion protection end to end on a prod stack of the local control plane: removing a prod namespace is
blocked in preview and in `up` (nothing applied), goes through with --allow-destroy, and the namespaces that
stay are protected again by the same update. Runs in file order on one stack (`guard-prod`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.cli import main

STACK = "guard-prod"
GUARD_STACK = """team: guard
environment: prod
owners: ["@acme/platform"]
cluster:
  provider: local
addons:
  enable: [metrics-server]   # the smallest real chart: this module is about protection, not add-ons
namespaces:
  - name: guard-web
    quota: {cpu: "2", memory: 4Gi, pods: 10}
    developers: [guard-devs]
  - name: guard-old
    quota: {cpu: "1", memory: 2Gi, pods: 5}
    developers: [guard-devs]
"""


@pytest.fixture(scope="module")
def guard_repo(itest_repo: Path, engine) -> Path:
    # This module is about protecting production, not its add-ons: the policy's required prod bundle
    # (observability, the largest real chart) is waived here so the suite installs it only once (test_drift).
    policy = itest_repo / "policy.yaml"
    original = policy.read_text()
    assert "requiredAddons: [observability]" in original
    policy.write_text(original.replace("requiredAddons: [observability]", "requiredAddons: []"))
    (itest_repo / "stacks" / "guard").mkdir(exist_ok=True)
    (itest_repo / "stacks" / "guard" / "prod.yaml").write_text(GUARD_STACK)
    try:
        yield itest_repo
        main(["--repo", str(itest_repo), "destroy", STACK, "--yes", "--confirm", STACK])
    finally:
        (itest_repo / "stacks" / "guard" / "prod.yaml").unlink(missing_ok=True)
        policy.write_text(original)


def _shipyard(repo: Path, *args: str) -> int:
    return main(["--repo", str(repo), *args])


def _protected(engine, urn_part: str) -> bool:
    with engine._stack(STACK, validate=False) as stack:
        deployment = stack.export_stack().deployment
    return next(r.get("protect", False) for r in deployment["resources"] if r["urn"].endswith(urn_part))


def test_prod_stack_is_applied_with_protected_namespaces(guard_repo: Path, engine, kubectl):
    assert _shipyard(guard_repo, "up", STACK) == 0
    assert kubectl("get", "namespace", "guard-old", check=False).returncode == 0
    assert _protected(engine, "::guard-tenancy-guard-old-ns")
    # The estimate the next preview compares against (a local cluster is not billed).
    assert engine.outputs(STACK)["estimatedMonthlyCost"] == {"monthly": 0, "currency": "USD", "priced": False,
                                                             "lines": []}
    # ...and the next preview reads it from the engine's events: the change against what was applied.
    report = guard_repo / "preview-cost.json"
    assert _shipyard(guard_repo, "preview", STACK, "--json", str(report)) == 0
    [stack] = json.loads(report.read_text())["stacks"]
    report.unlink()
    assert (stack["cost"]["previous"], stack["cost"]["change"], stack["cost"]["budget"]) == (0, 0, 5000)


def test_removing_a_prod_namespace_is_blocked_in_preview(guard_repo: Path, capsys):
    stack_file = guard_repo / "stacks/guard/prod.yaml"
    stack_file.write_text(GUARD_STACK.split("  - name: guard-old")[0])
    capsys.readouterr()
    assert _shipyard(guard_repo, "preview", STACK, "--json", "preview.json") == 1
    err = capsys.readouterr().err
    assert "this change would destroy production resources" in err and "guard-old" in err
    assert "shipyard:allow-destroy" in err
    data = json.loads((Path.cwd() / "preview.json").read_text())
    (Path.cwd() / "preview.json").unlink()
    assert data["blocked"] is True and any("guard-old" in d["what"] for d in data["destroys_production"])


def test_up_without_approval_applies_nothing(guard_repo: Path, kubectl, capsys):
    assert _shipyard(guard_repo, "up", STACK) == 1
    assert "Nothing was applied" in capsys.readouterr().err
    assert kubectl("get", "namespace", "guard-old", check=False).returncode == 0


def test_approved_preview_passes_and_up_removes_the_namespace(guard_repo: Path, engine, kubectl, capsys):
    assert _shipyard(guard_repo, "preview", STACK, "--allow-destroy") == 0
    assert "approved by --allow-destroy" in capsys.readouterr().err
    assert _shipyard(guard_repo, "up", STACK, "--allow-destroy") == 0
    gone = kubectl("get", "namespace", "guard-old", "-o", "jsonpath={.status.phase}", check=False)
    assert gone.returncode != 0 or gone.stdout == "Terminating"
    # The survivors are protected again by the same update.
    assert _protected(engine, "::guard-tenancy-guard-web-ns")
