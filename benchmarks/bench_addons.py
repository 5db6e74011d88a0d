"""The six real catalog add-ons on the local control plane (issue: drift <= 30 s, no-change up <= 60 s).

    python benchmarks/bench_addons.py [--charts DIR] [--drifts 3]

A scratch copy of the repository, its own SHIPYARD_HOME and local control plane, one stack with every
add-on from the real upstream charts (`--charts`, default SHIPYARD_CHART_MIRROR or the workspace's
shared charts). Prints: the first `up`, a no-change `up`, each `drift` (whole processes), the objects
managed, the engine's memory peak (the summed RSS of shipyard and every process under it: the Pulumi
CLI, the provider, the program) and drift time per managed object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_foundation import EVERY_ADDON_LOCAL  # noqa: E402  (the same every-add-on local stack)
from tests.support.charts import shared_charts  # noqa: E402  (the one locator of the real charts)

STACK = "benchlocal-dev"


class PeakRss:
    """Samples the summed resident memory of a process and all its descendants (from /proc)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.25)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> tuple[float, int, str]:
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "shipyard", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    sampler = PeakRss(process.pid)
    out, _ = process.communicate()
    peak = sampler.stop()
    if process.returncode not in ok:
        raise SystemExit(f"shipyard {' '.join(args)} exited {process.returncode}")
    return time.monotonic() - started, peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charts", type=Path, default=None)
    parser.add_argument("--drifts", type=int, default=3)
    options = parser.parse_args()
    charts = options.charts or (Path(os.environ["SHIPYARD_CHART_MIRROR"]) if os.environ.get("SHIPYARD_CHART_MIRROR")
                                else shared_charts())
    scratch = Path(tempfile.mkdtemp(prefix="shipyard-bench-addons-"))
    repo = scratch / "platform"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    (repo / "stacks" / "benchlocal").mkdir()
    (repo / "stacks" / "benchlocal" / "dev.yaml").write_text(EVERY_ADDON_LOCAL)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "SHIPYARD_")) and k != "CI"},
           "SHIPYARD_HOME": str(scratch / "home"), "SHIPYARD_CHART_MIRROR": str(charts),
           "PYTHONPATH": str(ROOT)}
    env["SHIPYARD_TOOLS"] = os.environ.get("SHIPYARD_TOOLS", "")
    if not env["SHIPYARD_TOOLS"]:
        del env["SHIPYARD_TOOLS"]
    try:
        run(env, "--repo", str(repo), "local", "up")
        first, first_peak, _ = run(env, "--repo", str(repo), "up", STACK)
        again, again_peak, _ = run(env, "--repo", str(repo), "up", STACK)
        report = scratch / "drift.json"
        drifts = []
        drift_peak = 0
        for _ in range(options.drifts):
            seconds, peak, _ = run(env, "--repo", str(repo), "drift", STACK, "--json", str(report))
            drifts.append(seconds)
            drift_peak = max(drift_peak, peak)
            assert json.loads(report.read_text())["stacks"][0]["status"] == "clean", report.read_text()
        export = subprocess.run(
            [sys.executable, "-c", "import json,sys; from pathlib import Path; from shipyard.engine import Engine;"
             "e=Engine(Path(sys.argv[1]), log=lambda l: None); print(e.live(sys.argv[2]).objects)", str(repo), STACK],
            env=env, capture_output=True, text=True, check=True)
        objects = int(export.stdout.strip().splitlines()[-1])
        median = statistics.median(drifts)
        print(f"add-ons: 6 real charts ({charts})")
        print(f"objects managed: {objects} Kubernetes objects")
        print(f"up (first, creates everything): {first:.1f} s, engine memory peak {first_peak / 2**30:.2f} GiB")
        print(f"up (no changes): {again:.1f} s, engine memory peak {again_peak / 2**30:.2f} GiB (target <= 60 s)")
        print(f"drift: median {median:.1f} s of {len(drifts)} ({', '.join(f'{d:.1f}' for d in drifts)}), "
              f"memory peak {drift_peak / 2**30:.2f} GiB (target <= 30 s)")
        print(f"drift per managed object: {1000 * median / objects:.0f} ms")
    finally:
        subprocess.run([sys.executable, "-m", "shipyard", "--repo", str(repo), "local", "down", "--purge"], env=env,
                       capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
