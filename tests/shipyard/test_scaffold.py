from pathlib import Path

from shipyard.cli import main
from shipyard.repo import Repo
from shipyard.validation import load_catalog, parse_stack_file


def test_new_team_writes_a_valid_commented_stack_and_codeowners(platform_repo: Path, capsys):
    assert main(["--repo", str(platform_repo), "new-team", "billing", "--env", "prod"]) == 0
    path = platform_repo / "stacks/billing/prod.yaml"
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schema/stack.schema.json")
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
