"""`shipyard changed` on real temporary git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.changes import changed_stacks
from shipyard.cli import main
from shipyard.gitrepo import GitRepo
from tests.support.git import commit, git, init_on_branch

ALL = ["ledger-dev", "ledger-prod", "payments-staging", "sandbox-dev"]


@pytest.fixture
def repo(platform_repo: Path) -> Path:
    return init_on_branch(platform_repo)


def affected(root: Path) -> tuple[list[str], list[str]]:
    result = changed_stacks(GitRepo(root), "main", "HEAD")
    return [a.stack for a in result.affected], [d.stack for d in result.decommissioned]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_edited_stack_file_affects_only_that_stack(repo: Path):
    edit(repo / "stacks/ledger/dev.yaml", "pods: 30", "pods: 40")
    commit(repo)
    assert affected(repo) == (["ledger-dev"], [])


def test_added_stack_file_is_affected(repo: Path):
    (repo / "stacks/newteam").mkdir()
    (repo / "stacks/newteam/dev.yaml").write_text((repo / "stacks/sandbox/dev.yaml").read_text())
    commit(repo)
    result = changed_stacks(GitRepo(repo), "main")
    assert [(a.stack, a.reasons) for a in result.affected] == [("newteam-dev", ["stack file added"])]


def test_deleted_stack_file_is_a_decommission_candidate_only(repo: Path):
    (repo / "stacks/ledger/dev.yaml").unlink()
    commit(repo)
    assert affected(repo) == ([], ["ledger-dev"])


def test_catalog_entry_change_affects_only_stacks_that_get_the_addon(repo: Path):
    edit(repo / "addons/catalog.yaml", "version: 8.3.5", "version: 8.3.6")  # argo-cd: only the gitops bundle
    commit(repo)
    result = changed_stacks(GitRepo(repo), "main")
    assert [(a.stack, a.reasons) for a in result.affected] == [
        ("payments-staging", ["add-on 'argo-cd' changed in the catalog"])]


def test_bundle_change_affects_stacks_using_the_bundle(repo: Path):
    edit(repo / "addons/catalog.yaml", "addons: [ingress-nginx, cert-manager, metrics-server]",
         "addons: [ingress-nginx, cert-manager, metrics-server, external-dns]")
    commit(repo)
    stacks, _ = affected(repo)
    assert stacks == ["ledger-dev", "ledger-prod", "payments-staging"]


def test_chart_digest_change_affects_stacks_that_get_that_chart(repo: Path):
    edit(repo / "addons/catalog.yaml", "sha256:d326ed776de9", "sha256:0000ed776de9")  # metrics-server's archive
    commit(repo)
    # payments-staging disables metrics-server; ledger gets it from baseline; sandbox-dev has no add-ons
    assert affected(repo) == (["ledger-dev", "ledger-prod"], [])


def test_local_values_change_affects_only_local_stacks_that_get_the_addon(platform_repo: Path):
    edit(platform_repo / "stacks/sandbox/dev.yaml", "cluster:\n  provider: local\n",
         "cluster:\n  provider: local\naddons:\n  enable: [metrics-server]\n")
    repo = init_on_branch(platform_repo)
    edit(repo / "addons/catalog.yaml", "apiService: {create: false}", "apiService: {create: false, annotations: {}}")
    commit(repo)
    result = changed_stacks(GitRepo(repo), "main")
    # ledger-dev and ledger-prod get metrics-server too, but on eks: localValues never reach them
    assert [(a.stack, a.reasons) for a in result.affected] == [
        ("sandbox-dev", ["add-on 'metrics-server' changed in the catalog (localValues)"])]


@pytest.mark.parametrize("path", ["components/tenancy.py", "__main__.py", "shipyard/models.py"])
def test_program_change_affects_every_stack(repo: Path, path: str):
    with (repo / path).open("a") as handle:
        handle.write("\n# touched\n")
    commit(repo)
    assert affected(repo) == (ALL, [])


def test_unrelated_change_affects_nothing(repo: Path):
    (repo / "NOTES.md").write_text("hello\n")
    commit(repo)
    assert affected(repo) == ([], [])


def test_changes_on_the_base_branch_since_the_fork_are_ignored(repo: Path):
    edit(repo / "stacks/ledger/dev.yaml", "pods: 30", "pods: 40")
    commit(repo)
    git(repo, "checkout", "-q", "main")
    edit(repo / "stacks/sandbox/dev.yaml", "pods: 20", "pods: 25")
    commit(repo, "moved on")
    git(repo, "checkout", "-q", "change")
    assert affected(repo) == (["ledger-dev"], [])


def test_cli_formats(repo: Path, capsys):
    edit(repo / "stacks/ledger/dev.yaml", "pods: 30", "pods: 40")
    (repo / "stacks/sandbox/dev.yaml").unlink()
    commit(repo)
    args = ["--repo", str(repo), "changed", "--base", "main"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ledger-dev" in out and "DECOMMISSION CANDIDATE" in out and "sandbox-dev" in out
    assert main(args + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["stack"] for s in data["stacks"]] == ["ledger-dev"]
    assert [s["stack"] for s in data["decommissioned"]] == ["sandbox-dev"]
    assert main(args + ["--format", "matrix"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "include": [{"stack": "ledger-dev", "file": "stacks/ledger/dev.yaml", "environment": "dev"}]}
    assert main(args + ["--detailed-exitcode"]) == 2


def test_unknown_ref_is_a_clear_error(repo: Path, capsys):
    assert main(["--repo", str(repo), "changed", "--base", "no-such-branch"]) == 1
    assert "unknown git ref 'no-such-branch'" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--base", "--head"])
@pytest.mark.parametrize("ref", ["--output=written-by-git", "--no-index", "main...HEAD", "main\nHEAD", ":/base"])
def test_a_ref_that_git_would_read_as_an_option_or_a_range_is_refused(repo: Path, capsys, monkeypatch, option: str,
                                                                       ref: str):
    monkeypatch.chdir(repo)
    args = {"--base": "main", "--head": "HEAD", option: ref}
    assert main(["--repo", str(repo), "changed", "--base", args["--base"], "--head", args["--head"]]) == 1
    assert "is not a git revision" in capsys.readouterr().err
    assert not list(repo.glob("written-by-git*")) and not list(repo.glob("*/written-by-git*"))


def test_revisions_with_steps_still_work(repo: Path):
    edit(repo / "stacks/ledger/dev.yaml", "pods: 30", "pods: 40")
    commit(repo)
    (repo / "stacks/sandbox/dev.yaml").unlink()
    commit(repo)
    result = changed_stacks(GitRepo(repo), "HEAD~2", "HEAD^")
    assert [a.stack for a in result.affected] == ["ledger-dev"]


def test_deleted_in_finds_the_commit_that_deleted_a_stack_file_and_nothing_for_a_typo(repo: Path):
    (repo / "stacks/sandbox/dev.yaml").unlink()
    commit(repo, "decommission sandbox-dev")
    gitrepo = GitRepo(repo)
    assert gitrepo.deleted_in("stacks/sandbox/dev.yaml") == git(repo, "rev-parse", "HEAD").strip()
    assert gitrepo.deleted_in("stacks/sandbx/dev.yaml") is None
    assert gitrepo.deleted_in("stacks/ledger/dev.yaml") is None  # still there


def test_a_platform_repository_in_a_subfolder_of_the_git_repository(tmp_path: Path):
    from tests.support.repo import copy_platform

    copy_platform(tmp_path / "infra" / "platform")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    init_on_branch(tmp_path)
    edit(tmp_path / "infra/platform/stacks/ledger/dev.yaml", "pods: 30", "pods: 40")
    (tmp_path / "other" / "x.txt").write_text("y")
    commit(tmp_path)
    gitrepo = GitRepo(tmp_path / "infra" / "platform")
    assert [c.path for c in gitrepo.changed_files("main")] == ["stacks/ledger/dev.yaml"]
    assert gitrepo.show("main", "stacks/ledger/dev.yaml") is not None
