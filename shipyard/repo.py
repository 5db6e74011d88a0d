"""Where things are in a platform repository: its root, its stack files, stack names."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from shipyard.errors import RepoNotFoundError, StackNotFoundError

STACKS_DIR = "stacks"
CONFIG_DIR = "config"
"""Committed stack config, `config/Pulumi.<stack>.yaml`: part of the stack it names (owned by its owners)."""
STACK_NAME = re.compile(r"^(?P<team>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<env>dev|staging|prod)$")


@dataclass(frozen=True)
class StackRef:
    """A stack file and the Pulumi stack it maps to."""

    name: str
    path: Path

    @property
    def team(self) -> str:
        return self.path.parent.name

    @property
    def environment(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class Repo:
    """A Shipyard platform repository: the folder holding `Pulumi.yaml`."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Repo:
        """The repository containing `start` (default: the current directory), searching upwards."""
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / "Pulumi.yaml").is_file() and (candidate / STACKS_DIR).is_dir():
                return cls(candidate)
        raise RepoNotFoundError(f"{here} is not inside a Shipyard platform repository (no Pulumi.yaml with a "
                                "stacks/ folder next to it); cd into the repository or pass --repo PATH")

    @property
    def stacks_dir(self) -> Path:
        return self.root / STACKS_DIR

    def stack_files(self) -> list[Path]:
        """Every `stacks/<team>/<env>.y*ml` regular file in a real folder, sorted (`.yml` is listed so validate
        can reject it). Symbolic links are not followed: see `unsafe_stack_paths`."""
        return sorted(path for path, safe in self._stack_entries() if safe)

    def unsafe_stack_paths(self) -> list[Path]:
        """Team folders and stack files under `stacks/` that are symbolic links or not regular files:
        never read (a link can point anywhere), reported by `validate`."""
        return sorted(path for path, safe in self._stack_entries() if not safe)

    def _stack_entries(self) -> list[tuple[Path, bool]]:
        """(path, safe) for every team folder entry and stack file candidate, judged without following links."""
        out: list[tuple[Path, bool]] = []
        try:
            teams = [t for t in os.scandir(self.stacks_dir) if not t.name.startswith(".")]
        except OSError:
            return out
        for team in teams:
            if team.is_symlink():
                out.append((Path(team.path), False))
            elif team.is_dir(follow_symlinks=False):
                try:
                    entries = [e for e in os.scandir(team.path)
                               if e.name.endswith((".yaml", ".yml")) and not e.name.startswith(".")]
                except OSError:
                    continue
                for entry in entries:
                    if entry.is_symlink():
                        out.append((Path(entry.path), False))
                    elif entry.is_file(follow_symlinks=False):
                        out.append((Path(entry.path), True))
                    elif not entry.is_dir(follow_symlinks=False):  # a FIFO, socket or device
                        out.append((Path(entry.path), False))
        return out

    def stacks(self) -> list[StackRef]:
        return [StackRef(f"{p.parent.name}-{p.stem}", p) for p in self.stack_files() if p.suffix == ".yaml"]

    def stack_file(self, name: str) -> Path | None:
        """Where the stack file of stack `name` is, whether or not it exists; None when `name` is not a stack
        name (`<team>-<env>`)."""
        match = STACK_NAME.fullmatch(name)
        return self.stacks_dir / match["team"] / f"{match['env']}.yaml" if match else None

    def stack(self, name: str) -> StackRef:
        """The stack file for stack `name` (`<team>-<env>`); `StackNotFoundError` when there is none."""
        path = self.stack_file(name)
        if path is not None and path.is_file():
            return StackRef(name, path)
        raise self.unknown_stack(name)

    def unknown_stack(self, name: str, hint: str = "") -> StackNotFoundError:
        """The error for a stack name without a stack file: the file it expected and the known stacks (`hint`
        is added after the file)."""
        path = self.stack_file(name)
        # Only names that are stack names: a folder called anything else is no stack to suggest (and its name
        # could carry a newline into the log).
        names = [s.name for s in self.stacks() if STACK_NAME.fullmatch(s.name)]
        known = ", ".join(names[:30]) or "none"
        if len(names) > 30:
            known += f" and {len(names) - 30} more (`shipyard stacks`)"
        # repr: the name is whatever was typed, and error lines end up in CI logs (never a raw newline there)
        expected = (f"expected the file {path.relative_to(self.root).as_posix()}" if path is not None else
                    "a stack name is <team>-<env>, for the file stacks/<team>/<env>.yaml (env one of dev, staging, "
                    "prod)")
        return StackNotFoundError(f"no stack {name!r}: {expected}{hint}; known stacks: {known}")

    @cached_property
    def tool_pins(self) -> dict:
        """`tools.toml`: the one place third-party binaries are pinned."""
        path = self.root / "tools.toml"
        if not path.is_file():
            return {}
        with path.open("rb") as handle:
            return tomllib.load(handle)

    @property
    def local_kubernetes_minor(self) -> str | None:
        version = self.tool_pins.get("kubernetes", {}).get("version")
        return ".".join(version.split(".")[:2]) if version else None
