"""Toolchain install benchmark: how long a fresh cache takes to fill from a mirror.

    python benchmarks/bench_tools.py [engine] [local] [--mirror DIR]

Seeds a mirror from this machine's installed tools (`shipyard tools mirror DIR`, timed too; `--mirror` reuses a
directory seeded earlier), serves it on 127.0.0.1 and times `shipyard tools install --for PROFILE --no-build`
into an empty SHIPYARD_TOOLS for each profile (default: engine and local), as whole processes with `go` off
PATH. A profile whose tools are not all in the mirror is reported as incomplete, with the time taken for the
rest (the AWS provider plugin cannot be built from source, so only a machine that downloaded it can mirror it).
Target for local: under 60 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.mirror import FileServer  # noqa: E402

SHIPYARD = [sys.executable, "-m", "shipyard", "--repo", str(ROOT)]


def _path_without(*commands: str) -> str:
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and not any((Path(e) / c).exists() for c in commands))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="*", choices=["engine", "local", "all"], default=["engine", "local"])
    parser.add_argument("--mirror", type=Path, help="a mirror directory seeded earlier (default: seed one now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as scratch:
        mirror = args.mirror
        if mirror is None:
            mirror = Path(scratch) / "mirror"
            started = time.perf_counter()
            seeded = subprocess.run([*SHIPYARD, "tools", "mirror", str(mirror)], cwd=ROOT, capture_output=True,
                                    text=True)
            print(f"{'tools mirror DIR (every installed tool)':<48} {time.perf_counter() - started:7.1f} s")
            if seeded.returncode != 0:
                raise SystemExit(seeded.stderr[-3000:])
            for line in seeded.stderr.splitlines():
                if line.startswith("not mirrored:"):
                    print(f"  {line}")
        size = sum(p.stat().st_size for p in mirror.iterdir() if p.is_file())
        print(f"{'mirror size':<48} {size / 2**20:7.0f} MiB")
        with FileServer(mirror) as server:
            for profile in args.profiles:
                fresh = Path(scratch) / f"fresh-{profile}"
                env = {**os.environ, "PATH": _path_without("go", "pulumi"), "SHIPYARD_TOOLS": str(fresh),
                       "SHIPYARD_TOOLS_MIRROR": server.url}
                started = time.perf_counter()
                result = subprocess.run([*SHIPYARD, "tools", "install", "--for", profile, "--no-build"], cwd=ROOT,
                                        env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                verdict = "ok" if result.returncode == 0 else "INCOMPLETE"
                print(f"{f'tools install --for {profile} --no-build':<48} {seconds:7.1f} s  {verdict}")
                if result.returncode != 0:
                    for line in result.stderr.splitlines():
                        if "could not download" in line or ("installed" in line and " of " in line):
                            print(f"  {line[:200]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
