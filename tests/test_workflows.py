"""The GitHub Actions workflows users get: linted with actionlint (built from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.tools import Toolchain

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    chain = Toolchain(REPO)
    state = chain.state(chain.tool("actionlint"))
    if not state.ok:  # never a skip: an unchecked workflow proves nothing (bin/test installs it)
        pytest.fail(f"actionlint absent ({state.detail}): run `shipyard tools install actionlint` or bin/test")
    return chain.binary("actionlint")


def test_workflows_pass_actionlint(actionlint: Path):
    assert {w.name for w in WORKFLOWS} == {"preview.yml", "deploy.yml", "drift.yml"}
    result = subprocess.run([str(actionlint), "-no-color", *map(str, WORKFLOWS)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / ".github/workflows" / name).read_text())


def test_preview_is_per_pull_request_and_forks_get_no_secrets():
    wf = _load("preview.yml")
    assert wf["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}"
    steps = wf["jobs"]["preview"]["steps"]
    secret_steps = [s for s in steps if "secrets." in str(s.get("env", {}))]
    assert secret_steps and all(s["if"].startswith("env.TRUSTED == 'true'") for s in secret_steps)
    assert any("--format github" in s.get("run", "") for s in steps)
    assert any("upload-artifact" in s.get("uses", "") for s in steps)
    triggers = wf[True] if True in wf else wf["on"]
    assert list(triggers) == ["pull_request"]  # never pull_request_target: fork code must not see secrets
    untrusted = [s for s in steps if s.get("if", "").startswith("env.TRUSTED != 'true'")]
    assert any("--author" in s["run"] and "--changed-since" in s["run"] for s in untrusted)
    assert any("preview --offline" in s["run"] for s in untrusted)
    assert all("secrets." not in str(s) for s in untrusted)


def test_preview_checks_ownership_and_passes_the_destroy_approval_label():
    wf = _load("preview.yml")
    job = wf["jobs"]["preview"]
    assert job["env"]["AUTHOR"] == "${{ github.event.pull_request.user.login }}"
    assert "shipyard:allow-destroy" in job["env"]["ALLOW_DESTROY"]
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "codeowners --check" in runs and "--allow-destroy" in runs
    # The label alone approves nothing: who set it is checked against the platform team.
    assert "shipyard destroy-approval --pr" in runs
    deploy = " ".join(s.get("run", "") for s in _load("deploy.yml")["jobs"]["deploy"]["steps"])
    assert "shipyard destroy-approval --commit" in deploy and "--allow-destroy" in deploy


def test_deploy_never_cancels_a_running_apply_and_gates_prod():
    job = _load("deploy.yml")["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    assert "'prod'" in job["environment"]
    assert any("shipyard up" in s.get("run", "") and "--wait" in s.get("run", "") for s in job["steps"])


def test_drift_runs_every_six_hours_and_on_demand():
    wf = _load("drift.yml")
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on:` as a boolean key
    assert triggers["schedule"][0]["cron"].endswith("*/6 * * *") and "workflow_dispatch" in triggers
    assert any("drift --all" in s.get("run", "") and "--notify" in s.get("run", "") for s in wf["jobs"]["drift"]["steps"])
