"""Kubernetes upgrades of eks stacks: the version each stack last applied, and the fleet's upgrade in waves.

EKS moves a cluster one minor at a time and never back, so what a stack file may ask for depends on what was
applied last. That is read, in order of authority:

- **the stack's state**: the `kubernetesVersion` output `__main__.py` exports on every `up` (what the last
  successful update applied; needs the engine and the state's credentials);
- **git**: the stack file at a base revision (`--changed-since`/`--base`, else `HEAD`). Merges to `main` are
  what `deploy.yml` applies, so the base's version stands for the applied one; a deploy that failed is
  invisible to it, which is why the state wins wherever it can be read.

`shipyard upgrade plan --to 1.NN` moves the fleet in waves by environment (dev, then staging, then prod):
the first wave that is not done gets its stack-file edits (one pull request); a later wave is refused while
an earlier one is not applied.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError, relpath
from shipyard.models import ENVIRONMENTS, minor_of, minor_steps

KUBERNETES_VERSION_OUTPUT = "kubernetesVersion"
"""The stack output holding the Kubernetes version the last successful `up` applied."""
VERSION_LOC = ("cluster", "kubernetesVersion")


@dataclass(frozen=True)
class AppliedVersion:
    version: str
    source: str
    """Where it was read, for messages: "the stack's state" or "stacks/ledger/dev.yaml at origin/main"."""

    def as_context(self) -> tuple[str, str]:
        """What the stack-file model's upgrade rule takes (`applied_kubernetes_version`)."""
        return self.version, self.source


def eks_version(text: str | None) -> str | None:
    """The `kubernetesVersion` of an eks stack file's text, read leniently (None for other providers, or when
    the text cannot say)."""
    if text is None:
        return None
    from shipyard.yamlfile import YamlError, load_text

    try:
        data = load_text(text, "").data
    except YamlError as exc:
        data = exc.document.data if exc.document is not None else None
    cluster = data.get("cluster") if isinstance(data, dict) else None
    if not isinstance(cluster, dict) or cluster.get("provider") != "eks":
        return None
    version = cluster.get("kubernetesVersion")
    return version if isinstance(version, str) and _is_minor(version) else None


def _is_minor(version: str) -> bool:
    try:
        minor_of(version)
    except ValueError:
        return False
    return version.count(".") == 1


# -- where "last applied" comes from ------------------------------------------------------------------
def applied_from_git(root: Path, paths: Iterable[Path], ref: str,
                     changed_only: bool = True) -> dict[Path, AppliedVersion]:
    """Stack file -> the eks version its file had at `ref`. `changed_only`: only for files that differ from
    `ref`'s (an unchanged file cannot take a step; git says which, so a thousand unchanged files cost one
    `git diff`). Files new since `ref` have nothing applied. Raises `GitError` when `root` is not in a git
    repository or `ref` is unknown."""
    from shipyard.gitrepo import GitRepo

    git = GitRepo(root)
    wanted = {relpath(path, root): path for path in paths}
    if changed_only:
        differing = set(git.differing_from(ref, "stacks"))
        wanted = {rel: path for rel, path in wanted.items() if rel in differing}
    if not wanted:
        return {}
    base = git.read_files(ref, sorted(wanted))
    out: dict[Path, AppliedVersion] = {}
    for rel, path in wanted.items():
        version = eks_version(base.get(rel))
        if version is not None:
            out[path] = AppliedVersion(version, f"{rel} at {ref}")
    return out


OutputsReader = Callable[[str], dict[str, Any]]
"""Stack name -> its outputs (raises `StackNotAppliedError` for a stack never applied)."""


def engine_outputs(root: Path) -> OutputsReader:
    """The real reader: the engine's `stack output` (needs the Pulumi CLI and the state's credentials)."""
    from shipyard.engine import Engine

    engine = Engine(root, log=lambda line: None)
    return engine.outputs


def applied_from_state(names: Iterable[str], read: OutputsReader) -> dict[str, AppliedVersion | None]:
    """Stack -> the version its last successful `up` applied; None for a stack never applied or applied before
    the output existed. Any other failure to read the state is an error (the caller asked for the state)."""
    from shipyard.errors import StackNotAppliedError

    out: dict[str, AppliedVersion | None] = {}
    for name in names:
        try:
            version = read(name).get(KUBERNETES_VERSION_OUTPUT)
        except StackNotAppliedError:
            version = None
        out[name] = AppliedVersion(version, "the stack's state") if isinstance(version, str) else None
    return out


# -- the fleet, in waves -------------------------------------------------------------------------------
class UpgradeRefused(ShipyardError):
    """A wave was asked for while an earlier one is not applied yet."""

    exit_code = 3


@dataclass
class StackStep:
    stack: str
    environment: str
    path: str
    version: str
    """In the stack file now."""
    applied: str | None
    """Last applied (None: never, or unknown)."""
    status: str
    """`done` (at the target and applied), `pending` (the file differs from what was applied: merge and apply
    it), `behind` (gets an edit), `ahead` (newer than the target: left alone)."""
    next: str | None = None
    """For `behind`: the version this wave's edit sets (one minor up)."""
    remaining: list[str] = field(default_factory=list)
    """For `behind`: the versions still to go after `next`, each a later round of the same wave."""

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "environment": self.environment, "path": self.path, "version": self.version,
                "applied": self.applied, "status": self.status, "next": self.next, "remaining": self.remaining}


@dataclass
class Wave:
    environment: str
    stacks: list[StackStep]
    allowed: bool
    """policy.yaml allows the target (and every step to it) in this environment."""

    @property
    def status(self) -> str:
        """`done`, `todo` (edits to write), `pending` (edited, waiting to be applied) or `blocked` (policy)."""
        if all(s.status in ("done", "ahead") for s in self.stacks):
            return "done"
        if not self.allowed:
            return "blocked"
        return "todo" if any(s.status == "behind" for s in self.stacks) else "pending"

    def as_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "status": self.status, "allowed": self.allowed,
                "stacks": [s.as_json() for s in self.stacks]}


@dataclass
class FleetPlan:
    target: str
    source: str
    """Where "applied" was read: `state` or `git` (with the revision)."""
    waves: list[Wave]
    wave: str | None = None
    """The wave this run works on (None: every wave is done)."""
    written: list[str] = field(default_factory=list)
    refused: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "source": self.source, "wave": self.wave, "written": self.written,
                "refused": self.refused, "waves": [w.as_json() for w in self.waves]}


def step_of(name: str, environment: str, path: str, version: str, applied: str | None, target: str) -> StackStep:
    if minor_of(version) > minor_of(target):
        return StackStep(name, environment, path, version, applied, "ahead")
    if applied != version:
        return StackStep(name, environment, path, version, applied, "pending")
    if version == target:
        return StackStep(name, environment, path, version, applied, "done")
    steps = minor_steps(version, target)
    return StackStep(name, environment, path, version, applied, "behind", next=steps[0], remaining=steps[1:])


def plan_waves(target: str, stacks: list[tuple[str, str, str, str, str | None]],
               allowed: dict[str, list[str]]) -> list[Wave]:
    """Waves by environment in promotion order. `stacks`: (name, environment, path, file version, applied);
    `allowed`: environment -> the Kubernetes versions policy.yaml allows there."""
    waves = []
    for env in ENVIRONMENTS:
        steps = sorted((step_of(name, e, path, version, applied, target)
                        for name, e, path, version, applied in stacks if e == env), key=lambda s: s.stack)
        if not steps:
            continue
        needed = {v for s in steps if s.status == "behind" for v in [s.next, *s.remaining] if v}
        waves.append(Wave(env, steps, needed <= set(allowed.get(env, ()))))
    return waves


def choose_wave(waves: list[Wave], wanted: str | None) -> tuple[Wave | None, str | None]:
    """The wave to work on, and why nothing may be written (or None). Without `wanted`, the first wave that is
    not done. A `wanted` wave after one that is not done is refused, naming what is missing."""
    first = next((w for w in waves if w.status != "done"), None)
    if wanted is None or first is None:
        return first, None
    order = {w.environment: i for i, w in enumerate(waves)}
    if wanted not in order:
        return None, None  # no eks stack in that environment: nothing to do
    if order[wanted] <= order[first.environment]:
        chosen = next(w for w in waves if w.environment == wanted)
        return chosen, None
    waiting = [s for s in first.stacks if s.status not in ("done", "ahead")]
    names = ", ".join(f"{s.stack} ({_state_of(s)})" for s in waiting[:10])
    more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
    return None, (f"wave '{wanted}' waits for wave '{first.environment}', which is not applied yet: {names}{more}; "
                  f"merge and apply wave '{first.environment}' first")


def _state_of(step: StackStep) -> str:
    if step.status == "behind":
        return f"at {step.version}, not edited yet"
    applied = step.applied or "nothing"
    return f"file {step.version}, applied {applied}"


def write_edits(root: Path, wave: Wave) -> list[str]:
    """Set each `behind` stack of the wave to its next version, in place (comments and layout kept); each file
    is written whole under a temporary name and renamed."""
    from shipyard.yamlfile import replace_scalar

    written = []
    for step in wave.stacks:
        if step.status != "behind" or step.next is None:
            continue
        path = root / step.path
        text = path.read_text(encoding="utf-8")
        new = replace_scalar(text, VERSION_LOC, step.next)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(new, encoding="utf-8")
        os.replace(temp, path)
        written.append(step.path)
    return written
