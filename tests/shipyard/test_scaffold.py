from pathlib import Path

import pytest
import yaml

from shipyard.cli import main
from shipyard.repo import Repo
from shipyard.scaffold import render_stack_file
from shipyard.validation import load_catalog, parse_stack_file


def test_new_team_writes_a_valid_commented_stack_and_codeowners(platform_repo: Path, capsys):
    assert main(["--repo", str(platform_repo), "new-team", "billing", "--env", "prod"]) == 0
    path = platform_repo / "stacks/billing/prod.yaml"
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schema/stack.schema.json\n")  # the modeline
    # No quota: prod's default from policy.yaml applies, and the comment says which.
    assert '    # quota: {cpu: \'8\', memory: 16Gi, pods: 60}' in text and "prod's defaultQuota (policy.yaml)" in text
    stack, problems = parse_stack_file(path, platform_repo, load_catalog(platform_repo).catalog,
                                       Repo(platform_repo).local_kubernetes_minor)
    assert problems == [] and stack.owners == ["@acme/billing"] and stack.cluster.region == "eu-west-1"
    codeowners = (platform_repo / ".github/CODEOWNERS").read_text()
    assert "/stacks/billing/ @acme/billing" in codeowners
    assert capsys.readouterr().out.split() == ["stacks/billing/prod.yaml", ".github/CODEOWNERS"]


def test_new_team_regenerates_codeowners_with_its_folder_and_file(platform_repo: Path):
    assert main(["--repo", str(platform_repo), "new-team", "zeta", "--env", "dev"]) == 0
    assert main(["--repo", str(platform_repo), "new-team", "alpha", "--env", "dev", "--owner", "@jane"]) == 0
    lines = (platform_repo / ".github/CODEOWNERS").read_text().splitlines()
    assert [l for l in lines if l.startswith(("/stacks/alpha", "/stacks/zeta"))] == [
        "/stacks/alpha/ @jane", "/stacks/alpha/dev.yaml @jane", "/stacks/zeta/ @acme/zeta",
        "/stacks/zeta/dev.yaml @acme/zeta"]
    assert main(["--repo", str(platform_repo), "codeowners", "--check"]) == 0


def test_existing_file_and_bad_owner_are_refused_without_leaving_files(platform_repo: Path, capsys):
    assert main(["--repo", str(platform_repo), "new-team", "ledger", "--env", "prod"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--repo", str(platform_repo), "new-team", "newbie", "--env", "dev", "--owner", "nobody"]) == 1
    assert "'nobody' is not a GitHub user or team" in capsys.readouterr().err
    assert not (platform_repo / "stacks/newbie").exists()


@pytest.mark.parametrize("args, message", [
    (["--region", "eu-west-1\n  publicEndpoint: true"], "--region 'eu-west-1\\n  publicEndpoint: true' is not"),
    (["--region", "eu-west-1\n"], "--region 'eu-west-1\\n' is not"),
    (["--region", "eu-west-1 # x"], "is not an AWS region"),
    (["--owner", "@evil\n"], "--owner '@evil\\n' is not a GitHub user or team"),
    (["--owner", "@acme/x\n* @mallory"], "is not a GitHub user or team"),
    (["--owner", "@acme/x']\npublicEndpoint: true #"], "is not a GitHub user or team"),
])
def test_hostile_region_and_owner_are_refused_before_anything_is_written(platform_repo: Path, capsys, args, message):
    assert main(["--repo", str(platform_repo), "new-team", "newbie", "--env", "dev", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1  # the value is shown escaped, on one line
    assert not (platform_repo / "stacks/newbie").exists() and not (platform_repo / ".github/CODEOWNERS").exists()


@pytest.mark.parametrize("team", ["newbie\n", "newbie\nowners: ['@mallory']", "New", "a b", "x-", "x" * 41])
def test_hostile_team_names_are_refused(platform_repo: Path, capsys, team: str):
    assert main(["--repo", str(platform_repo), "new-team", team, "--env", "dev"]) == 1
    assert "must be a DNS-1123 label" in capsys.readouterr().err
    assert sorted(p.name for p in (platform_repo / "stacks").iterdir()) == ["ledger", "payments", "sandbox"]


def test_every_value_is_emitted_as_yaml_so_none_can_add_a_key():
    # The refusals above come first; this is what stands behind them: the emitter quotes what it must.
    hostile = "eu-west-1\n  publicEndpoint: true"
    text = render_stack_file("tm\n# x: 1\nevil", "dev", "@o/t']\npublicEndpoint: true #", hostile, "1.35",
                             "t3.large\n    - {name: x}", 1, 3, {"cpu": "4\ncpu: 99", "memory": "8Gi", "pods": 30},
                             ["baseline", "a, b]"], [])
    data = yaml.safe_load(text)
    assert data["cluster"]["region"] == hostile and "publicEndpoint" not in data["cluster"]
    assert data["owners"] == ["@o/t']\npublicEndpoint: true #"] and data["team"] == "tm\n# x: 1\nevil"
    assert data["cluster"]["nodeGroups"] == [{"name": "general", "instanceType": "t3.large\n    - {name: x}",
                                              "minSize": 1, "desiredSize": 1, "maxSize": 3}]
    assert data["addons"]["bundles"] == ["baseline", "a, b]"] and "quota" not in data["namespaces"][0]
    assert set(data) == {"team", "environment", "owners", "cluster", "addons", "namespaces", "tags"}


def test_new_team_files_keep_their_comments_and_guess_the_org_from_files_it_wrote(platform_repo: Path):
    assert main(["--repo", str(platform_repo), "new-team", "alpha", "--env", "dev", "--owner", "@other/alpha"]) == 0
    for folder in ("ledger", "payments", "sandbox"):
        for path in (platform_repo / "stacks" / folder).iterdir():
            path.unlink()
        (platform_repo / "stacks" / folder).rmdir()
    assert main(["--repo", str(platform_repo), "new-team", "beta", "--env", "dev"]) == 0
    text = (platform_repo / "stacks/beta/dev.yaml").read_text()
    assert "owners: ['@other/beta']" in text
    for comment in ("# who reviews changes to this file", "# 0 <= minSize <= desiredSize <= maxSize",
                    "# baseline: ingress-nginx", '# names start with "beta-"', "# groups bound to edit"):
        assert comment in text
