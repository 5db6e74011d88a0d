"""The GitHub Actions workflows users get: linted with actionlint (pinned in tools.toml), their trust model
asserted job by job, and the comment relay's script run against hostile artifacts with a fake `gh`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.tools import Toolchain

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
RUNNER = "${{ fromJSON(vars.SHIPYARD_RUNNER || '\"ubuntu-latest\"') }}"
TOOLS_CACHE_KEY = "hashFiles('tools.toml', 'pyproject.toml')"
MARKER = "<!-- shipyard:preview -->"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    chain = Toolchain(REPO)
    state = chain.state(chain.tool("actionlint"))
    if not state.ok:  # never a skip: an unchecked workflow proves nothing (bin/test installs it)
        pytest.fail(f"actionlint absent ({state.detail}): run `shipyard tools install actionlint` or bin/test")
    return chain.binary("actionlint")


def test_workflows_pass_actionlint(actionlint: Path):
    assert {w.name for w in WORKFLOWS} == {"preview.yml", "comment.yml", "deploy.yml", "drift.yml"}
    result = subprocess.run([str(actionlint), "-no-color", *map(str, WORKFLOWS)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / ".github/workflows" / name).read_text())


def _triggers(wf: dict) -> Any:
    return wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on:` as a boolean key


def _jobs() -> Iterator[tuple[str, str, dict]]:
    for path in WORKFLOWS:
        for name, job in _load(path.name)["jobs"].items():
            yield path.name, name, job


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(f"{action}@")]


def test_every_checkout_keeps_no_credentials():
    checkouts = [(f, j, s) for f, j, job in _jobs() for s in _uses(job, "actions/checkout")]
    assert checkouts
    for file, job, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{file} {job}"


def test_every_action_is_pinned_to_a_full_commit_with_its_tag_in_a_comment():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if not re.match(r"\s*(- )?uses:", line):
                continue
            found = re.fullmatch(r"\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(?:\.\d+)*", line)
            assert found, f"{path.name}: not pinned to a commit with its tag: {line.strip()}"
            pins.setdefault(found[1], set()).add(found[2])
    # One version of each action across the workflows, so an update cannot miss a file.
    assert all(len(shas) == 1 for shas in pins.values()), pins
    assert "actions/setup-go" not in pins  # tools come as official releases; no job builds them


def test_no_script_splices_an_expression():
    # Untrusted text (a login, a label, a branch name) reaches scripts only through the environment.
    for file, name, job in _jobs():
        assert "${{" not in _runs(job), f"{file} {name}"


def test_preview_runs_on_pull_request_only_and_never_comments():
    wf = _load("preview.yml")
    assert list(_triggers(wf)) == ["pull_request"]  # never pull_request_target: fork code must not see secrets
    assert wf["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}"
    assert wf["permissions"] == {}
    for job in wf["jobs"].values():
        runs = _runs(job)
        assert "gh " not in runs and "/comments" not in runs and "GH_TOKEN" not in str(job)
        assert job["permissions"].get("pull-requests", "read") == "read"
        assert "report/pr-number" in runs and "report/head-sha" in runs
        [upload] = _uses(job, "actions/upload-artifact")
        assert upload["if"] == "always()" and upload["with"]["name"] == "shipyard-preview"
        assert any(s.get("env", {}).get("PR") == "${{ github.event.pull_request.number }}" and
                   s["env"].get("HEAD_SHA") == "${{ github.event.pull_request.head.sha }}" for s in job["steps"])


def test_fork_path_installs_no_tools_and_references_no_secrets():
    jobs = _load("preview.yml")["jobs"]
    fork, trusted = jobs["fork"], jobs["preview"]
    assert fork["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert trusted["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert fork["runs-on"] == "ubuntu-latest"  # never a self-hosted runner inside the VPC
    assert fork["permissions"] == {"contents": "read"}
    assert "secrets." not in str(fork) and "vars." not in str(fork)
    assert not _uses(fork, "actions/cache") and not _uses(fork, "aws-actions/configure-aws-credentials")
    runs = _runs(fork)
    assert "bin/install --no-tools" in runs and "tools install" not in runs and "--for engine" not in runs
    assert 'shipyard validate --format github --author "$AUTHOR" --changed-since "$BASE"' in runs
    assert "shipyard codeowners --check" in runs and "shipyard preview --offline" in runs
    assert fork["env"]["AUTHOR"] == "${{ github.event.pull_request.user.login }}"


def test_trusted_preview_checks_ownership_and_the_destroy_label_then_previews_as_the_preview_role():
    job = _load("preview.yml")["jobs"]["preview"]
    assert job["env"]["AUTHOR"] == "${{ github.event.pull_request.user.login }}"
    assert "shipyard:allow-destroy" in job["env"]["ALLOW_DESTROY"]
    runs = _runs(job)
    assert 'shipyard validate --format github --author "$AUTHOR" --changed-since "$BASE"' in runs
    assert "shipyard codeowners --check" in runs
    # The label alone approves nothing: who set it is checked against the platform team of the base.
    assert 'shipyard destroy-approval --pr "$PR" --base "$BASE"' in runs and "--allow-destroy" in runs
    [aws] = _uses(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.SHIPYARD_PREVIEW_ROLE_ARN }}"
    assert "environment" not in job and "APPLY" not in str(job) and "PASSPHRASE" not in str(job)


def test_comment_workflow_relays_the_artifact_without_running_pull_request_code():
    wf = _load("comment.yml")
    assert _triggers(wf) == {"workflow_run": {"workflows": ["preview"], "types": ["completed"]}}
    assert wf["permissions"] == {}
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert job["runs-on"] == "ubuntu-latest"
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]
    assert [s.get("uses", "").split("@")[0] for s in job["steps"] if "uses" in s] == ["actions/download-artifact"]
    [download] = _uses(job, "actions/download-artifact")
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["name"] == "shipyard-preview"
    runs = _runs(job)
    assert "checkout" not in str(job) and "shipyard" not in runs.replace("shipyard:preview", "")
    assert job["steps"][-1]["env"]["RUN_HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    # The one workflow that may write to a pull request.
    for file, name, other in _jobs():
        if file != "comment.yml":
            assert "pull-requests" not in other.get("permissions", {}) or \
                other["permissions"]["pull-requests"] == "read", f"{file} {name}"


def test_apply_role_and_passphrase_only_in_jobs_with_an_environment():
    seen = []
    for file, name, job in _jobs():
        text = str(job)
        if "SHIPYARD_APPLY_ROLE_ARN" in text or "PULUMI_CONFIG_PASSPHRASE" in text:
            seen.append((file, name))
            assert job.get("environment"), f"{file} {name}"
    assert seen == [("deploy.yml", "deploy")]
    deploy = _load("deploy.yml")["jobs"]["deploy"]
    assert deploy["environment"] == "${{ matrix.environment }}"  # dev, staging, prod: restricted to main
    [aws] = _uses(deploy, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.SHIPYARD_APPLY_ROLE_ARN }}"


def test_aws_comes_only_from_oidc_role_assumption():
    for file, name, job in _jobs():
        text = str(job)
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
        assumes = bool(_uses(job, "aws-actions/configure-aws-credentials"))
        assert (job.get("permissions", {}).get("id-token") == "write") == assumes, f"{file} {name}"
    for file in WORKFLOWS:
        assert "id-token" not in str(_load(file.name).get("permissions", {}))  # only per job


def test_engine_jobs_install_the_engine_tools_from_releases_on_the_configurable_runner():
    engine_jobs = {("preview.yml", "preview"), ("deploy.yml", "deploy"), ("drift.yml", "drift")}
    for file, name, job in _jobs():
        runs = _runs(job)
        if (file, name) in engine_jobs:
            assert "bin/install --for engine --no-build" in runs, f"{file} {name}"
            [cache] = _uses(job, "actions/cache")
            assert TOOLS_CACHE_KEY in cache["with"]["key"] and "engine" in cache["with"]["key"]
            assert cache["with"]["path"] == "~/.cache/shipyard/tools"
            assert job["runs-on"] == RUNNER
        else:
            assert "--for engine" not in runs and not _uses(job, "actions/cache"), f"{file} {name}"
            assert job["runs-on"] == "ubuntu-latest", f"{file} {name}"
            assert "bin/install" not in runs or "bin/install --no-tools" in runs, f"{file} {name}"


def test_deploy_never_cancels_a_running_apply_and_judges_the_destroy_label_before_the_merge():
    job = _load("deploy.yml")["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    runs = _runs(job)
    assert 'shipyard up "$STACK" --wait' in runs and "--allow-destroy" in runs
    assert 'shipyard destroy-approval --commit "$GITHUB_SHA" --base "$BEFORE"' in runs
    [checkout] = _uses(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0  # the commit before the push must be there


def test_drift_fans_out_over_shards_and_merges_once():
    wf = _load("drift.yml")
    triggers = _triggers(wf)
    assert triggers["schedule"][0]["cron"].endswith("*/6 * * *") and "workflow_dispatch" in triggers
    jobs = wf["jobs"]
    assert jobs["shards"]["steps"][0]["env"]["SHARDS"] == "${{ vars.SHIPYARD_DRIFT_SHARDS || '4' }}"
    shard = jobs["drift"]
    assert shard["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.shards.outputs.list) }}"
    assert shard["strategy"]["fail-fast"] is False
    runs = _runs(shard)
    assert 'shipyard drift --all --shard "$SHARD/$SHARDS"' in runs and '--json "drift-$SHARD.json"' in runs
    assert "--notify" not in runs  # alerts go out once, from the merged report
    report = jobs["report"]
    assert report["needs"] == ["shards", "drift"] and report["if"].startswith("always()")
    runs = _runs(report)
    assert ("shipyard report merge shards/drift-*.json --markdown drift.md --json drift.json --notify" in runs
            and "GITHUB_STEP_SUMMARY" in runs and "bin/install --no-tools" in runs)
    assert report["permissions"] == {"contents": "read", "issues": "write"}


def test_the_configurable_runner_defaults_to_a_valid_label():
    expression = RUNNER[len("${{ "):-len(" }}")]
    default = expression.split("|| ", 1)[1].rstrip(")")
    assert json.loads(yaml.safe_load(default)) == "ubuntu-latest"


# -- the comment relay's script, against hostile artifacts ------------------------------------------
FAKE_GH = r'''
import json, os, subprocess, sys

state_file = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_file))
args, method, jq, body, path = sys.argv[2:], "GET", None, None, None
while args:
    arg = args.pop(0)
    if arg == "-X":
        method = args.pop(0)
    elif arg == "--jq":
        jq = args.pop(0)
    elif arg == "--input":
        body = json.load(open(args.pop(0)))
    elif arg != "--paginate":
        path = arg
state["calls"].append({"method": method, "path": path, "body": body})
json.dump(state, open(state_file, "w"))
answer = state["answers"].get(f"{method} {path}")
if answer is None and method == "GET":
    sys.stderr.write("gh: Not Found (HTTP 404)\n")
    sys.exit(1)
if jq:
    sys.stdout.write(subprocess.run(["jq", "-r", jq], input=json.dumps(answer), capture_output=True, text=True,
                                    check=True).stdout)
'''
HEAD = "a" * 40
REPOSITORY = "acme/platform-stacks"


def _comment_script() -> str:
    [job] = _load("comment.yml")["jobs"].values()
    return job["steps"][-1]["run"]


@pytest.fixture
def relay(tmp_path: Path):
    """Runs the comment step as the runner would (`bash -e`), with a fake `gh` that records every call."""
    report = tmp_path / "report"
    report.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(f"#!{sys.executable}\n{FAKE_GH}")
    (bin_dir / "gh").chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(_comment_script())
    state_file = tmp_path / "gh.json"

    def run(answers: dict[str, Any]) -> tuple[subprocess.CompletedProcess, list[dict]]:
        state_file.write_text(json.dumps({"calls": [], "answers": answers}))
        runner_temp = tmp_path / "temp"
        runner_temp.mkdir(exist_ok=True)
        env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "FAKE_GH_STATE": str(state_file),
               "REPORT": str(report), "RUN_HEAD_SHA": HEAD, "RUN_URL": "https://github.example/runs/1",
               "GITHUB_REPOSITORY": REPOSITORY, "RUNNER_TEMP": str(runner_temp), "GH_TOKEN": "t"}
        done = subprocess.run(["bash", "-e", str(script)], env=env, capture_output=True, text=True, timeout=60)
        return done, json.loads(state_file.read_text())["calls"]

    return report, run


def _artifact(report: Path, pr: str = "12\n", head: str = HEAD + "\n", body: str = f"{MARKER}\n## preview\n") -> None:
    (report / "pr-number").write_text(pr)
    (report / "head-sha").write_text(head)
    (report / "preview.md").write_text(body)


def _answers(head: str = HEAD, comments: list[dict] | None = None) -> dict[str, Any]:
    return {f"GET repos/{REPOSITORY}/pulls/12": {"number": 12, "head": {"sha": head}},
            f"GET repos/{REPOSITORY}/issues/12/comments": comments or [],
            f"POST repos/{REPOSITORY}/issues/12/comments": {}, f"PATCH repos/{REPOSITORY}/issues/comments/5": {}}


def _writes(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["method"] != "GET"]


def test_comment_is_posted_once_on_the_pull_request_the_run_belongs_to(relay):
    report, run = relay
    _artifact(report)
    done, calls = run(_answers())
    assert done.returncode == 0, done.stderr
    assert _writes(calls) == [{"method": "POST", "path": f"repos/{REPOSITORY}/issues/12/comments",
                               "body": {"body": f"{MARKER}\n## preview\n"}}]


def test_comment_updates_its_own_comment_and_no_one_elses(relay):
    report, run = relay
    _artifact(report)
    comments = [{"id": 4, "user": {"login": "mallory"}, "body": f"{MARKER} fake"},
                {"id": 5, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold"}]
    done, calls = run(_answers(comments=comments))
    assert done.returncode == 0, done.stderr
    assert [(c["method"], c["path"]) for c in _writes(calls)] == [("PATCH", f"repos/{REPOSITORY}/issues/comments/5")]


@pytest.mark.parametrize("pr", ["12; touch /tmp/x", "$(id)", "../12", "0x0c", "012", "12\n13", "", "1" * 11])
def test_a_pr_number_that_is_not_digits_is_refused_before_any_call(relay, pr: str):
    report, run = relay
    _artifact(report, pr=pr)
    done, calls = run(_answers())
    assert done.returncode == 1 and calls == []
    assert "pr-number" in done.stdout


def test_a_pull_request_at_another_commit_gets_no_comment(relay):
    # A newer push, or a number pointing at some other pull request: GitHub's head SHA decides.
    report, run = relay
    _artifact(report)
    done, calls = run(_answers(head="b" * 40))
    assert done.returncode == 0 and _writes(calls) == []
    assert "no comment" in done.stdout


def test_an_artifact_naming_another_commit_is_refused(relay):
    report, run = relay
    _artifact(report, head="b" * 40)
    done, calls = run(_answers())
    assert done.returncode == 1 and calls == []


def test_a_body_without_the_marker_is_refused(relay):
    report, run = relay
    _artifact(report, body="## not ours\n" + MARKER)
    done, calls = run(_answers())
    assert done.returncode == 1 and _writes(calls) == []
    assert "does not start with" in done.stdout


def test_an_oversized_body_is_replaced_by_a_pointer_to_the_run(relay):
    report, run = relay
    _artifact(report, body=MARKER + "x" * 70_000)
    done, calls = run(_answers())
    assert done.returncode == 0, done.stderr
    [post] = _writes(calls)
    body = post["body"]["body"]
    assert body.startswith(MARKER) and len(body) < 300 and "https://github.example/runs/1" in body


def test_a_linked_body_is_never_read(relay, tmp_path: Path):
    report, run = relay
    _artifact(report)
    secret = tmp_path / "secret"
    secret.write_text(f"{MARKER}\nrunner secret")
    (report / "preview.md").unlink()
    (report / "preview.md").symlink_to(secret)
    done, calls = run(_answers())
    assert done.returncode == 1 and _writes(calls) == []


def test_no_report_means_no_comment(relay):
    report, run = relay
    _artifact(report)
    (report / "preview.md").unlink()
    done, calls = run(_answers())
    assert done.returncode == 0 and _writes(calls) == []


def test_a_forks_report_mentions_nobody_through_the_bot(relay):
    report, run = relay
    _artifact(report, body=f"{MARKER}\n@acme/platform please look, cc @octocat\n")
    done, calls = run(_answers())
    assert done.returncode == 0, done.stderr
    [post] = _writes(calls)
    text = post["body"]["body"]
    assert text.startswith(MARKER)
    assert "@acme/platform" not in text and "@octocat" not in text
    assert "@\u2060acme/platform" in text and "@\u2060octocat" in text
