"""The CLI contracts: exit codes, output formats, working on the repository in cwd or --repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.cli.schema import SCHEMA_PATH, render_schema

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _break(root: Path) -> Path:
    path = root / "stacks/ledger/prod.yaml"
    path.write_text(path.read_text().replace("region: eu-west-1", "regoin: eu-west-1"))
    return path


def test_validate_exits_0_when_everything_is_valid(capsys, platform_repo):
    code, out, err = run(capsys, "--repo", str(platform_repo), "validate")
    assert code == 0 and out == "" and "are valid" in err


def test_validate_exits_1_and_prints_path_line_col(capsys, platform_repo):
    _break(platform_repo)
    code, out, _ = run(capsys, "--repo", str(platform_repo), "validate")
    assert code == 1
    assert out.splitlines() == ["stacks/ledger/prod.yaml:7:3: unknown key 'regoin' in cluster; did you mean "
                                "'region'? allowed keys: access, availabilityZones, kubeconfigSecret, "
                                "kubernetesVersion, nodeGroups, provider, publicEndpoint, region, vpcCidr"]


def test_validate_github_format_prints_annotations(capsys, platform_repo):
    _break(platform_repo)
    code, out, _ = run(capsys, "--repo", str(platform_repo), "validate", "--format", "github")
    assert code == 1
    assert out.startswith("::error file=stacks/ledger/prod.yaml,line=7,col=3::unknown key 'regoin'")


def test_validate_json_format_is_a_list(capsys, platform_repo):
    _break(platform_repo)
    code, out, _ = run(capsys, "--repo", str(platform_repo), "validate", "--format", "json")
    assert code == 1
    [item] = json.loads(out)
    assert item["path"] == "stacks/ledger/prod.yaml" and item["line"] == 7 and "regoin" in item["message"]
    code, out, _ = run(capsys, "--repo", str(REPO), "validate", "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_validate_given_paths_checks_only_those(capsys, platform_repo, monkeypatch):
    _break(platform_repo)
    monkeypatch.chdir(platform_repo)
    assert run(capsys, "validate", "stacks/sandbox/dev.yaml")[0] == 0
    code, out, _ = run(capsys, "validate", "stacks/ledger/prod.yaml", "stacks/nope/dev.yaml")
    assert code == 1 and "stacks/nope/dev.yaml:1:1: no such file" in out


def test_validate_also_checks_the_catalog(capsys, platform_repo):
    catalog = platform_repo / "addons/catalog.yaml"
    catalog.write_text(catalog.read_text().replace("version: 8.3.5", "version: 8.x"))
    code, out, _ = run(capsys, "--repo", str(platform_repo), "validate")
    assert code == 1 and out.startswith("addons/catalog.yaml:") and "'8.x' is not an exact version" in out


def test_usage_errors_exit_1_not_2(capsys):
    assert run(capsys, "validate", "--format", "xml")[0] == 1
    assert run(capsys, "no-such-command")[0] == 1


def test_outside_a_repository_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "stacks")
    assert code == 1 and "not inside a Shipyard platform repository" in err


def test_stacks_lists_names_and_files(capsys):
    code, out, _ = run(capsys, "--repo", str(REPO), "stacks")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["ledger-prod", "stacks/ledger/prod.yaml"] in lines and ["sandbox-dev", "stacks/sandbox/dev.yaml"] in lines
    code, out, _ = run(capsys, "--repo", str(REPO), "stacks", "--json")
    assert {"stack": "payments-staging", "file": "stacks/payments/staging.yaml", "team": "payments",
            "environment": "staging"} in json.loads(out)


def test_committed_schema_is_up_to_date():
    assert (REPO / SCHEMA_PATH).read_text() == render_schema(REPO), "run: shipyard schema > schema/stack.schema.json"


def test_schema_documents_every_field():
    schema = json.loads(render_schema(REPO))

    def walk(node):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"field {name} has no docstring"

    walk(schema)
    for definition in schema["$defs"].values():
        walk(definition)


def test_preview_offline_json_lists_the_resource_tree(capsys):
    code, out, _ = run(capsys, "--repo", str(REPO), "preview", "--offline", "--json", "sandbox-dev")
    assert code == 0
    [stack] = json.loads(out)["stacks"]
    by_name = {r["name"]: r for r in stack["resources"]}
    tenancy = by_name["sandbox-tenancy"]
    assert by_name["sandbox-tenancy-sandbox-web-quota"]["parent"] == tenancy["urn"]
    assert not [r for r in stack["resources"] if r["type"] == "kubernetes:helm.sh/v4:Chart"]  # no add-ons
    assert by_name["sandbox-k8s"]["inputs"]["kubeconfig"] == "[secret]"
    assert stack["cost"]["priced"] is False and stack["cost"]["monthly"] == 0


def test_preview_offline_shows_the_default_quota_of_a_namespace_without_one(capsys, platform_repo: Path):
    path = platform_repo / "stacks/sandbox/dev.yaml"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "quota:" not in line) + "\n")
    code, out, _ = run(capsys, "--repo", str(platform_repo), "preview", "--offline", "sandbox-dev")
    assert code == 0
    quota = next(line for line in out.splitlines() if "sandbox-tenancy-sandbox-web-quota" in line)
    assert 'spec.hard={"pods":"20","requests.cpu":"2","requests.memory":"4Gi"}' in quota  # policy.yaml dev defaultQuota


def test_preview_offline_text_prints_a_tree(capsys):
    code, out, _ = run(capsys, "--repo", str(REPO), "preview", "--offline", "ledger-prod")
    assert code == 0
    assert "── shipyard:tenancy:TeamTenancy  ledger-tenancy" in out
    assert "    ├── kubernetes:core/v1:LimitRange  ledger-tenancy-ledger-api-limits" in out
    assert "aws:eks/cluster:Cluster  ledger-eks" in out and "version=1.33" in out
    # Forks only get this path: the cost estimate and budget are part of it.
    assert "estimated monthly cost: 444.05 USD of a 5,000.00 USD budget (nodes general: m6i.large 234.33 USD" in out


def test_preview_offline_of_unknown_stack_fails(capsys):
    code, _, err = run(capsys, "--repo", str(REPO), "preview", "--offline", "nope-dev")
    assert code == 1 and "no stack 'nope-dev'" in err


def test_installed_console_script_works_from_another_directory(tmp_path):
    """The real entry point, in a subprocess, with no environment variables beyond PATH."""
    exe = Path(sys.executable).with_name("shipyard")
    result = subprocess.run([str(exe), "--repo", str(REPO), "stacks"], cwd=tmp_path, capture_output=True,
                            text=True, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    assert "ledger-prod" in result.stdout


def test_destroying_a_prod_stack_needs_its_name_typed(capsys):
    assert main(["--repo", str(REPO), "destroy", "ledger-prod", "--yes"]) == 1
    assert "production stack: type its name" in capsys.readouterr().err
    assert main(["--repo", str(REPO), "destroy", "ledger-prod", "--yes", "--confirm", "ledger-dev"]) == 1
    assert "nothing was destroyed" in capsys.readouterr().err


def test_validate_rejects_secrets_in_stack_files(capsys, platform_repo):
    path = platform_repo / "stacks/ledger/prod.yaml"
    path.write_text(path.read_text().replace("controller: {replicaCount: 2}",
                                             "controller: {replicaCount: 2}\n      token: s3cr3t-value"))
    code, out, _ = run(capsys, "--repo", str(platform_repo), "validate")
    assert code == 1
    assert "stacks/ledger/prod.yaml:24:7: addons.values.ingress-nginx.token: 'token' holds what looks like a " \
           "credential" in out
    assert "s3cr3t-value" not in out  # the secret itself is never echoed


@pytest.fixture
def no_engine(monkeypatch):
    """Every way a command reaches Pulumi, replaced by a failure: these tests are about what happens before."""
    import shipyard.engine
    import shipyard.offline
    import shipyard.runner

    def unreachable(*args, **kwargs):
        raise AssertionError("the engine was reached")

    monkeypatch.setattr(shipyard.engine, "Engine", unreachable)
    monkeypatch.setattr(shipyard.runner, "run_stacks", unreachable)
    monkeypatch.setattr(shipyard.offline, "run_offline", unreachable)


UNKNOWN_NAME_COMMANDS = [["preview", "{}"], ["preview", "--offline", "{}"], ["preview", "--json", "-", "{}"],
                         ["up", "{}"], ["drift", "{}"], ["destroy", "{}", "--yes"],
                         ["config", "set-kubeconfig", "{}", "kubeconfig.yaml"]]


@pytest.mark.parametrize("command", UNKNOWN_NAME_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unknown_stack_name_is_an_error_for_every_command_before_the_engine(capsys, no_engine, command):
    code, _, err = run(capsys, "--repo", str(REPO), *[part.format("ledgr-dev") for part in command])
    assert code == 1
    assert "no stack 'ledgr-dev': expected the file stacks/ledgr/dev.yaml" in err
    assert "known stacks: ledger-dev, ledger-prod, payments-staging, sandbox-dev" in err


@pytest.mark.parametrize("command", UNKNOWN_NAME_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("name", ["ledger-dev\n", "ledger-dev\n::error::x", "ledger", "../ledger-dev", "ledger-qa"])
def test_a_name_that_is_not_a_stack_name_is_refused_and_shown_escaped(capsys, no_engine, command, name):
    code, _, err = run(capsys, "--repo", str(REPO), *[part.format(name) for part in command])
    assert code == 1 and f"no stack {name!r}: a stack name is <team>-<env>" in err
    assert len(err.strip().splitlines()) == 1  # nothing the name carried starts a line of its own


def test_destroy_takes_a_stack_whose_file_a_commit_deleted_and_refuses_a_typo(platform_repo: Path, capsys,
                                                                                monkeypatch):
    from tests.support.git import commit, git, init_on_branch

    import shipyard.engine

    destroyed = []

    class RecordingEngine:
        def __init__(self, root):
            pass

        def destroy(self, name):
            destroyed.append(name)
            return shipyard.engine.Outcome(name, "destroy", [], {})

    monkeypatch.setattr(shipyard.engine, "Engine", RecordingEngine)
    init_on_branch(platform_repo)
    (platform_repo / "stacks/sandbox/dev.yaml").unlink()
    commit(platform_repo, "decommission sandbox-dev")
    deleting = git(platform_repo, "rev-parse", "--short=12", "HEAD").strip()
    code, _, err = run(capsys, "--repo", str(platform_repo), "destroy", "sandbox-dev", "--yes")
    assert code == 0 and destroyed == ["sandbox-dev"]
    assert f"sandbox-dev: its stack file was deleted in {deleting}" in err
    # a name that never had a file (a typo of the deleted stack) is refused, and says why
    code, _, err = run(capsys, "--repo", str(platform_repo), "destroy", "sandbx-dev", "--yes")
    assert code == 1 and destroyed == ["sandbox-dev"]
    assert "no stack 'sandbx-dev': expected the file stacks/sandbx/dev.yaml (destroy also takes a stack whose " \
           "file was deleted" in err
    # a file that was never committed leaves no history: removing it is no decommissioning
    (platform_repo / "stacks/ledger/staging.yaml").write_text("x")
    (platform_repo / "stacks/ledger/staging.yaml").unlink()
    assert run(capsys, "--repo", str(platform_repo), "destroy", "ledger-staging", "--yes")[0] == 1
    assert destroyed == ["sandbox-dev"]


def test_destroy_outside_git_refuses_a_missing_stack_file(platform_repo: Path, capsys, no_engine):
    (platform_repo / "stacks/sandbox/dev.yaml").unlink()
    code, _, err = run(capsys, "--repo", str(platform_repo), "destroy", "sandbox-dev", "--yes")
    assert code == 1 and "no stack 'sandbox-dev': expected the file stacks/sandbox/dev.yaml" in err


def test_changed_since_names_get_the_same_check_as_typed_ones(platform_repo: Path, capsys, no_engine):
    from tests.support.git import commit, init_on_branch

    init_on_branch(platform_repo)
    hostile = platform_repo / "stacks" / "x\n::error::y"
    hostile.mkdir()
    (hostile / "dev.yaml").write_text((platform_repo / "stacks/sandbox/dev.yaml").read_text())
    commit(platform_repo)
    code, _, err = run(capsys, "--repo", str(platform_repo), "preview", "--changed-since", "main")
    assert code == 1 and "no stack 'x\\n::error::y-dev': a stack name is <team>-<env>" in err
    assert not any(line.startswith("::") for line in err.splitlines())
