"""Stack locks: who holds one, for how long, and whether the holder still exists."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shipyard.locks import Lock, holder_from_message, read_locks

MESSAGE = ("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
           "delete the lock file with `pulumi cancel`.\n  file:///s/.pulumi/locks/organization/shipyard/x/1.json: "
           "created by alice@ci-runner-7 (pid 4242) at 2026-11-26T00:00:00Z")


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid  # reaped: no process has this id now (ids are not reused this fast)


def test_the_holder_is_read_from_the_engines_message():
    lock = holder_from_message(MESSAGE)
    assert lock is not None and lock.holder == "alice@ci-runner-7 (pid 4242)"
    assert lock.taken == datetime(2026, 11, 26, tzinfo=timezone.utc)
    assert holder_from_message("error: something else") is None


def test_a_holder_on_another_host_cannot_be_judged():
    lock = Lock("", 1, "alice", "ci-runner-7-elsewhere", datetime.now(timezone.utc) - timedelta(minutes=12))
    assert lock.alive() is None
    assert lock.describe() == ("held by alice@ci-runner-7-elsewhere (pid 1) for 12 min: on another host, whose "
                               "processes `shipyard unlock` cannot check")


def test_a_holder_on_this_host_is_alive_or_gone(tmp_path: Path):
    here = socket.gethostname()
    gone = Lock("", _dead_pid(), "bob", here, datetime.now(timezone.utc) - timedelta(hours=3, minutes=5))
    assert gone.alive() is False
    assert gone.describe().endswith("for 3 h 5 min: its process is gone")
    with subprocess.Popen(["sleep", "30"]) as running:
        try:
            # A live process, but not an engine: the id was reused, the holder is gone.
            assert Lock("", running.pid, "bob", here, None).alive() is False
        finally:
            running.kill()
    engine = tmp_path / "pulumi"
    engine.write_text("#!/bin/sh\nsleep 30\n")
    engine.chmod(0o755)
    with subprocess.Popen([str(engine)]) as running:
        try:
            assert Lock("", running.pid, "bob", here, None).alive() is True
        finally:
            running.kill()
        running.wait()
        assert Lock("", running.pid, "bob", here, None).alive() is False


def test_locks_of_a_file_backend_are_listed(tmp_path: Path):
    assert read_locks(tmp_path.as_uri(), "shipyard", "ledger-dev") == []
    folder = tmp_path / ".pulumi/locks/organization/shipyard/ledger-dev"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps({"pid": 7, "username": "u", "hostname": "h",
                                               "timestamp": "2026-11-27T01:02:03.5+01:00"}))
    (folder / "b.json").write_text("not json")
    [good, bad] = read_locks(tmp_path.as_uri(), "shipyard", "ledger-dev")
    assert good.holder == "u@h (pid 7)" and good.taken == datetime(2026, 11, 27, 0, 2, 3, 500000, timezone.utc)
    assert bad.holder == "?@? (pid 0)" and bad.taken is None
    assert read_locks("gs://bucket", "shipyard", "ledger-dev") is None


def test_locks_of_an_s3_backend_are_listed(tmp_path: Path, monkeypatch):
    from tests.support.aws import CREDENTIALS, start_fake_aws

    aws = start_fake_aws(tmp_path / "moto.log")
    try:
        for key, value in CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        url = aws.bucket("state-bucket")
        key = ".pulumi/locks/organization/shipyard/ledger-dev/9.json"
        aws.client("s3").put_object(Bucket="state-bucket", Key=key, Body=json.dumps(
            {"pid": 9, "username": "ci", "hostname": "runner", "timestamp": "2026-11-27T00:00:00Z"}).encode())
        [lock] = read_locks(url, "shipyard", "ledger-dev")
        assert lock.holder == "ci@runner (pid 9)" and lock.where == f"s3://state-bucket/{key}"
        assert read_locks(url, "shipyard", "other-dev") == []
    finally:
        aws.stop()


def test_unlocking_deletes_only_the_locks_inspected(tmp_path: Path):
    from shipyard.locks import remove_locks

    folder = tmp_path / ".pulumi/locks/organization/shipyard/ledger-dev"
    folder.mkdir(parents=True)
    (folder / "dead.json").write_text(json.dumps({"pid": _dead_pid(), "username": "u", "hostname": socket.gethostname(),
                                                  "timestamp": "2026-11-27T00:00:00Z"}))
    inspected = read_locks(tmp_path.as_uri(), "shipyard", "ledger-dev")
    # An update starts between the inspection and the removal: its lock must survive.
    (folder / "new.json").write_text(json.dumps({"pid": 1, "username": "u", "hostname": "h",
                                                 "timestamp": "2026-11-27T00:00:01Z"}))
    remove_locks(tmp_path.as_uri(), inspected)
    assert sorted(p.name for p in folder.iterdir()) == ["new.json"]


def test_a_lock_whose_holder_finished_and_released_it_is_not_called_stale(platform_repo: Path, tmp_path: Path,
                                                                          monkeypatch):
    """The engine refuses (locked), then the holder finishes: its process is gone, but so is its lock. That is
    an ordinary concurrent update (retryable), not a killed one to unlock."""
    from shipyard.engine import Engine
    from shipyard.tools import Toolchain

    for name in ("CI", "PULUMI_CONFIG_PASSPHRASE", "SHIPYARD_SECRETS_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", tmp_path.as_uri())
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test only")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    engine = Engine(platform_repo, toolchain=Toolchain(platform_repo, cache=tmp_path / "tools"), log=lambda _: None)
    here, pid = socket.gethostname(), _dead_pid()
    message = MESSAGE.replace("alice@ci-runner-7 (pid 4242)", f"bob@{here} (pid {pid})")
    assert engine._lock_released("ledger-dev", message)  # no lock left in the backend
    folder = tmp_path / ".pulumi/locks/organization/shipyard/ledger-dev"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps({"pid": pid, "username": "bob", "hostname": here,
                                               "timestamp": "2026-11-27T01:02:03Z"}))
    assert not engine._lock_released("ledger-dev", message)  # still there: a killed holder's lock
