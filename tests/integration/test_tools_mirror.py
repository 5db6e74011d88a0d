"""The real toolchain through a mirror: what an air-gapped site does with what one machine has installed.

Needs the pinned tools of the `local` profile (`shipyard tools install --for local`); without them it
fails, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.tools import MANIFEST, MIRROR_ENV, Toolchain
from tests.support.mirror import FileServer

REPO = Path(__file__).resolve().parents[2]
SHIPYARD = [sys.executable, "-m", "shipyard", "--repo", str(REPO)]


def _path_without(*commands: str) -> str:
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and not any((Path(e) / c).exists() for c in commands))


def test_a_mirror_of_the_real_tools_installs_the_local_profile_without_go_in_under_a_minute(tmp_path: Path):
    chain = Toolchain(REPO)
    missing = [f"{s.tool.name} ({s.detail})" for s in chain.states("local") if not s.ok]
    if missing:
        pytest.fail(f"pinned tools absent: {', '.join(missing)}; run `shipyard tools install --for local` or bin/test")
    mirror = tmp_path / "mirror"
    seeded = subprocess.run([*SHIPYARD, "tools", "mirror", str(mirror), "--for", "local"], cwd=REPO,
                            capture_output=True, text=True, timeout=1200)
    assert seeded.returncode == 0, seeded.stderr[-3000:]

    fresh = tmp_path / "fresh"
    path = _path_without("go", "pulumi")  # no source build possible, no ambient Pulumi CLI to reuse
    env = {**os.environ, "PATH": path, "SHIPYARD_TOOLS": str(fresh)}
    with FileServer(mirror) as server:
        env[MIRROR_ENV] = server.url
        started = time.monotonic()
        installed = subprocess.run([*SHIPYARD, "tools", "install", "--for", "local", "--no-build"], cwd=REPO,
                                   env=env, capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - started
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert seconds < 60, f"install --for local from a loopback mirror took {seconds:.1f} s"
    status = subprocess.run([*SHIPYARD, "tools", "status", "--for", "local"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stdout + status.stderr
    for directory in fresh.iterdir():
        if (directory / MANIFEST).is_file():
            record = json.loads((directory / MANIFEST).read_text())
            assert record["source"] == "mirror" and record["url"].startswith(server.url), record
    print(f"install --for local --no-build from a loopback mirror: {seconds:.1f} s")
