"""The one module that talks to git (through GitPython); raises only `ShipyardError`s.

Every revision a user gives (`--base`, `--head`, `--changed-since`) is checked by `sinks.git_revision`,
handed to git only after `--end-of-options` and resolved to a commit id once (`resolve`); every later git
call gets that id, never the text. Paths go after `--` as literal pathspecs (`sinks.git_pathspec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.sinks import UnsafeTextError, git_pathspec, git_revision


class GitError(ShipyardError):
    """A git operation failed (unknown ref, not a repository...)."""


@dataclass(frozen=True)
class FileChange:
    """One path changed between two commits. `status`: A added, M modified, D deleted (renames are split
    into a deletion of the old path and an addition of the new one)."""

    status: str
    path: str


class GitRepo:
    def __init__(self, root: Path):
        import git

        try:
            self._repo = git.Repo(root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitError(f"{root} is not inside a git repository") from None
        self.top = Path(self._repo.working_tree_dir or root).resolve()
        self._resolved: dict[str, str] = {}
        self.prefix = Path(root).resolve().relative_to(self.top).as_posix()
        if self.prefix == ".":
            self.prefix = ""

    def resolve(self, ref: str) -> str:
        """The commit id `ref` names. The only call that gives git a user's revision text."""
        import git

        if ref in self._resolved:
            return self._resolved[ref]
        try:
            git_revision(ref)
        except UnsafeTextError as exc:
            raise GitError(str(exc)) from None
        try:
            self._resolved[ref] = self._repo.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                                           f"{ref}^{{commit}}")
            return self._resolved[ref]
        except git.GitCommandError:
            raise GitError(f"unknown git ref '{ref}'; fetch it first (CI: actions/checkout with fetch-depth: 0)") \
                from None

    def changed_files(self, base: str, head: str = "HEAD") -> list[FileChange]:
        """Paths (relative to the platform repository) changed on `head` since it forked from `base`
        (three-dot: what the branch did, not what the base did meanwhile)."""
        import git

        # -z: NUL-separated, so unusual file names need no unquoting; no rename detection: a moved stack
        # file *is* a decommission of the old stack plus a new one.
        old, new = self.resolve(base), self.resolve(head)
        where = git_pathspec(self.prefix or ".")
        try:
            out = self._repo.git.diff("--name-status", "-z", "--no-renames", "--end-of-options", f"{old}...{new}",
                                      "--", where)
        except git.GitCommandError:
            # unrelated histories have no merge base: compare the trees
            out = self._repo.git.diff("--name-status", "-z", "--no-renames", "--end-of-options", old, new, "--",
                                      where)
        fields = out.split("\0")
        changes = []
        for status, path in zip(fields[0::2], fields[1::2]):
            if not status:
                continue
            rel = path[len(self.prefix) + 1:] if self.prefix else path
            changes.append(FileChange(status[0] if status[0] in "ADM" else "M", rel))
        return changes

    def differing_from(self, ref: str, under: str) -> list[str]:
        """Paths under `under` (relative to the platform repository) whose working-tree file differs from `ref`'s:
        edited, deleted, or committed since (new untracked files are not listed: `ref` has nothing of them)."""
        import git

        where = git_pathspec(f"{self.prefix}/{under}" if self.prefix else under)
        try:
            out = self._repo.git.diff("--name-only", "-z", "--no-renames", "--end-of-options", self.resolve(ref),
                                      "--", where)
        except git.GitCommandError as exc:
            raise GitError(f"cannot compare with '{ref}': {exc.stderr.strip() or exc}") from None
        cut = len(self.prefix) + 1 if self.prefix else 0
        return [path[cut:] for path in out.split("\0") if path]

    def read_tree(self, ref: str, under: str) -> dict[str, str]:
        """Every file under `under` at `ref` with its text, read through one `git cat-file` process."""
        import git

        full = f"{self.prefix}/{under}" if self.prefix else under
        try:
            tree = self._repo.commit(self.resolve(ref)).tree / full
        except KeyError:
            return {}
        cut = len(self.prefix) + 1 if self.prefix else 0
        out = {}
        for item in tree.traverse():
            if isinstance(item, git.Blob):
                out[item.path[cut:]] = item.data_stream.read().decode("utf-8", "replace")
        return out

    def read_files(self, ref: str, paths: list[str]) -> dict[str, str | None]:
        """Several files at `ref` (None where absent), through the one persistent `git cat-file` process."""
        commit = self._repo.commit(self.resolve(ref))
        # GitPython parses a tree each time a path is looked up from the root: keep each folder's tree, so
        # a folder of thousands of entries (stacks/) is parsed once, not once per file.
        trees: dict[str, Any] = {"": commit.tree}

        def tree(folder: str) -> Any:
            if folder not in trees:
                parent, _, name = folder.rpartition("/")
                trees[folder] = tree(parent) / name
            return trees[folder]

        out: dict[str, str | None] = {}
        for path in paths:
            full = f"{self.prefix}/{path}" if self.prefix else path
            folder, _, name = full.rpartition("/")
            try:
                out[path] = (tree(folder) / name).data_stream.read().decode("utf-8", "replace")
            except KeyError:
                out[path] = None
        return out

    def show(self, ref: str, path: str) -> str | None:
        """A file's content at `ref`, or None when it does not exist there."""
        import git

        full = f"{self.prefix}/{path}" if self.prefix else path
        try:
            return self._repo.git.show("--end-of-options", f"{self.resolve(ref)}:{full}")
        except git.GitCommandError:
            return None

    def deleted_in(self, path: str, ref: str = "HEAD") -> str | None:
        """The commit that last deleted `path` (relative to the platform repository) in the history of `ref`,
        or None when no commit there ever deleted it."""
        import git

        full = f"{self.prefix}/{path}" if self.prefix else path
        try:
            out = self._repo.git.log("-1", "--format=%H", "--diff-filter=D", "--end-of-options", self.resolve(ref),
                                     "--", git_pathspec(full))
        except git.GitCommandError:
            return None
        return out.strip() or None
