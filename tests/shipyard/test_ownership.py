"""Ownership: CODEOWNERS generated from the stack files, and `validate --author` on real git repositories,
with team membership answered by a real HTTP server on loopback that speaks GitHub's API."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cli import main
from tests.support.fake_github import FakeServices
from tests.support.git import commit, git, init_on_branch


@pytest.fixture
def repo(platform_repo: Path) -> Path:
    assert main(["--repo", str(platform_repo), "codeowners"]) == 0
    return init_on_branch(platform_repo)


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _validate_as(root: Path, author: str) -> int:
    return main(["--repo", str(root), "validate", "--author", author, "--changed-since", "main"])


def test_codeowners_gives_each_team_its_files_and_the_platform_everything_else(platform_repo: Path):
    assert main(["--repo", str(platform_repo), "codeowners"]) == 0
    lines = (platform_repo / ".github/CODEOWNERS").read_text().splitlines()
    assert "* @acme/platform" in lines
    for owned in ("/components/", "/addons/", "/__main__.py", "/policy.yaml"):
        assert f"{owned} @acme/platform" in lines
    assert "/stacks/payments/staging.yaml @acme/payments @jdoe" in lines
    assert "/stacks/ledger/ @acme/ledger" in lines
    # Last match wins on GitHub: team lines must come after the catch-all.
    assert lines.index("* @acme/platform") < lines.index("/stacks/ledger/prod.yaml @acme/ledger")


def test_codeowners_check_fails_when_an_owner_changed(platform_repo: Path, capsys):
    assert main(["--repo", str(platform_repo), "codeowners"]) == 0
    assert main(["--repo", str(platform_repo), "codeowners", "--check"]) == 0
    _edit(platform_repo, "stacks/ledger/dev.yaml", 'owners: ["@acme/ledger"]', 'owners: ["@acme/ledger-core"]')
    before = (platform_repo / ".github/CODEOWNERS").read_text()
    assert main(["--repo", str(platform_repo), "codeowners", "--check"]) == 1
    assert ".github/CODEOWNERS:1:1: out of date" in capsys.readouterr().err
    assert (platform_repo / ".github/CODEOWNERS").read_text() == before  # --check changes nothing
    assert main(["--repo", str(platform_repo), "codeowners"]) == 0
    assert "/stacks/ledger/dev.yaml @acme/ledger-core" in (platform_repo / ".github/CODEOWNERS").read_text()


def test_codeowners_refuses_a_stack_file_without_valid_owners(platform_repo: Path, capsys):
    _edit(platform_repo, "stacks/ledger/dev.yaml", 'owners: ["@acme/ledger"]', "owners: []")
    assert main(["--repo", str(platform_repo), "codeowners"]) == 1
    assert "stacks/ledger/dev.yaml:4:" in capsys.readouterr().err


def test_direct_owner_may_change_their_stack(repo: Path, github: FakeServices):
    _edit(repo, "stacks/payments/staging.yaml", 'cpu: "8"', 'cpu: "6"')
    commit(repo)
    assert _validate_as(repo, "jdoe") == 0


def test_team_member_may_change_their_stack(repo: Path, github: FakeServices):
    _edit(repo, "stacks/ledger/dev.yaml", 'cpu: "4"', 'cpu: "3"')
    commit(repo)
    assert _validate_as(repo, "lena") == 0
    assert any(r["path"] == "/orgs/acme/teams/ledger/memberships/lena" for r in github.requests)


def test_other_team_may_not_change_a_stack_and_the_error_names_file_line_and_owners(repo: Path,
                                                                                     github: FakeServices, capsys):
    _edit(repo, "stacks/ledger/dev.yaml", 'cpu: "4"', 'cpu: "3"')
    commit(repo)
    assert _validate_as(repo, "paul") == 1
    out = capsys.readouterr().out
    assert "stacks/ledger/dev.yaml:4:1: owners: @paul may not change this file: it is owned by @acme/ledger" in out


def test_adding_yourself_to_owners_does_not_grant_the_change(repo: Path, github: FakeServices, capsys):
    _edit(repo, "stacks/ledger/prod.yaml", 'owners: ["@acme/ledger"]', 'owners: ["@acme/ledger", "@paul"]')
    commit(repo)
    assert _validate_as(repo, "paul") == 1
    assert "owners at main" in capsys.readouterr().out


def test_adding_yourself_to_the_platform_team_does_not_grant_the_change(repo: Path, github: FakeServices, capsys):
    # The working tree's policy.yaml is the pull request's own: the platform team comes from the base.
    _edit(repo, "policy.yaml", 'platformTeam: ["@acme/platform"]', 'platformTeam: ["@acme/platform", "@paul"]')
    _edit(repo, "stacks/ledger/prod.yaml", 'cpu: "16"', 'cpu: "12"')
    _edit(repo, "components/cluster.py", "\n", "\n# mine now\n")
    commit(repo)
    assert _validate_as(repo, "paul") == 1
    out = capsys.readouterr().out
    assert "stacks/ledger/prod.yaml:4:1: owners: @paul may not change this file" in out
    assert "policy.yaml:1:1: @paul may not change this file: it belongs to the platform team (@acme/platform)" in out
    assert "components/cluster.py:1:1: @paul may not change this file" in out


def test_a_platform_team_change_counts_once_it_is_on_the_base(repo: Path, github: FakeServices):
    _edit(repo, "policy.yaml", 'platformTeam: ["@acme/platform"]', 'platformTeam: ["@acme/platform", "@paul"]')
    commit(repo)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "change")
    git(repo, "checkout", "-q", "-b", "next")
    _edit(repo, "stacks/ledger/prod.yaml", 'cpu: "16"', 'cpu: "12"')
    commit(repo)
    assert _validate_as(repo, "paul") == 0


def test_a_base_without_a_policy_fails_closed(platform_repo: Path, github: FakeServices, capsys):
    policy = (platform_repo / "policy.yaml").read_text()
    (platform_repo / "policy.yaml").unlink()
    init_on_branch(platform_repo)
    (platform_repo / "policy.yaml").write_text(policy.replace('["@acme/platform"]', '["@acme/platform", "@paul"]'))
    commit(platform_repo)
    assert _validate_as(platform_repo, "paul") == 1
    out = capsys.readouterr().out
    assert "policy.yaml:1:1: the platform policy does not exist at main, the base this change is judged by" in out


@pytest.mark.parametrize("broken", ["platformTeam: []", "platformTeam: [", "platformTeam: [\"acme\"]"])
def test_a_base_with_an_invalid_policy_fails_closed_even_for_the_platform_team(repo: Path, github: FakeServices,
                                                                               capsys, broken: str):
    _edit(repo, "policy.yaml", 'platformTeam: ["@acme/platform"]', broken)
    git(repo, "commit", "-q", "-am", "broken policy on main", "--amend")  # the base itself is broken
    git(repo, "branch", "-f", "main", "HEAD")
    _edit(repo, "policy.yaml", broken, 'platformTeam: ["@acme/platform"]')
    _edit(repo, "stacks/ledger/prod.yaml", 'cpu: "16"', 'cpu: "12"')
    commit(repo)
    assert _validate_as(repo, "pat") == 1
    out = capsys.readouterr().out
    assert "at main, the base this change is judged by: the platform team is read from there" in out
    assert "may change" not in out and "stacks/ledger/prod.yaml" not in out  # no verdict on a broken base


def test_platform_team_may_change_anything(repo: Path, github: FakeServices):
    _edit(repo, "stacks/ledger/prod.yaml", 'cpu: "16"', 'cpu: "12"')
    _edit(repo, "policy.yaml", "monthlyBudget: 500", "monthlyBudget: 600")
    commit(repo)
    assert _validate_as(repo, "pat") == 0


def test_a_team_may_not_change_platform_files(repo: Path, github: FakeServices, capsys):
    _edit(repo, "policy.yaml", "monthlyBudget: 500", "monthlyBudget: 50000")
    commit(repo)
    assert _validate_as(repo, "lena") == 1
    assert "policy.yaml:1:1: @lena may not change this file: it belongs to the platform team" in capsys.readouterr().out


def test_new_environment_goes_to_the_teams_owners_and_a_new_team_to_the_platform(repo: Path, github: FakeServices,
                                                                                 capsys):
    staging = (repo / "stacks/ledger/dev.yaml").read_text().replace("environment: dev", "environment: staging")
    (repo / "stacks/ledger/staging.yaml").write_text(staging)
    commit(repo)
    assert _validate_as(repo, "lena") == 0
    assert main(["--repo", str(repo), "new-team", "billing", "--env", "dev", "--owner", "@lena"]) == 0
    commit(repo)
    assert _validate_as(repo, "lena") == 1
    out = capsys.readouterr().out
    assert "a new team 'billing': onboarding a team is the platform team's call" in out
    assert ".github/CODEOWNERS:1:1: @lena may not change this file" in out


def test_team_membership_without_a_token_fails_closed(repo: Path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("SHIPYARD_GITHUB_TOKEN", raising=False)
    _edit(repo, "stacks/ledger/dev.yaml", 'cpu: "4"', 'cpu: "3"')
    commit(repo)
    assert _validate_as(repo, "lena") == 1
    assert ("stacks/ledger/dev.yaml:4:1: owners: @lena may not change this file" in (out := capsys.readouterr().out)
            and "cannot tell whether @lena is in @acme/ledger" in out)


def test_without_a_token_a_directly_listed_owner_still_passes(repo: Path, monkeypatch):
    # The fork path: no token, but @jdoe is named in the file itself, so no team lookup is needed.
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("SHIPYARD_GITHUB_TOKEN", raising=False)
    _edit(repo, "stacks/payments/staging.yaml", 'cpu: "8"', 'cpu: "6"')
    commit(repo)
    assert _validate_as(repo, "jdoe") == 0


def test_author_needs_a_base(platform_repo: Path, capsys):
    assert main(["--repo", str(platform_repo), "validate", "--author", "lena"]) == 1
    assert "--author needs --changed-since" in capsys.readouterr().err


def test_committed_codeowners_is_current():
    root = Path(__file__).resolve().parents[2]
    assert main(["--repo", str(root), "codeowners", "--check"]) == 0


def test_a_stacks_committed_config_belongs_to_the_stacks_owners(repo: Path, github: FakeServices, capsys):
    lines = (repo / ".github/CODEOWNERS").read_text().splitlines()
    assert "/config/Pulumi.payments-staging.yaml @acme/payments @jdoe" in lines
    (repo / "config").mkdir()
    (repo / "config" / "Pulumi.payments-staging.yaml").write_text("config:\n  shipyard:kubeconfig:\n    secure: x\n")
    commit(repo)
    assert _validate_as(repo, "paul") == 0  # in @acme/payments
    assert _validate_as(repo, "jdoe") == 0  # listed directly
    assert _validate_as(repo, "lena") == 1  # @acme/ledger: not this stack's
    out = capsys.readouterr().out
    assert ("config/Pulumi.payments-staging.yaml:1:1: owners: @lena may not change this file: it is the committed "
            "config of stacks/payments/staging.yaml") in out


def test_config_for_a_stack_that_does_not_exist_is_the_platform_teams(repo: Path, github: FakeServices, capsys):
    (repo / "config").mkdir()
    (repo / "config" / "Pulumi.newteam-dev.yaml").write_text("config: {}\n")
    (repo / "config" / "notes.yaml").write_text("x: 1\n")
    commit(repo)
    assert _validate_as(repo, "paul") == 1
    out = capsys.readouterr().out
    assert "config/Pulumi.newteam-dev.yaml:1:1: owners: @paul may not change this file" in out
    assert "onboarding a team is the platform team's call" in out
    assert "config/notes.yaml:1:1: @paul may not change this file: it belongs to the platform team" in out
    assert _validate_as(repo, "pat") == 0


@pytest.mark.parametrize("folder", ["x\n* @mallory", "x @mallory", "*", "x#y", "x\u2028y"])
def test_codeowners_refuses_a_team_folder_that_would_change_its_lines(platform_repo: Path, capsys, folder: str):
    hostile = platform_repo / "stacks" / folder
    hostile.mkdir()
    (hostile / "dev.yaml").write_text((platform_repo / "stacks/sandbox/dev.yaml").read_text())
    assert main(["--repo", str(platform_repo), "codeowners"]) == 1
    err = capsys.readouterr().err
    assert "cannot write the path" in err and "\n* @mallory" not in err  # shown escaped, on one line
    assert not (platform_repo / ".github/CODEOWNERS").exists()


def test_an_owner_with_a_trailing_newline_is_invalid_and_never_written(platform_repo: Path, capsys):
    _edit(platform_repo, "stacks/ledger/dev.yaml", 'owners: ["@acme/ledger"]', 'owners: ["@acme/ledger", "@evil\\n"]')
    assert main(["--repo", str(platform_repo), "validate", str(platform_repo / "stacks/ledger/dev.yaml")]) == 1
    assert "is not a GitHub user or team" in capsys.readouterr().out
    assert main(["--repo", str(platform_repo), "codeowners"]) == 0
    text = (platform_repo / ".github/CODEOWNERS").read_text()
    assert "@evil" not in text and "/stacks/ledger/dev.yaml @acme/ledger\n" in text


@pytest.mark.parametrize("base", ["--output=written-by-git", "-p", "main..HEAD", "main\n"])
def test_an_option_or_range_as_the_base_fails_closed_and_runs_nothing(repo: Path, github: FakeServices, capsys,
                                                                      base: str):
    _edit(repo, "stacks/ledger/dev.yaml", 'cpu: "4"', 'cpu: "3"')
    commit(repo)
    assert main(["--repo", str(repo), "validate", "--author", "mallory", "--changed-since", base]) == 1
    assert "is not a git revision" in capsys.readouterr().err
    assert not list(repo.glob("written-by-git*"))
