"""What counts as destroying production (the engine runs of it are tests/integration/test_guard.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine import ResourceChange
from shipyard.guard import APPROVAL_LABEL, blocked_message, destructions
from shipyard.report import preview_markdown
from shipyard.runner import StackReport
from tests.support.fake_github import FakeServices
from tests.support.git import commit, git, init_on_branch


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


@pytest.fixture
def repo(platform_repo: Path) -> Path:
    """The platform committed on `main`, a pull request's branch `change` checked out."""
    return init_on_branch(platform_repo)


@pytest.fixture
def pulls(github: FakeServices, monkeypatch) -> dict[int, dict]:
    """Pull requests by number, answered at GET /repos/OWNER/REPO/pulls/N on the fake GitHub."""
    served: dict[int, dict] = {}
    handler = github.server.RequestHandlerClass
    fallback = handler.do_GET

    def do_get(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 5 and parts[3] == "pulls" and parts[4].isdigit() and int(parts[4]) in served:
            github.requests.append({"method": "GET", "path": self.path})
            self._reply(200, served[int(parts[4])])
        else:
            fallback(self)

    monkeypatch.setattr(handler, "do_GET", do_get)
    return served


def _approval(root: Path, capsys, *args: str) -> tuple[str, str]:
    from shipyard.cli import main

    assert main(["--repo", str(root), "destroy-approval", *args]) == 0
    captured = capsys.readouterr()
    return captured.out.strip(), captured.err


def _add_to_platform_team(root: Path, login: str) -> None:
    policy = root / "policy.yaml"
    text = policy.read_text()
    assert 'platformTeam: ["@acme/platform"]' in text
    policy.write_text(text.replace('platformTeam: ["@acme/platform"]', f'platformTeam: ["@acme/platform", "@{login}"]'))


def test_label_set_by_the_platform_team_approves(repo, github, capsys):
    github.events[7] = [_labelled("lena", label="needs-review"), _labelled("pat")]
    out, err = _approval(repo, capsys, "--pr", "7", "--base", "main")
    assert out == "true" and "set by @pat (platform team)" in err


def test_label_set_by_someone_else_does_not_approve(repo, github, capsys):
    github.events[7] = [_labelled("pat"), _labelled("pat", "unlabeled"), _labelled("lena")]
    out, err = _approval(repo, capsys, "--pr", "7", "--base", "main")
    assert out == "false" and "set by @lena, who is not in the platform team" in err


def test_removed_label_does_not_approve(repo, github, capsys):
    github.events[7] = [_labelled("pat"), _labelled("lena", "unlabeled")]
    out, err = _approval(repo, capsys, "--pr", "7", "--base", "main")
    assert out == "false" and "does not carry the label" in err


def test_a_label_set_by_someone_the_pull_request_adds_to_the_platform_team_does_not_approve(repo, github, pulls,
                                                                                              capsys):
    _add_to_platform_team(repo, "mallory")
    commit(repo)
    github.events[7] = [_labelled("mallory")]
    pulls[7] = {"number": 7, "base": {"sha": git(repo, "rev-parse", "main").strip()}}
    # Without --base: the pull request's base commit, as GitHub reports it.
    out, err = _approval(repo, capsys, "--pr", "7")
    assert out == "false" and "set by @mallory, who is not in the platform team" in err
    assert any(r["path"] == "/repos/acme/platform-stacks/pulls/7" for r in github.requests)
    out, _ = _approval(repo, capsys, "--pr", "7", "--base", "main")
    assert out == "false"
    out, _ = _approval(repo, capsys, "--pr", "7", "--base", "HEAD")  # the pull request's own policy would
    assert out == "true"


def test_deploy_judges_the_pull_request_a_commit_was_merged_from_by_the_policy_before_the_merge(repo, github,
                                                                                                   capsys):
    base = git(repo, "rev-parse", "main").strip()
    _add_to_platform_team(repo, "mallory")
    commit(repo)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #9", "change")
    merge = git(repo, "rev-parse", "HEAD").strip()  # main now names @mallory in platformTeam
    github.commit_pulls[merge] = [{"number": 3, "merge_commit_sha": "other", "base": {"sha": merge}},
                                  {"number": 9, "merge_commit_sha": merge, "base": {"sha": base}}]
    github.events[9] = [_labelled("mallory")]
    out, err = _approval(repo, capsys, "--commit", merge)
    assert out == "false" and "pull request #9" in err and "@mallory, who is not in the platform team" in err
    out, _ = _approval(repo, capsys, "--commit", merge, "--base", f"{merge}^1")  # the deploy workflow's way
    assert out == "false"
    github.events[9] = [_labelled("mallory"), _labelled("pat")]
    out, err = _approval(repo, capsys, "--commit", merge)
    assert out == "true" and "set by @pat (platform team)" in err
    out, _ = _approval(repo, capsys, "--commit", "not-from-a-pr")
    assert out == "false"


def test_a_base_without_a_valid_policy_is_an_error_not_an_approval(repo, github, capsys):
    from shipyard.cli import main

    github.events[7] = [_labelled("pat")]
    (repo / "policy.yaml").unlink()
    commit(repo)
    assert main(["--repo", str(repo), "destroy-approval", "--pr", "7", "--base", "HEAD"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "the platform policy does not exist at HEAD" in captured.err
    # Without the label nothing needs judging: a plain "false", whatever the base.
    github.events[7] = []
    assert _approval(repo, capsys, "--pr", "7", "--base", "HEAD")[0] == "false"


def test_a_base_github_cannot_name_is_an_error(repo, github, pulls, capsys):
    from shipyard.cli import main

    github.events[7] = [_labelled("pat")]
    pulls[7] = {"number": 7, "base": {"sha": "--output=/tmp/x"}}
    assert main(["--repo", str(repo), "destroy-approval", "--pr", "7"]) == 1
    assert "pass --base REF" in capsys.readouterr().err
