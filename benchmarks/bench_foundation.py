"""Foundation benchmarks (issue: validate 1,000 files < 1 s; offline preview of an every-add-on stack < 3 s, the eks
one with everything an eks cluster gets: access entries, core add-ons, node groups, add-on identities and zones).

    python benchmarks/bench_foundation.py [--files 1000] [--runs 5]

Times whole processes (interpreter start included), reports the best and median of N runs.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEAM_FILE = """# yaml-language-server: $schema=../../schema/stack.schema.json
team: {team}
environment: {env}
owners: ["@acme/{team}"]
cluster:
  provider: eks
  region: eu-west-1
  kubernetesVersion: "1.34"
  nodeGroups:
    - {{name: general, instanceType: m6i.large, minSize: 2, desiredSize: 3, maxSize: 5}}
    - {{name: batch, instanceType: m6i.large, minSize: 0, desiredSize: 0, maxSize: 4, capacityType: SPOT}}
  access:
    groups:
      {team}-leads: ["arn:aws:iam::111122223333:role/{team}-leads"]
      {team}-devs: ["arn:aws:iam::111122223333:role/{team}-devs"]
addons:
  bundles: [baseline, observability]
  enable: [external-dns]
  dns: {{zones: [{team}.example.com]}}
  values:
    ingress-nginx:
      controller: {{replicaCount: 2}}
namespaces:
  - name: {team}-api
    quota: {{cpu: "16", memory: 32Gi, pods: 100}}
    admins: [{team}-leads]
    developers: [{team}-devs]
  - name: {team}-jobs
    quota: {{cpu: "4", memory: 8Gi, pods: 40}}
    developers: [{team}-devs]
tags: {{costCenter: cc-4411}}
"""
EVERY_ADDON = """team: bench
environment: prod
owners: ["@acme/bench"]
cluster:
  provider: eks
  region: eu-west-1
  kubernetesVersion: "1.34"
  nodeGroups:
    - {name: general, instanceType: m6i.large, minSize: 2, desiredSize: 3, maxSize: 6}
    - {name: batch, instanceType: m6i.xlarge, minSize: 0, desiredSize: 1, maxSize: 4, capacityType: SPOT}
  access:
    groups:
      bench-leads: ["arn:aws:iam::111122223333:role/bench-leads"]
      bench-devs: ["arn:aws:iam::111122223333:role/bench-devs",
                   "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dev_0123"]
addons:
  bundles: [baseline, observability, gitops]
  enable: [external-dns]
  dns: {zones: [bench.example.com, bench.example.org]}
namespaces:
  - name: bench-api
    quota: {cpu: "16", memory: 32Gi, pods: 100}
    admins: [bench-leads]
    developers: [bench-devs]
"""
EVERY_ADDON_LOCAL = """team: benchlocal
environment: dev
owners: ["@acme/bench"]
cluster:
  provider: local
addons:
  bundles: [baseline, observability, gitops]
  enable: [external-dns]
namespaces:
  - name: benchlocal-api
    quota: {cpu: "16", memory: 32Gi, pods: 100}
    admins: [bench-leads]
"""
PARSE_ONLY = """import sys, yaml
for p in sys.argv[1:]:
    with open(p) as f:
        yaml.load(f, Loader=yaml.CSafeLoader)
"""


def make_repo(tmp: Path, files: int) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    for part in ("Pulumi.yaml", "__main__.py", "tools.toml", "policy.yaml"):
        shutil.copy2(ROOT / part, repo / part)
    for part in ("components", "addons", "pricing", "policies"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    envs = ("dev", "staging", "prod")
    for i in range(files):
        team = f"team{i // 3:04d}"
        env = envs[i % 3]
        path = repo / "stacks" / team / f"{env}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TEAM_FILE.format(team=team, env=env))
    (repo / "stacks" / "bench").mkdir()
    (repo / "stacks" / "bench" / "prod.yaml").write_text(EVERY_ADDON)
    (repo / "stacks" / "benchlocal").mkdir()
    (repo / "stacks" / "benchlocal" / "dev.yaml").write_text(EVERY_ADDON_LOCAL)
    return repo


def commit_all(repo: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "bench"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)


def timed(cmd: list[str], runs: int, cwd: Path) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        out.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return out


def report(label: str, samples: list[float], target: float | None = None) -> None:
    best, median = min(samples), statistics.median(samples)
    verdict = "" if target is None else ("  OK" if median < target else f"  OVER TARGET ({target} s)")
    print(f"{label:<58} best {best:6.3f} s  median {median:6.3f} s{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    shipyard = [str(Path(sys.executable).with_name("shipyard"))]
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), args.files)
        files = sorted(str(p) for p in (repo / "stacks").glob("team*/*.yaml"))
        validate = timed(shipyard + ["validate"], args.runs, repo)
        parse = timed([sys.executable, "-c", PARSE_ONLY, *files], args.runs, repo)
        report(f"shipyard validate, {len(files) + 1} files (process)", validate, 1.0)
        report(f"PyYAML CSafeLoader parse only, {len(files)} files (process)", parse)
        print(f"{'ratio validate / plain C-loader parse (medians)':<58} {statistics.median(validate) / statistics.median(parse):.2f}x")
        # In a git repository validate also compares each changed eks file's Kubernetes version with HEAD's.
        commit_all(repo)
        for path in files[:100]:
            Path(path).write_text(Path(path).read_text().replace('"1.34"', '"1.35"'))
        in_git = timed(shipyard + ["validate"], args.runs, repo)
        report(f"shipyard validate, {len(files) + 1} files, git, 100 changed (process)", in_git, 1.0)
        local = timed(shipyard + ["preview", "--offline", "benchlocal-dev"], args.runs, repo)
        report("shipyard preview --offline, every add-on, local cluster", local, 3.0)
        preview = timed(shipyard + ["preview", "--offline", "bench-prod"], args.runs, repo)
        report("shipyard preview --offline, every add-on, eks (+pulumi_aws)", preview, 3.0)
        planned = subprocess.run(shipyard + ["preview", "--offline", "bench-prod", "--json"], cwd=repo,
                                 capture_output=True, text=True, check=True)
        print(f"{'  resources in that eks preview':<58} {len(json.loads(planned.stdout)['stacks'][0]['resources'])}")


if __name__ == "__main__":
    main()
