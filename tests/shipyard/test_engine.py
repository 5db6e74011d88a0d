"""Engine decisions that need no engine: which policy pack path, committed config, messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.engine import Engine, _explain, _Guardrails, _redact
from shipyard.errors import InvalidInputError, ToolError
from shipyard.tools import Toolchain


@pytest.fixture
def policy_python(monkeypatch, tmp_path: Path) -> Path:
    python = tmp_path / "policy-python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setenv("SHIPYARD_POLICY_PYTHON", str(python))
    return python


def test_policy_pack_runs_the_standard_way_when_the_cli_has_a_python_language_host(platform_repo: Path,
                                                                                   policy_python, tmp_path: Path):
    host = tmp_path / "pulumi-language-python"
    with _Guardrails(platform_repo, tmp_path / "home", "sandbox-dev", "preview", host) as guard:
        assert guard.options["policy_packs"] == [str(platform_repo / "policies")]
        config = Path(guard.options["policy_pack_configs"][0])
        assert config.stat().st_mode & 0o777 == 0o600
    assert not config.exists()


def test_policy_pack_falls_back_to_the_analyzer_shim_without_a_language_host(platform_repo: Path, policy_python,
                                                                             tmp_path: Path):
    with _Guardrails(platform_repo, tmp_path / "home", "sandbox-dev", "up", None) as guard:
        assert guard.options["policy_packs"] == [str(platform_repo / "policies/bin/pulumi-analyzer-policy-python")]


def test_committed_stack_config_is_used_only_when_it_is_a_regular_file(platform_repo: Path, tmp_path: Path):
    engine = Engine(platform_repo, toolchain=Toolchain(platform_repo, cache=tmp_path / "tools"))
    assert engine.committed_config("payments-staging") is None
    assert engine._config_options("payments-staging") == {}
    config = platform_repo / "config"
    config.mkdir()
    (config / "Pulumi.payments-staging.yaml").write_text("config: {}\n")
    assert engine._config_options("payments-staging") == {"config_file": str(config / "Pulumi.payments-staging.yaml")}
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("config: {}\n")
    os.symlink(outside, config / "Pulumi.sandbox-dev.yaml")
    with pytest.raises(InvalidInputError, match="config/Pulumi.sandbox-dev.yaml:1:1: a stack config file must be a "
                                                "regular file"):
        engine.committed_config("sandbox-dev")


def test_storing_a_kubeconfig_for_ci_refuses_the_local_state(platform_repo: Path, tmp_path: Path, monkeypatch):
    for name in ("PULUMI_BACKEND_URL", "CI", "SHIPYARD_SECRETS_PROVIDER", "PULUMI_CONFIG_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    engine = Engine(platform_repo, toolchain=Toolchain(platform_repo, cache=tmp_path / "tools"), log=lambda _: None)
    with pytest.raises(ToolError, match="set PULUMI_BACKEND_URL and SHIPYARD_SECRETS_PROVIDER"):
        engine.set_config_secret("payments-staging", "kubeconfig", "apiVersion: v1")
    assert not (platform_repo / "config").exists()


def test_a_missing_plugin_hint_names_the_install_command_not_a_machine():
    text = _explain("ledger-prod", "error: no resource plugin 'pulumi-resource-aws' found in the workspace at "
                                   "version v7.51.1")
    assert "shipyard tools install --for engine" in text
    assert "machine" not in text and "cannot be built" not in text


def test_errors_never_carry_the_secret_they_failed_on():
    secret = "client-key-data: QUJDREVGR0hJSktMTU5PUA==\ntoken: abcdefgh12345678"
    message = "error: could not parse QUJDREVGR0hJSktMTU5PUA== near token: abcdefgh12345678"
    redacted = _redact(message, secret)
    assert "QUJDREVGR0hJSktMTU5PUA==" not in redacted and "abcdefgh12345678" not in redacted


def test_the_policy_rules_pass_every_stacks_offline_plan(platform_repo: Path):
    from shipyard.engine import _check_plan
    from shipyard.offline import run_offline
    from shipyard.repo import Repo

    for ref in Repo(platform_repo).stacks():
        planned = run_offline(platform_repo, ref.name)
        assert planned and _check_plan(platform_repo, ref.name, planned) == [], ref.name


def test_a_never_applied_stacks_plan_is_refused_for_what_its_first_up_would_be(platform_repo: Path):
    from shipyard.engine import _check_plan
    from shipyard.offline import run_offline

    planned = run_offline(platform_repo, "ledger-prod")
    [cluster] = [p for p in planned if p.type == "aws:eks/cluster:Cluster"]
    cluster.inputs["vpcConfig"]["endpointPublicAccess"] = True
    [vpc] = [p for p in planned if p.type == "aws:ec2/vpc:Vpc"]
    vpc.inputs["tags"] = {"team": "someone-else"}
    for provider in (p for p in planned if p.type == "pulumi:providers:aws"):
        provider.inputs.pop("defaultTags", None)
    found = {(v.policy, v.resource_type) for v in _check_plan(platform_repo, "ledger-prod", planned)}
    assert ("eks-private-endpoint-in-prod", "aws:eks/cluster:Cluster") in found
    assert ("aws-team-environment-tags", "aws:ec2/vpc:Vpc") in found


def test_a_never_applied_stack_previews_as_creates_without_the_engine(platform_repo: Path, tmp_path: Path):
    engine = Engine(platform_repo, toolchain=Toolchain(platform_repo, cache=tmp_path / "tools"), log=lambda _: None)
    lines: list[str] = []
    outcome = engine._plan_new_stack("sandbox-dev", lines.append)
    assert outcome.changes and {c.op for c in outcome.changes} == {"create"}
    assert outcome.summary == {"create": len(outcome.changes)}
    assert "has never been applied" in lines[0] and "policy pack's rules checked" in lines[0]


def test_the_new_rules_refuse_a_never_applied_stacks_wildcard_role_and_system_masters(platform_repo: Path):
    import json

    from shipyard.engine import _check_plan
    from shipyard.offline import run_offline

    planned = run_offline(platform_repo, "ledger-prod")
    [policy] = [p for p in planned if p.name == "ledger-external-dns-identity-policy"]
    document = json.loads(policy.inputs["policy"])
    document["Statement"][0]["Action"] = ["route53:*"]
    policy.inputs["policy"] = json.dumps(document)
    entry = next(p for p in planned if p.type == "aws:eks/accessEntry:AccessEntry" and "kubernetesGroups" in p.inputs)
    entry.inputs["kubernetesGroups"] = ["system:masters"]
    found = {(v.policy, v.resource_type) for v in _check_plan(platform_repo, "ledger-prod", planned)}
    assert ("no-wildcard-iam-actions", "aws:iam/rolePolicy:RolePolicy") in found
    assert ("no-system-masters", "aws:eks/accessEntry:AccessEntry") in found


class _Meta:
    def __init__(self, urn: str, op: str, diffs: list[str]):
        self.urn, self.op, self.type = urn, op, urn.split("::")[2].rsplit("$", 1)[-1]
        self.detailed_diff, self.diffs, self.old = {d: {} for d in diffs}, diffs, None


class _Event:
    def __init__(self, meta: _Meta):
        self.resource_pre_event = type("Step", (), {"metadata": meta})()


NODE_GROUP = "urn:pulumi:ledger-prod::shipyard::shipyard:cluster:Cluster$aws:eks/nodeGroup:NodeGroup::ledger-ng-general"


@pytest.mark.parametrize(("steps", "order"), [
    (["create-replacement", "replace", "delete-replaced"], "create-before-delete"),
    (["delete-replaced", "replace", "create-replacement"], "delete-before-create"),
])
def test_a_replacement_is_one_change_that_says_whether_the_new_resource_comes_first(steps, order):
    from shipyard.engine import _EventCollector
    from shipyard.runner import risk_of

    events = _EventCollector()
    for step in steps:
        events(_Event(_Meta(NODE_GROUP, step, ["instanceTypes"])))
    [change] = events.changes()
    assert change.op == "replace" and change.replacement == order
    assert change.properties == ("instanceTypes",)
    assert change.as_json()["replacement"] == order
    assert risk_of([change]) == "high"


def test_previews_note_a_replacement_and_a_min_size_the_autoscaler_may_refuse():
    from shipyard.engine import ResourceChange
    from shipyard.runner import change_notes

    replaced = ResourceChange(NODE_GROUP, "aws:eks/nodeGroup:NodeGroup", "ledger-ng-general", "replace",
                              ("instanceTypes",), replacement="create-before-delete")
    raised = ResourceChange(NODE_GROUP, "aws:eks/nodeGroup:NodeGroup", "ledger-ng-general", "update",
                            ("scalingConfig.minSize",))
    [created_first] = change_notes([replaced], autoscaled=False)
    assert "created (and its nodes join) before the old one is deleted" in created_first
    [refused] = change_notes([raised], autoscaled=True)
    assert "AWS refuses the update" in refused and "desiredSize=N" in refused
    assert change_notes([raised], autoscaled=False) == []  # without an autoscaler the desired size applies with it


def test_notes_are_printed_under_the_changes(capsys):
    from shipyard.cli.output import print_changes
    from shipyard.engine import ResourceChange

    replaced = ResourceChange(NODE_GROUP, "aws:eks/nodeGroup:NodeGroup", "ledger-ng-general", "replace",
                              ("instanceTypes",), replacement="create-before-delete")
    print_changes("ledger-prod", [replaced], "would change", risk="high", notes=["ledger-ng-general: first"])
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == ("  replace  aws:eks/nodeGroup:NodeGroup  ledger-ng-general  [instanceTypes] "
                       "(create-before-delete)")
    assert out[-1] == "  note: ledger-ng-general: first"


def test_up_and_preview_refuse_a_jump_from_the_version_the_state_says_was_applied(platform_repo: Path):
    from shipyard.engine import upgrade_step_problems

    path = platform_repo / "stacks/ledger/prod.yaml"
    path.write_text(path.read_text().replace('kubernetesVersion: "1.33"', 'kubernetesVersion: "1.35"'))
    [problem] = upgrade_step_problems(platform_repo, path, None, "1.33")
    assert "the version last applied (the stack's state)" in problem.message
    assert 'set and apply "1.34" first' in problem.message and problem.line == 8
    assert upgrade_step_problems(platform_repo, path, None, "1.34") == []
    assert upgrade_step_problems(platform_repo, path, None, None) == []  # never applied, or before the output
