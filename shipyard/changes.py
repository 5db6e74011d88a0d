"""Which stacks a change affects: the rule behind PR previews and apply-on-merge.

- a stack file added or edited affects that stack; a deleted one is a *decommission candidate*
  (never destroyed automatically: that takes `shipyard destroy STACK --yes`);
- a change to an add-on catalog entry (its version and digest pin the chart archive itself) affects only the
  stacks that get that add-on, before or after the change — a change to its `localValues` alone, only those
  of them on `cluster.provider: local`; a change to a bundle affects the stacks that use it;
- a change to the program (`__main__.py`, `Pulumi.yaml`, `components/`, the `shipyard` package or the
  pinned Python dependencies) affects every stack: they all run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from shipyard.gitrepo import FileChange, GitRepo

PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "pyproject.toml", "requirements.lock")
PROGRAM_DIRS = ("components/", "shipyard/")
CATALOG = "addons/catalog.yaml"
LOCAL_VALUES = "localValues"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class AffectedStack:
    stack: str
    file: str
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        team, env = self.file.split("/")[1], PurePosixPath(self.file).stem
        return {"stack": self.stack, "file": self.file, "team": team, "environment": env, "reasons": self.reasons}


@dataclass
class ChangeSet:
    base: str
    head: str
    affected: list[AffectedStack]
    decommissioned: list[AffectedStack]

    def as_json(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "stacks": [a.as_json() for a in self.affected],
                "decommissioned": [d.as_json() for d in self.decommissioned]}

    def matrix(self) -> dict[str, Any]:
        """A GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`); never empty-invalid."""
        include = [{"stack": a.stack, "file": a.file, "environment": a.as_json()["environment"]}
                   for a in self.affected]
        return {"include": include} if include else {"include": [{"stack": "", "file": "", "environment": ""}]}


def _is_stack_file(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 3 and parts[0] == "stacks" and parts[2].endswith(".yaml")


def _stack_name(path: str) -> str:
    parts = path.split("/")
    return f"{parts[1]}-{PurePosixPath(parts[2]).stem}"


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _catalog_delta(old: Any, new: Any) -> tuple[set[str], set[str], set[str]]:
    """(add-on entries, add-on entries whose `localValues` alone differ, bundles) between two catalog documents."""
    old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
    changed: dict[str, set[str]] = {}
    for section in ("addons", "bundles"):
        a, b = old.get(section) or {}, new.get(section) or {}
        a, b = (a if isinstance(a, dict) else {}), (b if isinstance(b, dict) else {})
        changed[section] = {name for name in set(a) | set(b) if a.get(name) != b.get(name)}
        if section == "addons":
            changed["local"] = {name for name in changed["addons"]
                                if isinstance(a.get(name), dict) and isinstance(b.get(name), dict)
                                and _without_local(a[name]) == _without_local(b[name])}
    return changed["addons"] - changed["local"], changed["local"], changed["bundles"]


def _without_local(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != LOCAL_VALUES}


def _is_local(stack_doc: Any) -> bool:
    cluster = stack_doc.get("cluster") if isinstance(stack_doc, dict) else None
    return isinstance(cluster, dict) and cluster.get("provider") == "local"


def _addons_of(stack_doc: Any, catalog: Any) -> tuple[set[str], set[str]]:
    """(add-ons, bundles) a stack file asks for under a catalog, tolerant of invalid input."""
    spec = stack_doc.get("addons") if isinstance(stack_doc, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    bundles_def = (catalog or {}).get("bundles") if isinstance(catalog, dict) else {}
    bundles_def = bundles_def if isinstance(bundles_def, dict) else {}

    def names(key: str) -> set[str]:
        value = spec.get(key) or []
        return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()

    bundles = names("bundles")
    chosen = set(names("enable"))
    for bundle in bundles:
        members = (bundles_def.get(bundle) or {}).get("addons") if isinstance(bundles_def.get(bundle), dict) else []
        chosen.update(m for m in (members or []) if isinstance(m, str))
    return chosen - names("disable"), bundles


def changed_stacks(git: GitRepo, base: str, head: str = "HEAD") -> ChangeSet:
    changes: list[FileChange] = git.changed_files(base, head)
    affected: dict[str, AffectedStack] = {}
    decommissioned: dict[str, AffectedStack] = {}

    def touch(path: str, reason: str) -> None:
        entry = affected.setdefault(path, AffectedStack(_stack_name(path), path))
        if reason not in entry.reasons:
            entry.reasons.append(reason)

    program = sorted({c.path for c in changes if c.path in PROGRAM_FILES or c.path.startswith(PROGRAM_DIRS)})
    catalog_changed = any(c.path == CATALOG for c in changes)
    # Stack files as they are at `head` (not in the working tree: CI may check out something else);
    # read only when a rule needs every stack.
    at_head: dict[str, str] = {}
    if program or catalog_changed:
        at_head = {p: text for p, text in git.read_tree(head, "stacks").items() if _is_stack_file(p)}
    current = set(at_head) | {c.path for c in changes if _is_stack_file(c.path) and c.status != "D"}

    for change in changes:
        if not _is_stack_file(change.path):
            continue
        if change.status == "D":
            decommissioned[change.path] = AffectedStack(_stack_name(change.path), change.path,
                                                        ["stack file deleted"])
        else:
            touch(change.path, "stack file added" if change.status == "A" else "stack file changed")

    if program:
        shown = ", ".join(program[:3]) + (f" and {len(program) - 3} more" if len(program) > 3 else "")
        for path in current:
            touch(path, f"program changed: {shown}")

    if catalog_changed:
        old_catalog, new_catalog = _load(git.show(base, CATALOG)), _load(git.show(head, CATALOG))
        addons, local_only, bundles = _catalog_delta(old_catalog, new_catalog)
        if addons or local_only or bundles:
            for path in current:
                doc = _load(at_head.get(path))
                if doc is None:
                    touch(path, "stack file unreadable; previewing to be safe")
                    continue
                got_new, used = _addons_of(doc, new_catalog)
                got_old, _ = _addons_of(doc, old_catalog)
                for name in sorted((got_new | got_old) & addons):
                    touch(path, f"add-on '{name}' changed in the catalog")
                if _is_local(doc):
                    for name in sorted((got_new | got_old) & local_only):
                        touch(path, f"add-on '{name}' changed in the catalog ({LOCAL_VALUES})")
                for name in sorted(used & bundles):
                    touch(path, f"bundle '{name}' changed in the catalog")

    for path in list(decommissioned):
        if path in affected:  # deleted and re-added in the range: it still exists
            del decommissioned[path]
    order = sorted(affected.values(), key=lambda a: a.stack)
    return ChangeSet(base=base, head=head, affected=[a for a in order if a.file in current],
                     decommissioned=sorted(decommissioned.values(), key=lambda a: a.stack))

