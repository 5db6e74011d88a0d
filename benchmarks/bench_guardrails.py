"""What the guardrails cost.

    python benchmarks/bench_guardrails.py validate [--runs 7]   # platform policy + budgets in validate
    python benchmarks/bench_guardrails.py author   [--runs 7]   # validate --author on a 1,000-stack repo
    python benchmarks/bench_guardrails.py pack     [--runs 5]   # the policy pack in a real-engine preview

`validate`: 1,000 stack files validated in this process (one worker, so the comparison is not noise from
process start-up or forking), with and without the policy, budget and cost estimate.
`author`: `check_author` for a pull request that edits 10 of 1,000 stack files (the author a direct
`@user` owner; team lookups answered locally, so no GitHub API latency is timed), against the git diff
of the pull request alone.
`pack`: `shipyard preview` of one local stack with the policy pack against the same repository without
`policies/` (the engine then runs no pack). Needs the tools and a running local control plane
(`shipyard local up`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
PLATFORM = ("Pulumi.yaml", "__main__.py", "tools.toml", "pyproject.toml", "policy.yaml", "components", "addons",
            "pricing", "policies")


def _copy_platform(repo: Path, parts: tuple[str, ...] = PLATFORM) -> None:
    repo.mkdir(parents=True)
    for part in parts:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / part, repo / part)


def _line(label: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"{label:<64} best {min(samples):7.3f} s  median {median:7.3f} s")
    return median


def bench_validate(runs: int) -> None:
    import bench_foundation

    from shipyard.validation import load_catalog, load_policy, validate_files

    with tempfile.TemporaryDirectory() as tmp:
        repo = bench_foundation.make_repo(Path(tmp), 1000)
        files = sorted((repo / "stacks").glob("team*/*.yaml"))
        catalog = load_catalog(repo).catalog
        policy = load_policy(repo, catalog)
        assert not policy.diagnostics and not validate_files(files, repo, catalog, None, jobs=1, policy=policy)
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(runs):  # interleaved, so machine load hits both alike
            for label, rules in (("without", None), ("with", policy)):
                start = time.perf_counter()
                validate_files(files, repo, catalog, None, jobs=1, policy=rules)
                timings[label].append(time.perf_counter() - start)
        base = _line("validate 1,000 files in-process, catalog only", timings["without"])
        full = _line("validate 1,000 files in-process, + policy, budget, cost", timings["with"])
        print(f"{'  policy share':<64} {100 * (full - base) / base:6.1f} %")
        start = time.perf_counter()
        load_policy(repo, catalog)
        print(f"{'load policy.yaml + pricing/aws.yaml once':<64} {time.perf_counter() - start:7.3f} s")


def bench_author(runs: int) -> None:
    from shipyard.gitrepo import GitRepo
    from shipyard.ownership import Members, check_author
    from shipyard.repo import Repo

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        _copy_platform(repo)
        for i in range(1000):
            folder = repo / "stacks" / f"team{i:04d}"
            folder.mkdir(parents=True)
            (folder / "dev.yaml").write_text(f'team: team{i:04d}\nenvironment: dev\nowners: ["@acme/team{i:04d}", '
                                             f'"@dev{i % 10}"]\ncluster: {{provider: local}}\n')
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "base"], cwd=repo, check=True)
        subprocess.run([*git, "checkout", "-q", "-b", "change"], cwd=repo, check=True)
        for i in range(0, 100, 10):  # ten files, all owned by @dev0
            path = repo / "stacks" / f"team{i:04d}" / "dev.yaml"
            path.write_text(path.read_text() + "tags: {note: x}\n")
        subprocess.run([*git, "commit", "-q", "-am", "change"], cwd=repo, check=True)
        # Team lookups answered locally (False): the GitHub API's latency is not Shipyard's to measure.
        members = Members(team_member=lambda org, team, login: False)
        diff, check = [], []
        for _ in range(runs):
            start = time.perf_counter()
            GitRepo(repo).changed_files("main")
            diff.append(time.perf_counter() - start)
            start = time.perf_counter()
            problems = check_author(Repo(repo), "main", "dev0", ["@acme/platform"], members)
            check.append(time.perf_counter() - start)
            assert problems == [], problems
        _line("changed files of the pull request (git diff only)", diff)
        _line("check_author: 10 of 1,000 stack files, owners at the base", check)


def bench_pack(runs: int) -> None:
    stack = ('team: bench\nenvironment: dev\nowners: ["@acme/bench"]\ncluster: {provider: local}\n'
             'addons: {enable: [ingress-nginx]}\nnamespaces:\n  - name: bench-web\n'
             '    quota: {cpu: "4", memory: 8Gi, pods: 20}\n    developers: [bench-devs]\n')
    kubeconfig = ROOT / ".shipyard" / "local" / "kubeconfig"
    if not kubeconfig.is_file():
        raise SystemExit("start the local control plane first: shipyard local up")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, parts in (("with the policy pack", PLATFORM),
                             ("without (no policies/)", tuple(p for p in PLATFORM if p != "policies"))):
            repo = Path(tmp) / label.split()[0]
            _copy_platform(repo, parts)
            (repo / "stacks" / "bench").mkdir(parents=True)
            (repo / "stacks" / "bench" / "dev.yaml").write_text(stack)
            home = Path(tmp) / f"home-{label.split()[0]}"
            (home / "local").mkdir(parents=True)
            os.symlink(kubeconfig, home / "local" / "kubeconfig")
            env = {**os.environ, "SHIPYARD_HOME": str(home)}
            subprocess.run([SHIPYARD, "preview", "bench-dev"], cwd=repo, env=env, capture_output=True)  # warm-up
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                result = subprocess.run([SHIPYARD, "preview", "bench-dev"], cwd=repo, env=env, capture_output=True,
                                        text=True)
                samples.append(time.perf_counter() - start)
                if result.returncode != 0:
                    raise SystemExit(result.stderr[-3000:])
            results[label] = _line(f"shipyard preview of one local stack, {label}", samples)
        values = list(results.values())
        print(f"{'  policy pack cost per preview':<64} {values[0] - values[1]:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["validate", "author", "pack"])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    {"validate": bench_validate, "author": bench_author, "pack": bench_pack}[args.which](args.runs)


if __name__ == "__main__":
    main()
