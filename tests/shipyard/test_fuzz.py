"""Fuzz acceptance: hostile and mutated stack files through `shipyard validate` never crash, hang or leak.

2,000 files from the seeded generator (tests/fuzz/generator.py; SHIPYARD_FUZZ_SEED and
SHIPYARD_FUZZ_FILES explore other seeds and counts) go through the real CLI entry `shipyard.cli.main`
in-process, in batches placed as stack files of one repository; a sample also goes through a real
subprocess, once above the size where validate forks its workers. For every file: no traceback, exit 0
or 1, under 2 s, at most 10 KB of output, and no secret of the generator in any output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from shipyard.cli import main
from tests.fuzz.generator import Case, Generator

SEED = int(os.environ.get("SHIPYARD_FUZZ_SEED", "9"))
FILES = int(os.environ.get("SHIPYARD_FUZZ_FILES", "2000"))
BATCH = 100
MAX_SECONDS_PER_FILE = 2.0
MAX_OUTPUT_PER_FILE = 10 * 1024
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return list(Generator(SEED).cases(FILES))


def _place(root: Path, batch: list[Case]) -> dict[str, Case]:
    """Write a batch as the repository's only fuzz stack files; returns them by displayed path."""
    for old in (root / "stacks").glob("fz*"):
        shutil.rmtree(old)
    placed = {}
    for case in batch:
        path = root / "stacks" / case.team / f"{case.environment}.yaml"
        path.parent.mkdir()
        path.write_bytes(case.content)
        placed[path.relative_to(root).as_posix()] = case
    return placed


def _leaks(output: str, batch: list[Case]) -> list[str]:
    return [f"case {c.number} ({c.kind}) secret {s[:8]}..." for c in batch for s in c.secrets if s in output]


def test_hostile_stack_files_never_crash_hang_or_leak(cases, platform_repo, capsys):
    failures: list[str] = []
    slowest = largest = 0.0
    started = time.monotonic()
    for first in range(0, len(cases), BATCH):
        batch = cases[first:first + BATCH]
        placed = _place(platform_repo, batch)
        begin = time.monotonic()
        try:
            code = main(["--repo", str(platform_repo), "validate", "--format", "json",
                         *(str(platform_repo / p) for p in placed)])
        except BaseException:  # a traceback: find which file of the batch causes it
            capsys.readouterr()
            failures += _culprits(platform_repo, batch, capsys)
            continue
        took = time.monotonic() - begin
        out, err = capsys.readouterr()
        # The whole batch ran within the per-file bound, so every file of it did.
        slowest = max(slowest, took)
        if took > MAX_SECONDS_PER_FILE:  # the batch as a whole was slow: time its files one by one
            failures += _slow_files(platform_repo, batch, capsys)
        if code not in (0, 1):
            failures.append(f"cases {first}..: exit {code}")
        if "Traceback" in err:
            failures.append(f"cases {first}..: traceback on stderr")
        failures += _leaks(out + err, batch)
        sizes: dict[str, int] = {}
        for item in json.loads(out):
            text = f"{item['path']}:{item['line']}:{item['col']}: {item['message']}\n"
            sizes[item["path"]] = sizes.get(item["path"], 0) + len(text.encode())
        assert set(sizes) <= set(placed) | {"stacks/sandbox/dev.yaml", "stacks/payments/staging.yaml"}, sizes
        assert len(sizes) > len(batch) // 2, "most hostile files must be reported"
        largest = max([largest, *sizes.values()])
        failures += [f"case {placed[p].number} ({placed[p].kind}): {n} bytes of output" for p, n in sizes.items()
                     if n > MAX_OUTPUT_PER_FILE]
    elapsed = time.monotonic() - started
    print(f"fuzz: {len(cases)} files, seed {SEED}, {elapsed:.1f} s, slowest batch of {BATCH} {slowest:.2f} s, "
          f"largest output per file {largest:.0f} bytes")
    assert not failures, "\n".join(failures[:30])


def _slow_files(root: Path, batch: list[Case], capsys) -> list[str]:
    slow = []
    for case in batch:
        placed = _place(root, [case])
        begin = time.monotonic()
        main(["--repo", str(root), "validate", *(str(root / p) for p in placed)])
        took = time.monotonic() - begin
        capsys.readouterr()
        if took > MAX_SECONDS_PER_FILE:
            slow.append(f"case {case.number} ({case.kind}) seed {SEED}: {took:.1f} s")
    return slow


def _culprits(root: Path, batch: list[Case], capsys) -> list[str]:
    found = []
    for case in batch:
        placed = _place(root, [case])
        try:
            main(["--repo", str(root), "validate", *(str(root / p) for p in placed)])
        except BaseException:
            found.append(f"case {case.number} ({case.kind}) seed {SEED}: {traceback.format_exc(limit=3)}")
        capsys.readouterr()
    return found


@pytest.mark.parametrize("count", [60, 250], ids=["serial", "forked-workers"])
def test_hostile_stack_files_through_a_real_process(cases, platform_repo, count):
    # The nastiest kinds first: the ones that used to crash libyaml's composer or blow up memory.
    nasty = [c for c in cases if c.kind.startswith(("deep", "alias", "huge", "anchor", "recursive", "binary"))]
    batch = (nasty + [c for c in cases if c not in nasty])[:count]
    placed = _place(platform_repo, batch)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    begin = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "shipyard", "--repo", str(platform_repo), "validate"],
                            capture_output=True, text=True, timeout=120, env=env)
    took = time.monotonic() - begin
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not _leaks(result.stdout + result.stderr, batch)
    assert took < MAX_SECONDS_PER_FILE * len(placed)
    reported = {line.split(":", 1)[0] for line in result.stdout.splitlines()}
    assert reported <= set(placed) | {"stacks/sandbox/dev.yaml", "stacks/payments/staging.yaml"}
