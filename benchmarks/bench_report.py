"""What merging sharded reports costs.

    python benchmarks/bench_report.py [--stacks 1000] [--shards 8] [--runs 7]

The `--json` reports of a drift run over 1,000 stacks split with `--shard I/8` (about 15% of the stacks
drifted with 1-6 findings each, 2% failed with an engine error, the rest clean) are merged into one
JSON and one Markdown report: `shipyard report merge shard-*.json --json all.json --markdown all.md`,
timed in this process (reading, checking, merging, rendering and writing) and as a whole process
(`python -m shipyard`, interpreter start-up and imports included). Target: under 1 s in process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = [("kubernetes:core/v1:ResourceQuota", "quota", ["spec.hard.pods", "spec.hard.requests.cpu"]),
         ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "developers", ["subjects"]),
         ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "default-deny", ["spec.policyTypes", "spec.ingress"]),
         ("kubernetes:core/v1:LimitRange", "limits", ["spec.limits[0].default.cpu"]),
         ("kubernetes:helm.sh/v4:Chart", "ingress-nginx", ["values.controller.replicaCount", "version"])]


def drift_reports(stacks: int, seed: int = 7):
    from shipyard.engine import ResourceChange
    from shipyard.runner import StackReport

    rng = random.Random(seed)
    reports = []
    for i in range(stacks):
        stack = f"team{i:04d}-{('dev', 'staging', 'prod')[i % 3]}"
        roll = rng.random()
        if roll < 0.02:
            reports.append(StackReport(stack, "drift", error=f"error: preview failed: {stack}: context deadline "
                                       "exceeded while waiting for the Kubernetes API\n" * 3,
                                       extra={"status": "error"}))
        elif roll < 0.17:
            found = []
            for n in range(rng.randint(1, 6)):
                type_, role, props = rng.choice(KINDS)
                name = f"{stack}-tenancy-{stack.split('-')[0]}-web-{role}-{n}"
                found.append(ResourceChange(f"urn:pulumi:{stack}::shipyard::{type_}::{name}", type_, name,
                                            rng.choice(["update", "update", "delete", "create"]), tuple(props),
                                            source=rng.choice(["live", "git"])))
            reports.append(StackReport(stack, "drift", found, extra={"status": "drift"}))
        else:
            reports.append(StackReport(stack, "drift", extra={"status": "clean"}))
    return reports


def write_shards(directory: Path, stacks: int, shards: int) -> list[str]:
    from shipyard.cli.selection import shard_of
    from shipyard.report import drift_json, dumps

    reports = drift_reports(stacks)
    paths = []
    for index in range(1, shards + 1):
        data = drift_json([r for r in reports if shard_of(r.stack, shards) == index])
        data["shard"] = {"index": index, "count": shards}
        path = directory / f"drift-shard-{index}.json"
        path.write_text(dumps(data), encoding="utf-8")
        paths.append(str(path))
    return paths


def _line(label: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"{label:<64} best {min(samples):7.3f} s  median {median:7.3f} s")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import contextlib
    import io

    from shipyard.cli import main as shipyard

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = write_shards(out, args.stacks, args.shards)
        argv = ["report", "merge", *files, "--json", str(out / "all.json"), "--markdown", str(out / "all.md")]
        in_process = []
        for _ in range(args.runs):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = shipyard(argv)
            in_process.append(time.perf_counter() - started)
            assert code in (1, 2), code  # drift and failed checks were generated: never "clean"
        merged = json.loads((out / "all.json").read_text())
        assert len(merged["stacks"]) == args.stacks
        drifted = sum(1 for s in merged["stacks"] if s["status"] == "drift")
        print(f"{args.stacks} stacks ({drifted} drifted) in {args.shards} shard reports "
              f"({sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB) -> all.json "
              f"({(out / 'all.json').stat().st_size / 1e6:.1f} MB) + all.md "
              f"({(out / 'all.md').stat().st_size / 1e3:.0f} kB)")
        median = _line("report merge, in process (read, check, merge, render, write)", in_process)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        whole = []
        for _ in range(max(1, args.runs // 2)):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "shipyard", *argv], cwd=ROOT, env=env, capture_output=True)
            whole.append(time.perf_counter() - started)
            assert done.returncode in (1, 2), done.stderr
        _line("report merge, whole process (python -m shipyard)", whole)
        print(f"target: under 1 s in process: {'met' if median < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
