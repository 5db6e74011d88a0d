"""Deletion protection: what in a set of previews would destroy production, and whether that is approved.

Destroying production takes an explicit, separate approval: in a pull request, a label only the platform
team may set (`shipyard:allow-destroy`), which the workflows turn into `--allow-destroy`. Without it, a
change that replaces or deletes a prod cluster, node group or namespace — or removes a prod stack file —
fails the workflow. The components also `protect` those resources, so the engine itself refuses such a
step even if this check were bypassed; `--allow-destroy` is what lifts that protection for one `up`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.engine import PROTECTED_ERROR, protected_urns
from shipyard.runner import RISKY_OPS, StackReport

APPROVAL_LABEL = "shipyard:allow-destroy"
PROTECTED_TYPES = frozenset({
    "shipyard:cluster:Cluster", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
    "kubernetes:core/v1:Namespace",
})


def is_prod(stack: str) -> bool:
    return stack.endswith("-prod")


def is_protection_error(text: str | None) -> bool:
    return bool(text) and PROTECTED_ERROR.search(text or "") is not None


@dataclass(frozen=True)
class Destruction:
    """One production resource (or a whole stack) a change would destroy."""

    stack: str
    what: str

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "what": self.what}


def destructions(reports: list[StackReport], decommissioned: list[str]) -> list[Destruction]:
    """Everything in these previews that would destroy production."""
    found = [Destruction(stack, "the stack file was deleted (decommissioning the whole stack)")
             for stack in decommissioned if is_prod(stack)]
    for report in reports:
        if not is_prod(report.stack):
            continue
        for change in report.changes:
            if change.op in RISKY_OPS and change.type in PROTECTED_TYPES:
                verb = "delete" if change.op in ("delete", "discard") else "replace"
                found.append(Destruction(report.stack, f"{verb} {change.type} {change.name}"))
        if is_protection_error(report.error):
            # A protected resource stops the preview itself before it lists the step: name it from the error.
            urns = protected_urns(report.error) or ["a protected resource"]
            found += [Destruction(report.stack, f"replace or delete {urn}") for urn in urns]
    return found


def blocked_message(found: list[Destruction]) -> str:
    lines = [f"  {d.stack}: {d.what}" for d in found]
    return ("this change would destroy production resources:\n" + "\n".join(lines) +
            f"\nIt needs the platform team's approval: the pull request label '{APPROVAL_LABEL}' (the workflows "
            "then pass --allow-destroy). Nothing was applied.")


def destroy_approval(events: list[dict[str, Any]], is_platform: Callable[[str], bool]) -> tuple[bool, str]:
    """Whether a pull request's events approve destroying production: the approval label is on it now, and
    whoever put it there last is in the platform team (a label anyone with triage access can set proves
    nothing by itself). Returns the verdict and why."""
    labeller: str | None = None
    for event in events:
        if (event.get("label") or {}).get("name") != APPROVAL_LABEL:
            continue
        if event.get("event") == "labeled":
            labeller = (event.get("actor") or {}).get("login")
        elif event.get("event") == "unlabeled":
            labeller = None
    if labeller is None:
        return False, f"the pull request does not carry the label '{APPROVAL_LABEL}'"
    if not is_platform(labeller):
        return False, (f"'{APPROVAL_LABEL}' was set by @{labeller}, who is not in the platform team; only the "
                       "platform team's label approves destroying production")
    return True, f"'{APPROVAL_LABEL}' set by @{labeller} (platform team)"
