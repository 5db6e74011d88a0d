"""The production rehearsal: Shipyard as CI runs it, end to end, on real parts.

Fresh clones with no `.shipyard/`, `CI=true`, tools installed `--no-build` from a loopback mirror made by
`shipyard tools mirror` (with `go` absent from PATH), state in S3 and secrets in KMS (moto's server on
loopback), and an `existing`-cluster stack (pointing at the local control plane) whose kubeconfig is
encrypted into committed stack config by `shipyard config set-kubeconfig`. What clone A applies, a fresh
clone B previews as no changes and drift-checks clean; two concurrent `up`s leave one consistent state;
an empty backend URL creates nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard.local import LocalCluster
from tests.support.aws import CREDENTIALS, FakeAws, start_fake_aws
from tests.support.git import git
from tests.support.mirror import FileServer
from tests.support.repo import copy_platform

STACK = "rehearsal-dev"
STACK_FILE = """# yaml-language-server: $schema=../../schema/stack.schema.json
team: rehearsal
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: existing
namespaces:
  - name: rehearsal-web
    quota: {cpu: "2", memory: 4Gi, pods: 10}
    developers: [rehearsal-devs]
"""
BUCKET = "shipyard-state"


@dataclass
class Rehearsal:
    aws: FakeAws
    origin: Path
    tools: Path
    env: dict[str, str]
    clones: dict[str, Path] = field(default_factory=dict)

    def clone(self, name: str) -> Path:
        target = self.origin.parent / name
        git(self.origin.parent, "clone", "-q", str(self.origin), str(target))
        self.clones[name] = target
        return target

    def run(self, clone: Path, *args: str, env: dict[str, str] | None = None,
            check: int | None = 0) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "shipyard", *args], cwd=clone, capture_output=True,
                                text=True, timeout=900, env={**self.env, **self.home(clone), **(env or {})})
        if check is not None:
            assert result.returncode == check, f"shipyard {' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result

    def start(self, clone: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "shipyard", *args], cwd=clone, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**self.env, **self.home(clone)})

    @staticmethod
    def home(clone: Path) -> dict[str, str]:
        # Each clone its own SHIPYARD_HOME, as each CI job has its own workspace.
        return {"SHIPYARD_HOME": str(clone.parent / f"{clone.name}-home")}


def _path_without_go() -> str:
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "go").exists()]
    return os.pathsep.join([str(Path(sys.executable).parent), *keep])


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, cluster: LocalCluster) -> Iterator[Rehearsal]:
    work = tmp_path_factory.mktemp("rehearsal")
    aws = start_fake_aws(work / "moto.log")
    try:
        backend = aws.bucket(BUCKET)
        kms = aws.kms_alias("shipyard-state")
        # The tools, as an air-gapped site gets them: a mirror seeded from an installed toolchain, then a
        # download-only install into an empty cache with no Go anywhere on PATH.
        mirror = work / "mirror"
        subprocess.run([sys.executable, "-m", "shipyard", "--repo", str(Path(__file__).parents[2]), "tools",
                        "mirror", str(mirror), "--for", "local"], check=True, capture_output=True, timeout=600)
        tools = work / "tools"
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("PULUMI_", "SHIPYARD_", "AWS_")) and k != "KUBECONFIG"}
        base.update(CREDENTIALS)
        base.update({"CI": "true", "PATH": _path_without_go(), "SHIPYARD_TOOLS": str(tools),
                     "SHIPYARD_POLICY_PYTHON": os.environ.get("SHIPYARD_POLICY_PYTHON", ""),
                     "PULUMI_BACKEND_URL": backend, "SHIPYARD_SECRETS_PROVIDER": kms})
        if not base["SHIPYARD_POLICY_PYTHON"]:
            base.pop("SHIPYARD_POLICY_PYTHON")
        with FileServer(mirror) as server:
            url = server.url
            started = time.monotonic()
            install = subprocess.run([sys.executable, "-m", "shipyard", "--repo", str(Path(__file__).parents[2]),
                                      "tools", "install", "--for", "local", "--no-build"],
                                     env={**base, "SHIPYARD_TOOLS_MIRROR": url}, capture_output=True, text=True,
                                     timeout=600)
            seconds = time.monotonic() - started
        assert install.returncode == 0, install.stderr
        assert seconds < 60, f"tools install --for local --no-build from the mirror took {seconds:.0f} s"

        # The platform repository as the team's remote: the stack file and, later, its committed config.
        source = copy_platform(work / "source")
        (source / "stacks" / "rehearsal").mkdir()
        (source / "stacks" / "rehearsal" / "dev.yaml").write_text(STACK_FILE)
        # Merged but never applied (a deploy still to come): read-only commands must not create it.
        (source / "stacks" / "rehearsal" / "staging.yaml").write_text(
            STACK_FILE.replace("environment: dev", "environment: staging").replace("rehearsal-web", "rehearsal-stage"))
        (source / ".gitignore").write_text((Path(__file__).parents[2] / ".gitignore").read_text())
        git(source, "init", "-q", "-b", "main")
        git(source, "add", "-A")
        git(source, "commit", "-q", "-m", "platform")
        origin = work / "origin.git"
        git(work, "clone", "-q", "--bare", str(source), str(origin))
        yield Rehearsal(aws, origin, tools, base)
    finally:
        aws.stop()


@pytest.fixture(scope="module")
def applied(rehearsal: Rehearsal, cluster: LocalCluster) -> Rehearsal:
    """Clone A stores the kubeconfig with `config set-kubeconfig`, commits and pushes it, and applies."""
    a = rehearsal.clone("a")
    assert not (a / ".shipyard").exists()
    rehearsal.run(a, "config", "set-kubeconfig", STACK, str(cluster.kubeconfig))
    committed = a / "config" / f"Pulumi.{STACK}.yaml"
    text = committed.read_text()
    assert "secretsprovider: awskms://alias/shipyard-state" in text and "secure:" in text
    assert "certificate-authority-data" not in text and "BEGIN" not in text
    git(a, "add", "config")
    git(a, "commit", "-q", "-m", "rehearsal-dev: kubeconfig")
    git(a, "push", "-q", "origin", "main")
    assert git(a, "status", "--porcelain") == ""
    rehearsal.run(a, "up", STACK)
    assert git(a, "status", "--porcelain") == "", "a run must not dirty the checkout"
    return rehearsal


def test_what_one_clone_applies_a_fresh_clone_previews_unchanged_and_drift_checks_clean(applied: Rehearsal, kubectl):
    kubectl("get", "namespace", "rehearsal-web")
    quota = json.loads(kubectl("get", "resourcequota", "-n", "rehearsal-web", "-o", "json").stdout)["items"]
    assert quota and quota[0]["spec"]["hard"]["pods"] == "10"
    b = applied.clone("b")
    preview = applied.run(b, "preview", STACK, "--detailed-exitcode")
    assert "no changes" in (preview.stdout + preview.stderr).lower() or preview.returncode == 0
    drift = applied.run(b, "drift", STACK)
    assert f"{STACK}: clean" in drift.stdout


def test_state_in_s3_is_encrypted_with_kms_and_holds_no_plaintext_kubeconfig(applied: Rehearsal, cluster):
    keys = applied.aws.objects(BUCKET)
    checkpoint = [k for k in keys if k.endswith(f"/{STACK}.json")]
    assert checkpoint, keys
    body = applied.aws.client("s3").get_object(Bucket=BUCKET, Key=checkpoint[0])["Body"].read().decode()
    state = json.loads(body)
    providers = state["checkpoint"]["latest"]["secrets_providers"]
    assert providers["type"] == "cloud" and "awskms://alias/shipyard-state" in json.dumps(providers)
    kubeconfig = cluster.kubeconfig.read_text()
    for line in kubeconfig.splitlines():
        if "-data:" in line:
            assert line.split(":", 1)[1].strip() not in body
    assert not any(k.startswith(".shipyard") for k in keys)


def test_two_concurrent_ups_from_two_clones_leave_one_consistent_state(applied: Rehearsal):
    a, b = applied.clones["a"], applied.clones.get("b") or applied.clone("b")
    # A new desired state, merged once and pulled by both checkouts (as two deploy jobs would see it).
    stack_file = a / "stacks" / "rehearsal" / "dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("pods: 10", "pods: 12"))
    git(a, "commit", "-q", "-am", "more pods")
    git(a, "push", "-q", "origin", "main")
    git(b, "pull", "-q", "origin", "main")

    # Two deploy jobs applying the same stack at once: each one applies, or fails naming the lock; never both
    # half-way. (The S3 backend locks optimistically: two that start at the same instant may both back off.)
    # Then the same race with --wait on both: jittered retries, and both succeed.
    for wait in ((), ("--wait",)):
        racers = [applied.start(a, "up", STACK, *wait), applied.start(b, "up", STACK, *wait)]
        results = [(p, *p.communicate(timeout=900)) for p in racers]
        codes = [p.returncode for p, _, _ in results]
        for process, _out, err in results:
            if process.returncode != 0:
                # Refused while the other ran, or (its process gone by the time we looked) just after it finished:
                # either way an ordinary concurrent update, never a lock to remove by hand.
                assert not wait and (f"stack '{STACK}' is being updated by someone else right now" in _out + err
                                     or "whose update has just finished" in _out + err), _out + err
                assert "no longer running" not in _out + err, _out + err
        if wait:
            assert codes == [0, 0], results

    # One consistent state: no lock left, no pending operations, every resource once, nothing left to do.
    assert not _locks(applied.aws)
    exported = _checkpoint(applied.aws)
    resources = exported["checkpoint"]["latest"]["resources"]
    urns = [r["urn"] for r in resources]
    assert len(urns) == len(set(urns))
    assert not exported["checkpoint"]["latest"].get("pending_operations")
    quota = [r for r in resources if r["type"] == "kubernetes:core/v1:ResourceQuota"]
    assert quota and quota[0]["outputs"]["spec"]["hard"]["pods"] == "12"
    applied.run(b, "preview", STACK, "--detailed-exitcode")
    applied.run(a, "preview", STACK, "--detailed-exitcode")


def test_an_empty_backend_url_in_ci_names_the_variable_and_creates_nothing(applied: Rehearsal):
    c = applied.clone("c")
    before = applied.aws.objects(BUCKET)
    for command in (("up", STACK), ("preview", STACK), ("drift", STACK)):
        result = applied.run(c, *command, env={"PULUMI_BACKEND_URL": ""}, check=1)
        assert "PULUMI_BACKEND_URL is set but empty" in result.stderr
        assert "Traceback" not in result.stderr
    result = applied.run(c, "up", STACK, env={"SHIPYARD_SECRETS_PROVIDER": "", "PULUMI_CONFIG_PASSPHRASE": ""},
                         check=1)
    assert "is set but empty" in result.stderr
    assert applied.aws.objects(BUCKET) == before
    home = Path(applied.home(c)["SHIPYARD_HOME"])
    assert not (home / "state").exists() and not (home / "passphrase").exists()
    assert git(c, "status", "--porcelain", "--ignored") == ""


def _locks(aws: FakeAws) -> list[str]:
    return [k for k in aws.objects(BUCKET) if "/locks/" in k and STACK in k]


def _checkpoint(aws: FakeAws) -> dict:
    key = next(k for k in aws.objects(BUCKET) if k.endswith(f"/{STACK}.json") and "/stacks/" in k)
    return json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_reading_commands_never_create_a_stack_in_the_shared_state(applied: Rehearsal):
    """CI's preview and drift roles are read-only, and a mistyped destroy must not leave an empty stack."""
    d = applied.clone("d")
    new = "rehearsal-staging"
    before = applied.aws.objects(BUCKET)
    preview = applied.run(d, "preview", new, "--json", "preview.json")
    assert "has never been applied" in preview.stderr
    report = json.loads((d / "preview.json").read_text())
    ops = {c["op"] for s in report["stacks"] for c in s["changes"]}
    assert ops == {"create"}
    assert any(c["type"] == "kubernetes:core/v1:Namespace" for s in report["stacks"] for c in s["changes"])
    drift = applied.run(d, "drift", new, check=2)
    assert f"{new}: drift" in drift.stdout and "git  create" in drift.stdout
    destroy = applied.run(d, "destroy", new, "--yes", check=1)
    assert f"stack '{new}' has never been applied" in destroy.stderr
    assert applied.aws.objects(BUCKET) == before
