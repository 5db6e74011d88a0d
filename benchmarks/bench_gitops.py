"""GitOps benchmarks.

    python benchmarks/bench_gitops.py changed   [--runs 5]
    python benchmarks/bench_gitops.py preview   [--stacks 8 --parallel 4]

`changed`: a repository with 5,000 commits and 1,000 stack files (built with `git fast-import`);
`shipyard changed` vs `git diff --name-only` between the same commits, whole processes timed.
Targets: under 1 s, and within 3x of git.

`preview`: N local stacks previewed with `shipyard preview --parallel P` against previewing them one
after another (`shipyard preview STACK` N times; the bare `pulumi preview` cannot run the program on
this machine: the Python language host is not buildable here, see README). Needs the tools and the
local control plane (`shipyard local up`). Target: at least 1.5x faster.
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
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
STACK = """team: {team}
environment: {env}
owners: ["@acme/{team}"]
cluster: {{provider: local}}
addons: {{enable: [{addon}]}}
namespaces:
  - name: {team}-web
    quota: {{cpu: "4", memory: 8Gi, pods: {pods}}}
    developers: [{team}-devs]
"""


def _timed(cmd: list[str], cwd: Path, runs: int, env: dict[str, str] | None = None) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
        samples.append(time.perf_counter() - start)
        if result.returncode not in (0, 2):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return samples


def _line(label: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"{label:<62} best {min(samples):7.3f} s  median {median:7.3f} s")
    return median


def _in_process(repo: Path, base: str, runs: int) -> list[float]:
    sys.path.insert(0, str(ROOT))
    from shipyard.changes import changed_stacks
    from shipyard.gitrepo import GitRepo

    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        changed_stacks(GitRepo(repo), base, "HEAD")
        samples.append(time.perf_counter() - start)
    return samples


def build_history(repo: Path, commits: int, stacks: int) -> None:
    """One commit per change, each editing one stack file; the first commit adds everything."""
    for part in ("Pulumi.yaml", "__main__.py", "tools.toml", "pyproject.toml", "policy.yaml"):
        shutil.copy2(ROOT / part, repo / part)
    for part in ("components", "addons", "shipyard", "pricing", "policies"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "commit", "-q", "-m", "platform"], cwd=repo, check=True, env=env)
    envs = ("dev", "staging", "prod")
    names = [(f"team{i // 3:04d}", envs[i % 3]) for i in range(stacks)]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    lines: list[str] = []
    mark = 0

    def blob(text: str) -> str:
        data = text.encode()
        return f"M 100644 inline {{path}}\ndata {len(data)}\n{text}"

    for n in range(commits):
        mark += 1
        message = f"change {n}"
        lines.append(f"commit refs/heads/main\nmark :{mark}\ncommitter b <b@b> {1700000000 + n} +0000\n"
                     f"data {len(message)}\n{message}" + (f"\nfrom {head}" if n == 0 else ""))
        if n == 0:
            for team, env_name in names:
                text = STACK.format(team=team, env=env_name, addon="metrics-server", pods=20)
                lines.append(blob(text).replace("{path}", f"stacks/{team}/{env_name}.yaml"))
        else:
            team, env_name = names[n % stacks]
            text = STACK.format(team=team, env=env_name, addon="metrics-server", pods=20 + n % 50)
            lines.append(blob(text).replace("{path}", f"stacks/{team}/{env_name}.yaml"))
    script = "\n".join(lines) + "\n"
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=script.encode(), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True)


def bench_changed(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        started = time.perf_counter()
        build_history(repo, 5000, 1000)
        count = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=repo, capture_output=True,
                               text=True).stdout.strip()
        print(f"repository: {count} commits, 1000 stack files (built in {time.perf_counter() - started:.1f} s)")
        for label, base in (("a 10-commit range (a typical PR)", "HEAD~10"),
                            ("a 2,000-commit range (every stack file touched)", "HEAD~2000")):
            git = _line(f"git diff --name-only, {label}",
                        _timed(["git", "diff", "--name-only", base, "HEAD"], repo, runs))
            ours = _line(f"shipyard changed --format json, {label}",
                         _timed([SHIPYARD, "changed", "--base", base, "--format", "json"], repo, runs))
            print(f"{'  ratio shipyard / git (whole processes)':<62} {ours / git:7.2f}x")
            inproc = _line(f"changed_stacks() in-process (no interpreter start), {label}",
                           _in_process(repo, base, runs))
            print(f"{'  ratio in-process / git':<62} {inproc / git:7.2f}x")
        # A catalog change: the rule needs every stack's add-on choices.
        catalog = repo / "addons/catalog.yaml"
        catalog.write_text(catalog.read_text().replace("version: 3.13.0", "version: 3.13.1"))
        subprocess.run(["git", "commit", "-qam", "bump metrics-server"], cwd=repo, check=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                            "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
        git = _line("git diff --name-only, catalog entry changed",
                    _timed(["git", "diff", "--name-only", "HEAD~1", "HEAD"], repo, runs))
        ours = _line("shipyard changed, catalog entry changed (1,000 stacks read)",
                     _timed([SHIPYARD, "changed", "--base", "HEAD~1", "--format", "json"], repo, runs))
        print(f"{'  ratio shipyard / git':<62} {ours / git:7.2f}x")


def bench_preview(stacks: int, parallel: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        for part in ("Pulumi.yaml", "__main__.py", "tools.toml", "pyproject.toml", "policy.yaml"):
            shutil.copy2(ROOT / part, repo / part)
        for part in ("components", "addons", "pricing", "policies"):
            shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        addons = ["metrics-server", "external-dns", "cert-manager", "argo-cd", "ingress-nginx",
                  "kube-prometheus-stack"]
        names = []
        for i in range(stacks):
            team = f"bench{i}"
            (repo / "stacks" / team).mkdir(parents=True)
            (repo / "stacks" / team / "dev.yaml").write_text(
                STACK.format(team=team, env="dev", addon=addons[i % len(addons)], pods=20))
            names.append(f"{team}-dev")
        # The local control plane of this checkout, shared by the benchmark's own state.
        env = {**os.environ, "SHIPYARD_HOME": str(Path(tmp) / "home")}
        if not env.get("SHIPYARD_CHART_MIRROR"):  # the add-ons' real charts: the workspace's shared mirror
            sys.path.insert(0, str(ROOT))
            from tests.support.charts import shared_charts

            env["SHIPYARD_CHART_MIRROR"] = str(shared_charts())
        (Path(tmp) / "home" / "local").mkdir(parents=True)
        os.symlink(ROOT / ".shipyard" / "local" / "kubeconfig", Path(tmp) / "home" / "local" / "kubeconfig")
        subprocess.run([SHIPYARD, "preview", names[0]], cwd=repo, env=env, capture_output=True)  # warm-up
        sequential = _line(f"{stacks} stacks, one `shipyard preview` after another",
                           [sum(_timed([SHIPYARD, "preview", name], repo, 1, env)[0] for name in names)])
        parallel_t = _line(f"{stacks} stacks, `shipyard preview --parallel {parallel}`",
                           _timed([SHIPYARD, "preview", *names, "--parallel", str(parallel)], repo, 1, env))
        print(f"{'  speed-up':<62} {sequential / parallel_t:7.2f}x")
        one = _line("one stack, `shipyard preview` (process)", _timed([SHIPYARD, "preview", names[0]], repo, 3, env))
        print(f"{'  per-stack wall time, sequential':<62} {sequential / stacks:7.3f} s  (single run {one:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["changed", "preview", "overhead"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    if args.which == "changed":
        bench_changed(args.runs)
    elif args.which == "preview":
        bench_preview(args.stacks, args.parallel)
    else:
        overhead()


def overhead(stack: str = "sandbox-dev", runs: int = 3) -> None:
    """Where one preview's time goes: what Shipyard adds around the engine's own preview call."""
    from shipyard.engine import Engine

    engine = Engine(ROOT, log=lambda line: None)
    for _ in range(runs):
        t0 = time.perf_counter()
        engine.env()
        t1 = time.perf_counter()
        engine._validate(stack)
        t2 = time.perf_counter()
        with engine._stack(stack, validate=False) as handle:
            t3 = time.perf_counter()
            handle.preview(on_output=lambda line: None, color="never")
            t4 = time.perf_counter()
        print(f"env {t1 - t0:.3f} s  validate {t2 - t1:.3f} s  workspace/stack select {t3 - t2:.3f} s  "
              f"engine preview {t4 - t3:.3f} s  -> Shipyard's own share {(t3 - t0):.3f} s")


if __name__ == "__main__":
    main()
