"""Chaos: `shipyard up` killed at seeded points of its run, on the real engine and API server.

SIGKILL of the whole process group (a runner that vanished) at 10 points spread over an `up` that
creates or deletes several namespaces; SIGINT and SIGTERM of the Shipyard process alone (Ctrl-C sent by
a script, a cancelled CI job) at 5 points. After each: `shipyard unlock` when a killed run left its lock,
then `up` converges, `drift` is clean, the state has no pending operations and every object exists once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.local import LocalCluster

STACK = "chaos-dev"
SEED = 9
TEAM_NAMESPACES = ("chaos-a", "chaos-b", "chaos-c", "chaos-d")


def _stack_file(namespaces: tuple[str, ...], pods: int) -> str:
    body = "".join(f"""  - name: {name}
    quota: {{cpu: "2", memory: 4Gi, pods: {pods}}}
    admins: [chaos-leads]
    developers: [chaos-devs]
""" for name in namespaces)
    return f"""team: chaos
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
namespaces:
{body}"""


class Chaos:
    def __init__(self, root: Path, home: Path, kubectl):
        self.root, self.home, self.kubectl = root, home, kubectl
        self.generation = 0
        self.desired: tuple[str, ...] = ()

    def change(self) -> None:
        """A new desired state each round: alternately all namespaces and one, with a new quota."""
        self.generation += 1
        self.desired = TEAM_NAMESPACES if self.generation % 2 else TEAM_NAMESPACES[:1]
        folder = self.root / "stacks" / "chaos"
        folder.mkdir(exist_ok=True)
        (folder / "dev.yaml").write_text(_stack_file(self.desired, 10 + self.generation))

    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_HOME": str(self.home)}

    def start(self, *args: str) -> subprocess.Popen:
        # Its own session, as a CI step is: a SIGKILL of the group takes the engine and its plugins with it.
        return subprocess.Popen([sys.executable, "-m", "shipyard", "--repo", str(self.root), *args], env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shipyard", "--repo", str(self.root), *args], env=self.env(),
                              capture_output=True, text=True, timeout=600)

    def locks(self) -> list[Path]:
        folder = self.home / "state/.pulumi/locks/organization/shipyard" / STACK
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def converge(self, what: str) -> bool:
        """Bring the stack to its desired state and check it; True when a killed run had left something to
        clean up (its lock, or creates it never finished)."""
        up = self.run("up", STACK)
        leftovers = f"shipyard unlock {STACK}" in up.stderr + up.stdout or "unfinished" in up.stderr
        if up.returncode != 0 and f"shipyard unlock {STACK}" in up.stderr + up.stdout:
            unlocked = self.run("unlock", STACK)
            assert unlocked.returncode == 0, f"{what}: unlock: {unlocked.stderr}"
            assert "removed the lock" in unlocked.stderr and "its process is gone" in unlocked.stderr
            up = self.run("up", STACK)
        assert up.returncode == 0, f"{what}: up did not converge:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        drift = self.run("drift", STACK)
        assert drift.returncode == 0 and f"{STACK}: clean" in drift.stdout, f"{what}: {drift.stdout}\n{drift.stderr}"
        assert not self.locks(), f"{what}: a lock is left"
        latest = json.loads((self.home / "state/.pulumi/stacks/shipyard" / f"{STACK}.json").read_text())
        latest = latest["checkpoint"]["latest"]
        assert not latest.get("pending_operations"), f"{what}: pending operations {latest['pending_operations']}"
        urns = [r["urn"] for r in latest["resources"]]
        assert len(urns) == len(set(urns)), f"{what}: a resource is recorded twice"
        live = json.loads(self.kubectl("get", "namespaces", "-l", "shipyard.io/team=chaos", "-o", "json").stdout)
        names = sorted(item["metadata"]["name"] for item in live["items"]
                       if not item["metadata"].get("deletionTimestamp"))
        assert names == sorted(self.desired), f"{what}: namespaces {names}, expected {sorted(self.desired)}"
        for name in self.desired:
            quotas = json.loads(self.kubectl("get", "resourcequota", "-n", name, "-o", "json").stdout)["items"]
            assert len(quotas) == 1, f"{what}: {name} has {len(quotas)} quotas"
            assert quotas[0]["spec"]["hard"]["pods"] == str(10 + self.generation)
        return leftovers


@pytest.fixture(scope="module")
def chaos(itest_repo: Path, shipyard_home: Path, cluster: LocalCluster, kubectl) -> Chaos:
    return Chaos(itest_repo, shipyard_home, kubectl)


def _timed_up(chaos: Chaos) -> float:
    """How long an `up` of a change takes here: the span the kill points are spread over."""
    chaos.change()
    started = time.monotonic()
    up = chaos.run("up", STACK)
    duration = time.monotonic() - started
    assert up.returncode == 0, up.stderr[-3000:]
    chaos.converge("baseline")
    return duration


def test_up_killed_with_sigkill_anywhere_converges(chaos: Chaos):
    duration = _timed_up(chaos)
    rng = random.Random(SEED)
    # Ten points spread over the whole run (one in each tenth, jittered), from Python start-up to the last
    # write of the state.
    points = [(i + rng.random()) / 10 * duration for i in range(10)]
    messes = 0
    for number, delay in enumerate(points, 1):
        chaos.change()
        process = chaos.start("up", STACK)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
        messes += chaos.converge(f"SIGKILL {number} at {delay:.1f} s of ~{duration:.1f} s")
    # Not vacuous: some kills must have landed inside the update and left a lock or unfinished creates.
    assert messes, "no kill left anything behind: the points missed the update"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_up_interrupted_stops_the_engine_cleanly_and_leaves_no_lock(chaos: Chaos, signum: int):
    duration = _timed_up(chaos)
    rng = random.Random(SEED + signum)
    count = 3 if signum == signal.SIGINT else 2  # five points in all
    codes = []
    for number in range(count):
        delay = (number + rng.random()) / count * duration
        chaos.change()
        process = chaos.start("up", STACK)
        time.sleep(delay)
        os.kill(process.pid, signum)  # to Shipyard alone, as `kill` or a CI runner sends it
        out, err = process.communicate(timeout=300)
        what = f"{signal.Signals(signum).name} {number + 1} at {delay:.1f} s"
        assert process.returncode in (0, 128 + signum), f"{what}: exit {process.returncode}\n{err[-3000:]}"
        codes.append(process.returncode)
        assert "Traceback" not in err, f"{what}: {err[-3000:]}"
        if process.returncode:
            assert "interrupted" in err
        assert not chaos.locks(), f"{what}: the interrupted run left its lock"
        chaos.converge(what)
    assert 128 + signum in codes, f"no run was interrupted mid-way (exit codes {codes}): the points missed the run"
