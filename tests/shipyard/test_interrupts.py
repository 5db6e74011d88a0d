"""Signals reach the engine once, as the graceful SIGINT; Shipyard waits for it, then exits 128 + signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.interrupts import pulumi_descendants

# A stand-in engine process named `pulumi`: counts the SIGINTs it gets, takes a moment to "save the state"
# after the first, and exits.
FAKE_PULUMI = """#!/bin/sh
# A shell script keeps the name it was started by (`pulumi`), as the real binary has.
log="$1"
got=0
trap 'echo SIGINT >> "$log"; got=1' INT
echo started >> "$log"
i=0
while [ "$got" = 0 ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
echo saved >> "$log"
exit 255
"""

# Shipyard's handlers around an "engine call": run the fake pulumi and wait for it, then check().
RUNNER = """
import subprocess, sys
from shipyard import interrupts
interrupts.install()
proc = subprocess.Popen([sys.argv[1], sys.argv[2]])
proc.wait()
try:
    interrupts.check()
except interrupts.Interrupted as exc:
    sys.exit(exc.exit_code)
sys.exit(0)
"""


@pytest.fixture
def fake_pulumi(tmp_path: Path) -> Path:
    binary = tmp_path / "bin" / "pulumi"
    binary.parent.mkdir()
    binary.write_text(FAKE_PULUMI)
    binary.chmod(0o755)
    return binary


def _wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_shipyard_alone_reaches_the_engine_once_and_shipyard_waits(fake_pulumi: Path, tmp_path: Path,
                                                                              signum: int):
    log = tmp_path / "engine.log"
    repo = Path(__file__).resolve().parents[2]
    shipyard = subprocess.Popen([sys.executable, "-c", RUNNER, str(fake_pulumi), str(log)], cwd=repo,
                                start_new_session=True)  # no terminal: only what we send arrives
    _wait_for(log, "started")
    os.kill(shipyard.pid, signum)
    assert shipyard.wait(timeout=30) == 128 + signum
    assert log.read_text().splitlines() == ["started", "SIGINT", "saved"]  # one graceful SIGINT, then it finished


def test_without_a_running_engine_a_signal_stops_at_once(tmp_path: Path):
    repo = Path(__file__).resolve().parents[2]
    code = ("from shipyard import interrupts\ninterrupts.install()\nimport time\ntry:\n    time.sleep(30)\n"
            "except interrupts.Interrupted as exc:\n    raise SystemExit(exc.exit_code)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=repo, start_new_session=True)
    time.sleep(1)
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=10) == 143
    assert time.monotonic() - started < 5


def test_engine_processes_are_found_below_this_process(fake_pulumi: Path, tmp_path: Path):
    log = tmp_path / "engine.log"
    # pulumi two levels down (the stack workers' engines are grandchildren).
    shell = subprocess.Popen(["sh", "-c", f"'{fake_pulumi}' '{log}'; true"])
    try:
        _wait_for(log, "started")
        found = pulumi_descendants()
        assert len(found) == 1 and found[0] != shell.pid
    finally:
        for pid in pulumi_descendants():
            os.kill(pid, signal.SIGKILL)
        shell.wait(timeout=10)
    assert pulumi_descendants() == []


def test_a_stack_worker_starts_nothing_once_the_run_was_interrupted(monkeypatch, tmp_path: Path):
    import multiprocessing

    from shipyard import runner

    stop = multiprocessing.get_context("spawn").Event()
    monkeypatch.setattr(runner, "_stop", stop)
    monkeypatch.setattr(runner, "Engine", lambda *a, **k: (_ for _ in ()).throw(AssertionError("engine started")))
    stop.set()
    report = runner._run_one(str(tmp_path), "up", "ledger-dev", False, True)
    assert report.error == "not started: Shipyard was interrupted"


def test_once_the_run_is_over_a_signal_changes_nothing():
    import signal

    from shipyard import interrupts

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        interrupts.settle()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
