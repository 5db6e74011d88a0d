"""What counts as destroying production (the engine runs of it are tests/integration/test_guard.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine import ResourceChange
from shipyard.guard import APPROVAL_LABEL, blocked_message, destructions
from shipyard.report import preview_markdown
from shipyard.runner import StackReport


def change(type_: str, op: str, name: str = "r") -> ResourceChange:
    return ResourceChange(f"urn:pulumi:s::shipyard::{type_}::{name}", type_, name, op, ())


@pytest.mark.parametrize("type_", ["kubernetes:core/v1:Namespace", "aws:eks/cluster:Cluster",
                                   "aws:eks/nodeGroup:NodeGroup", "shipyard:cluster:Cluster"])
@pytest.mark.parametrize("op", ["delete", "replace", "create-replacement"])
def test_replacing_or_deleting_a_protected_prod_resource_is_a_destruction(type_: str, op: str):
    [found] = destructions([StackReport("ledger-prod", "preview", [change(type_, op, "x")])], [])
    assert found.stack == "ledger-prod" and type_ in found.what and found.what.endswith(" x")


def test_the_same_change_outside_prod_or_an_update_is_not():
    assert destructions([StackReport("ledger-dev", "preview", [change("kubernetes:core/v1:Namespace", "delete")]),
                         StackReport("ledger-prod", "preview", [change("kubernetes:core/v1:Namespace", "update"),
                                                                change("kubernetes:core/v1:ConfigMap", "delete")])],
                        ["ledger-staging"]) == []


def test_deleting_a_prod_stack_file_is_a_destruction():
    [found] = destructions([], ["ledger-prod", "ledger-dev"])
    assert found.stack == "ledger-prod" and "stack file was deleted" in found.what


def test_engine_refusing_a_protected_resource_names_it():
    error = ('stack \'ledger-prod\': the Pulumi engine failed:\nerror: unable to delete resource '
             '"urn:pulumi:ledger-prod::shipyard::kubernetes:core/v1:Namespace::ledger-tenancy-ledger-old-ns"\n'
             'as it is currently marked for protection.')
    [found] = destructions([StackReport("ledger-prod", "preview", error=error)], [])
    assert found.what.endswith("kubernetes:core/v1:Namespace::ledger-tenancy-ledger-old-ns")
    assert APPROVAL_LABEL in blocked_message([found]) and "Nothing was applied" in blocked_message([found])


def test_pr_comment_leads_with_the_blocked_destruction():
    reports = [StackReport("ledger-prod", "preview", [change("kubernetes:core/v1:Namespace", "delete", "old")])]
    found = destructions(reports, [])
    blocked = preview_markdown(reports, destroys=found)
    assert blocked.index("⛔ **Blocked: this change destroys production.**") < blocked.index("| stack |")
    approved = preview_markdown(reports, destroys=found, approved=True)
    assert "✅ **Approved**" in approved and "⛔" not in approved


def _labelled(actor: str, event: str = "labeled", label: str = APPROVAL_LABEL) -> dict:
    return {"event": event, "actor": {"login": actor}, "label": {"name": label}}


def _approval(capsys, *args: str) -> tuple[str, str]:
    from shipyard.cli import main

    root = Path(__file__).resolve().parents[2]
    assert main(["--repo", str(root), "destroy-approval", *args]) == 0
    captured = capsys.readouterr()
    return captured.out.strip(), captured.err


def test_label_set_by_the_platform_team_approves(github, capsys):
    github.events[7] = [_labelled("lena", label="needs-review"), _labelled("pat")]
    out, err = _approval(capsys, "--pr", "7")
    assert out == "true" and "set by @pat (platform team)" in err


def test_label_set_by_someone_else_does_not_approve(github, capsys):
    github.events[7] = [_labelled("pat"), _labelled("pat", "unlabeled"), _labelled("lena")]
    out, err = _approval(capsys, "--pr", "7")
    assert out == "false" and "set by @lena, who is not in the platform team" in err


def test_removed_label_does_not_approve(github, capsys):
    github.events[7] = [_labelled("pat"), _labelled("lena", "unlabeled")]
    out, err = _approval(capsys, "--pr", "7")
    assert out == "false" and "does not carry the label" in err


def test_deploy_judges_the_pull_request_a_commit_was_merged_from(github, capsys):
    github.commit_pulls["abc123"] = [{"number": 3, "merge_commit_sha": "other"},
                                     {"number": 9, "merge_commit_sha": "abc123"}]
    github.events[9] = [_labelled("pat")]
    out, err = _approval(capsys, "--commit", "abc123")
    assert out == "true" and "pull request #9" in err
    out, _ = _approval(capsys, "--commit", "not-from-a-pr")
    assert out == "false"
