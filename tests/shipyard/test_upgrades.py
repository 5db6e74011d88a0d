"""Kubernetes upgrades: the one-minor rule against what was applied (git or state), and `upgrade plan`'s waves on a
scratch git repository of 12 eks stacks (4 teams x dev, staging, prod) plus a local one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.errors import StackNotAppliedError
from shipyard.upgrades import applied_from_git, applied_from_state, eks_version, plan_waves, step_of
from shipyard.yamlfile import replace_scalar
from tests.support.git import commit, git, init_on_branch
from tests.support.repo import copy_platform

TEAMS = ("alpha", "bravo", "charlie", "delta")
STACK = """# yaml-language-server: $schema=../../schema/stack.schema.json
# {team} in {env}: kept by hand, comments and all.
team: {team}
environment: {env}
owners: ["@acme/{team}"]
cluster:
  provider: eks
  region: eu-west-1
  kubernetesVersion: "{version}"   # the cluster's minor
  nodeGroups:
    - {{name: general, instanceType: m6i.large, minSize: 1, desiredSize: 2, maxSize: 3}}
addons:
  bundles: [baseline{observability}]
namespaces:
  - name: {team}-api
    admins: [{team}-leads]
"""
LOCAL = """team: sandbox
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
"""


def _fleet(root: Path, version: str = "1.33") -> Path:
    copy_platform(root)
    shutil.rmtree(root / "stacks")
    for team in TEAMS:
        for env in ("dev", "staging", "prod"):
            path = root / "stacks" / team / f"{env}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(STACK.format(team=team, env=env, version=version,
                                         observability=", observability" if env == "prod" else ""))
    (root / "stacks" / "sandbox").mkdir()
    (root / "stacks" / "sandbox" / "dev.yaml").write_text(LOCAL)
    return root


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """12 eks stacks at 1.33 committed on `main` (merged = applied, for git), work on a branch."""
    return init_on_branch(_fleet(tmp_path / "platform"))


def _plan(capsys, root: Path, *args: str) -> tuple[int, dict]:
    code = main(["--repo", str(root), "upgrade", "plan", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _versions(root: Path) -> dict[str, str | None]:
    return {f"{p.parent.name}-{p.stem}": eks_version(p.read_text()) for p in sorted((root / "stacks").glob("*/*.yaml"))}


def test_plan_lists_every_stack_in_waves_and_edits_the_first_in_place(capsys, fleet):
    before = (fleet / "stacks/alpha/dev.yaml").read_text()
    code, plan = _plan(capsys, fleet, "--to", "1.34")
    assert code == 0 and plan["source"] == "git (HEAD)" and plan["wave"] == "dev"
    assert [w["environment"] for w in plan["waves"]] == ["dev", "staging", "prod"]
    assert [w["status"] for w in plan["waves"]] == ["todo", "todo", "todo"]
    assert sum(len(w["stacks"]) for w in plan["waves"]) == 12  # the local stack is not an eks stack
    assert plan["written"] == [f"stacks/{team}/dev.yaml" for team in TEAMS]
    after = (fleet / "stacks/alpha/dev.yaml").read_text()
    # one value changed, nothing else: comments, quotes and layout are the reviewer's
    assert after == before.replace('kubernetesVersion: "1.33"', 'kubernetesVersion: "1.34"')
    assert {name: v for name, v in _versions(fleet).items() if v} == {
        f"{team}-{env}": "1.34" if env == "dev" else "1.33" for team in TEAMS for env in ("dev", "staging", "prod")}
    assert main(["--repo", str(fleet), "validate"]) == 0  # the edits are one minor from the base: valid


def test_a_later_wave_is_refused_while_an_earlier_one_is_not_applied(capsys, fleet):
    assert _plan(capsys, fleet, "--to", "1.34")[0] == 0
    # edited, not merged: dev is pending, and neither the next run nor an explicit later wave may go on
    code, plan = _plan(capsys, fleet, "--to", "1.34")
    assert code == 3 and plan["written"] == []
    assert plan["waves"][0]["status"] == "pending"
    assert "wave 'staging' waits for wave 'dev'" in plan["refused"] and "alpha-dev (file 1.34, applied 1.33)" in \
        plan["refused"]
    code, plan = _plan(capsys, fleet, "--to", "1.34", "--wave", "prod")
    assert code == 3 and "wave 'prod' waits for wave 'dev'" in plan["refused"] and plan["written"] == []
    assert main(["--repo", str(fleet), "upgrade", "plan", "--to", "1.34"]) == 3
    assert "error: wave 'staging' waits for wave 'dev', which is not applied yet" in capsys.readouterr().err


def test_waves_advance_as_each_is_merged_until_the_fleet_is_done(capsys, fleet):
    for wave in ("dev", "staging", "prod"):
        code, plan = _plan(capsys, fleet, "--to", "1.34")
        assert code == 0 and plan["wave"] == wave
        assert plan["written"] == [f"stacks/{team}/{wave}.yaml" for team in TEAMS]
        commit(fleet, f"kubernetes 1.34 in {wave}")  # merged, so deployed: applied
    code, plan = _plan(capsys, fleet, "--to", "1.34")
    assert code == 0 and plan["wave"] is None and plan["written"] == []
    assert all(w["status"] == "done" for w in plan["waves"])
    assert main(["--repo", str(fleet), "upgrade", "plan", "--to", "1.34"]) == 0
    assert "every eks stack is at 1.34 and applied" in capsys.readouterr().out


def test_two_minors_go_one_at_a_time_within_the_wave(capsys, fleet):
    code, plan = _plan(capsys, fleet, "--to", "1.35")
    [alpha] = [s for s in plan["waves"][0]["stacks"] if s["stack"] == "alpha-dev"]
    assert code == 0 and alpha["next"] == "1.34" and alpha["remaining"] == ["1.35"]
    assert _versions(fleet)["alpha-dev"] == "1.34"
    commit(fleet)
    code, plan = _plan(capsys, fleet, "--to", "1.35")
    assert code == 0 and plan["wave"] == "dev" and _versions(fleet)["alpha-dev"] == "1.35"
    assert _versions(fleet)["alpha-staging"] == "1.33"  # staging starts once dev has all of it


def test_dry_run_writes_nothing(capsys, fleet):
    code, plan = _plan(capsys, fleet, "--to", "1.34", "--dry-run")
    assert code == 0 and len(plan["written"]) == 4
    assert set(_versions(fleet).values()) == {"1.33", None}


def test_a_wave_policy_does_not_allow_is_blocked(capsys, fleet):
    policy = fleet / "policy.yaml"
    policy.write_text(policy.read_text().replace('kubernetesVersions: ["1.33", "1.34", "1.35", "1.36"]\n    maxNodesPerGroup: 5',
                                                 'kubernetesVersions: ["1.33", "1.34"]\n    maxNodesPerGroup: 5', 1))
    code, plan = _plan(capsys, fleet, "--to", "1.35")
    assert code == 1 and plan["waves"][0]["status"] == "blocked" and plan["written"] == []
    assert "does not allow Kubernetes 1.35 in dev" in plan["refused"]


def test_the_state_is_what_was_applied_when_it_can_be_read(capsys, fleet, monkeypatch):
    """A dev stack merged at 1.34 whose deploy failed: git says applied, the state says 1.33."""
    for team in TEAMS:
        path = fleet / f"stacks/{team}/dev.yaml"
        path.write_text(path.read_text().replace('"1.33"', '"1.34"'))
    commit(fleet)
    applied = {f"{team}-dev": "1.34" for team in TEAMS} | {"delta-dev": "1.33"}

    def outputs(name: str) -> dict:
        if name == "charlie-prod":
            raise StackNotAppliedError("never applied")
        return {"kubernetesVersion": applied.get(name, "1.33")}

    monkeypatch.setattr("shipyard.upgrades.engine_outputs", lambda root: outputs)
    code, plan = _plan(capsys, fleet, "--to", "1.34", "--applied-from", "state")
    assert code == 3 and plan["source"] == "state"
    assert "delta-dev (file 1.34, applied 1.33)" in plan["refused"] and "alpha-dev" not in plan["refused"]
    code, plan = _plan(capsys, fleet, "--to", "1.34")  # git: merged counts as applied
    assert code == 0 and plan["wave"] == "staging"


def test_validate_refuses_a_jump_of_two_minors_from_the_base_revision(capsys, fleet):
    path = fleet / "stacks/bravo/prod.yaml"
    path.write_text(path.read_text().replace('"1.33"', '"1.35"'))
    code = main(["--repo", str(fleet), "validate"])
    out = capsys.readouterr().out
    assert code == 1
    assert ('stacks/bravo/prod.yaml:9:3: cluster.kubernetesVersion: kubernetesVersion 1.35 is 2 minor versions '
                        'after 1.33, the version last applied (stacks/bravo/prod.yaml at HEAD); EKS upgrades one minor at a '
            'time: set and apply "1.34" first') in out
    assert main(["--repo", str(fleet), "validate", "--changed-since", "main"]) == 1
    assert "(stacks/bravo/prod.yaml at main)" in capsys.readouterr().out
    path.write_text(path.read_text().replace('"1.35"', '"1.34"'))
    assert main(["--repo", str(fleet), "validate", "--changed-since", "main"]) == 0
    path.write_text(path.read_text().replace('"1.34"', '"1.32"'))
    assert main(["--repo", str(fleet), "validate"]) == 1
    assert "is not supported" in capsys.readouterr().out


def test_validate_reads_the_state_when_asked(capsys, fleet, monkeypatch):
    monkeypatch.setattr("shipyard.upgrades.engine_outputs",
                        lambda root: lambda name: {"kubernetesVersion": "1.35" if name == "alpha-dev" else "1.33"})
    # the file still says 1.33 (git agrees), but the state says 1.35 was applied: going back is refused
    assert main(["--repo", str(fleet), "validate", "--applied-from", "state"]) == 1
    out = capsys.readouterr().out
    assert "kubernetesVersion 1.33 is older than 1.35, the version last applied (the stack's state)" in out
    assert out.count("older than") == 1


def test_outside_git_validate_has_no_base_and_checks_no_step(capsys, tmp_path):
    root = _fleet(tmp_path / "plain", version="1.35")
    assert main(["--repo", str(root), "validate"]) == 0


def test_applied_versions_from_git_only_for_changed_eks_files(fleet):
    alpha = fleet / "stacks/alpha/dev.yaml"
    bravo = fleet / "stacks/bravo/dev.yaml"
    alpha.write_text(alpha.read_text().replace('"1.33"', '"1.34"'))
    found = applied_from_git(fleet, [alpha, bravo, fleet / "stacks/sandbox/dev.yaml"], "main")
    assert {p.name: (a.version, a.source) for p, a in found.items()} == {
        "dev.yaml": ("1.33", "stacks/alpha/dev.yaml at main")}
    assert len(applied_from_git(fleet, [alpha, bravo], "main", changed_only=False)) == 2
    git(fleet, "rm", "-q", "--cached", "stacks/bravo/dev.yaml")
    git(fleet, "commit", "-q", "-m", "bravo-dev is new again")
    assert bravo not in applied_from_git(fleet, [bravo], "HEAD", changed_only=False)  # new: nothing applied


def test_state_versions_of_stacks_never_applied_are_unknown():
    def read(name):
        if name == "new-dev":
            raise StackNotAppliedError("never")
        return {"kubernetesVersion": "1.34"} if name == "old-dev" else {}

    found = applied_from_state(["old-dev", "new-dev", "pre-dev"], read)
    assert found["old-dev"].version == "1.34" and found["old-dev"].source == "the stack's state"
    assert found["new-dev"] is None and found["pre-dev"] is None


def test_step_statuses():
    assert step_of("a-dev", "dev", "p", "1.33", "1.33", "1.35").status == "behind"
    assert step_of("a-dev", "dev", "p", "1.34", "1.33", "1.35").status == "pending"
    assert step_of("a-dev", "dev", "p", "1.34", None, "1.34").status == "pending"  # never applied
    assert step_of("a-dev", "dev", "p", "1.35", "1.35", "1.35").status == "done"
    assert step_of("a-dev", "dev", "p", "1.36", "1.35", "1.35").status == "ahead"
    waves = plan_waves("1.34", [("a-prod", "prod", "p", "1.33", "1.33")], {"prod": ["1.33"]})
    assert [(w.environment, w.status) for w in waves] == [("prod", "blocked")]


def test_replace_scalar_keeps_everything_else():
    text = '# héllo\ncluster:  # the cluster\n  kubernetesVersion: "1.33"  # minor\n  region: eu-west-1\n'
    assert replace_scalar(text, ("cluster", "kubernetesVersion"), "1.34") == text.replace("1.33", "1.34")
    single = "cluster:\n  kubernetesVersion: '1.33'\n"
    assert replace_scalar(single, ("cluster", "kubernetesVersion"), "1.34") == "cluster:\n  kubernetesVersion: '1.34'\n"
    with pytest.raises(KeyError):
        replace_scalar(text, ("cluster", "nodeGroups"), "x")
