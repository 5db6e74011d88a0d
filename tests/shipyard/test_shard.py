"""`--shard I/N`: a stable split of the selected stacks, and the shard recorded in the JSON reports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from shipyard.cli import main
from shipyard.cli.selection import MAX_SHARDS, Shard, ShardParam, select_stacks, shard_of
from shipyard.engine import ResourceChange
from shipyard.runner import StackReport

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeRef:
    name: str


class FakeRepo:
    def __init__(self, names: list[str]):
        self.names = names

    def stacks(self) -> list[FakeRef]:
        return [FakeRef(n) for n in self.names]


@dataclass
class FakeContext:
    repo: FakeRepo


def names(count: int, start: int = 0) -> list[str]:
    return [f"team{i:04d}-{('dev', 'staging', 'prod')[i % 3]}" for i in range(start, start + count)]


def shard_members(stacks: list[str], count: int) -> list[list[str]]:
    obj = FakeContext(FakeRepo(stacks))
    return [select_stacks(obj, (), True, None, Shard(index, count))[0] for index in range(1, count + 1)]


def test_every_stack_is_in_exactly_one_shard_in_selection_order():
    stacks = names(1000)
    members = shard_members(stacks, 8)
    flat = [s for shard in members for s in shard]
    assert sorted(flat) == sorted(stacks) and len(flat) == len(set(flat))
    for shard in members:
        assert shard == [s for s in stacks if s in set(shard)]  # each shard keeps the selection's order
    assert all(shard for shard in members)  # 1,000 stacks over 8 shards: none is empty


def test_adding_or_removing_stacks_moves_no_other_stack():
    before = {s: shard_of(s, 8) for s in names(1000)}
    grown = names(1000) + names(250, start=5000)
    after = {s: index for index, shard in enumerate(shard_members(grown, 8), 1) for s in shard}
    assert {s: after[s] for s in before} == before
    shrunk = [s for s in names(1000) if not s.endswith("-staging")]
    assert all(shard_of(s, 8) == before[s] for s in shrunk)


def test_the_shard_is_the_sha256_of_the_name_in_every_process():
    expected = int.from_bytes(hashlib.sha256(b"ledger-prod").digest()[:8], "big") % 4 + 1
    assert shard_of("ledger-prod", 4) == expected
    code = "from shipyard.cli.selection import shard_of; print([shard_of(f'team{i}-dev', 7) for i in range(50)])"
    seen = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert seen == {str([shard_of(f"team{i}-dev", 7) for i in range(50)]) + "\n"}


def test_one_shard_holds_everything():
    assert shard_members(names(30), 1) == [names(30)]


def test_decommissioned_stacks_are_sharded_too(monkeypatch):
    import shipyard.cli.selection as selection

    gone = names(40, start=100)
    monkeypatch.setattr(selection, "_select", lambda *args: (names(40), gone))
    picked = [select_stacks(FakeContext(FakeRepo([])), (), False, "main", Shard(i, 3))[1] for i in (1, 2, 3)]
    assert sorted(s for p in picked for s in p) == sorted(gone)
    assert all(shard_of(s, 3) == i for i, p in enumerate(picked, 1) for s in p)


@pytest.mark.parametrize("text, shard", [("1/1", Shard(1, 1)), ("2/4", Shard(2, 4)), (" 4/4 ", Shard(4, 4)),
                                         ("256/256", Shard(256, 256))])
def test_shard_values_parse(text, shard):
    assert ShardParam().convert(text, None, None) == shard


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "1/257", "-1/4", "a/b", "2", "2/4/8", "1.5/4", ""])
def test_invalid_shards_are_refused(text):
    with pytest.raises(click.BadParameter, match=rf"expected I/N with integers 1 <= I <= N <= {MAX_SHARDS}"):
        ShardParam().convert(text, None, None)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_invalid_shard_is_a_usage_error_exit_1(capsys):
    code, _, err = run(capsys, "--repo", str(REPO), "drift", "--all", "--shard", "5/4")
    assert code == 1 and "--shard" in err and "got '5/4'" in err
    code, _, err = run(capsys, "--repo", str(REPO), "preview", "--all", "--shard", "two/4")
    assert code == 1 and "got 'two/4'" in err


def repo_stacks() -> list[str]:
    from shipyard.repo import Repo

    return [ref.name for ref in Repo(REPO).stacks()]


def empty_shard() -> Shard:
    """A shard of this repository's stacks that none of them falls into."""
    stacks = repo_stacks()
    for count in range(2, MAX_SHARDS + 1):
        for index in range(1, count + 1):
            if not any(shard_of(s, count) == index for s in stacks):
                return Shard(index, count)
    raise AssertionError("every shard has a stack")


@pytest.fixture
def fake_runs(monkeypatch) -> list[tuple[str, list[str]]]:
    """run_stacks without the engine: records which stacks each command ran; ledger-* stacks drift/change."""
    import shipyard.runner

    calls: list[tuple[str, list[str]]] = []

    def run_stacks(root, operation, stacks, **kwargs):
        calls.append((operation, list(stacks)))
        found = [ResourceChange("urn:q", "kubernetes:core/v1:ResourceQuota", "q", "update", ("spec.hard.pods",),
                                source="live" if operation == "drift" else None)]
        return [StackReport(s, operation, found if s.startswith("ledger-") else [],
                            extra={"status": "drift" if s.startswith("ledger-") else "clean"}
                            if operation == "drift" else {}) for s in stacks]

    monkeypatch.setattr(shipyard.runner, "run_stacks", run_stacks)
    return calls


def test_an_empty_drift_shard_succeeds_with_an_empty_report(capsys, tmp_path):
    shard = empty_shard()  # run_stacks returns before starting any engine when there is nothing to run
    code, _, err = run(capsys, "--repo", str(REPO), "drift", "--all", "--shard", str(shard),
                       "--json", str(tmp_path / "d.json"), "--markdown", str(tmp_path / "d.md"))
    assert code == 0 and f"shard {shard}: 0 of {len(repo_stacks())} selected stack(s)" in err
    assert json.loads((tmp_path / "d.json").read_text()) == {"stacks": [], "shard": shard.as_json()}
    assert (tmp_path / "d.md").read_text().startswith("## Shipyard drift report")


def test_drift_shard_runs_only_its_stacks_and_records_the_shard(capsys, tmp_path, fake_runs):
    stacks = repo_stacks()
    documents = []
    for index in (1, 2, 3):
        path = tmp_path / f"drift-{index}.json"
        code, _, _ = run(capsys, "--repo", str(REPO), "drift", "--all", "--shard", f"{index}/3", "--json", str(path))
        data = json.loads(path.read_text())
        mine = [s for s in stacks if shard_of(s, 3) == index]
        assert fake_runs[-1] == ("drift", mine)
        assert data["shard"] == {"index": index, "count": 3}
        assert [s["stack"] for s in data["stacks"]] == mine
        assert code == (2 if any(s.startswith("ledger-") for s in mine) else 0)
        documents.append(str(path))
    code, _, _ = run(capsys, "--repo", str(REPO), "drift", "--all", "--json", str(tmp_path / "all.json"))
    unsharded = json.loads((tmp_path / "all.json").read_text())
    assert "shard" not in unsharded and set(unsharded) == {"stacks"}
    code, _, _ = run(capsys, "report", "merge", *documents, "--json", str(tmp_path / "merged.json"))
    assert code == 2
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged == {"stacks": sorted(unsharded["stacks"], key=lambda s: s["stack"])}


def test_drift_shard_with_notify_is_refused(capsys, fake_runs):
    code, _, err = run(capsys, "--repo", str(REPO), "drift", "--all", "--shard", "1/2", "--notify")
    assert code == 1 and "shipyard report merge FILE... --notify" in err and fake_runs == []


def test_preview_shard_runs_only_its_stacks_and_records_the_shard(capsys, tmp_path, fake_runs):
    mine = [s for s in repo_stacks() if shard_of(s, 2) == 2]
    code, _, _ = run(capsys, "--repo", str(REPO), "preview", "--all", "--shard", "2/2", "--json",
                     str(tmp_path / "p.json"))
    data = json.loads((tmp_path / "p.json").read_text())
    assert fake_runs == [("preview", mine)]
    assert [s["stack"] for s in data["stacks"]] == mine and data["shard"] == {"index": 2, "count": 2}
    assert set(data) == {"stacks", "risk", "errors", "decommissioned", "destroys_production", "blocked", "shard"}
    run(capsys, "--repo", str(REPO), "preview", "--all", "--json", str(tmp_path / "all.json"))
    assert "shard" not in json.loads((tmp_path / "all.json").read_text())


def test_an_empty_preview_shard_succeeds_with_an_empty_report(capsys, tmp_path):
    shard = empty_shard()
    code, _, _ = run(capsys, "--repo", str(REPO), "preview", "--all", "--shard", str(shard), "--json",
                     str(tmp_path / "p.json"), "--detailed-exitcode")
    assert code == 0
    assert json.loads((tmp_path / "p.json").read_text()) == {
        "stacks": [], "risk": "none", "errors": 0, "decommissioned": [], "destroys_production": [],
        "blocked": False, "shard": shard.as_json()}
