"""How results are printed for people (stdout), one way for every engine command."""

from __future__ import annotations

from typing import Any

import click

from shipyard.cost import cost_cell, money


def print_changes(stack: str, changes: list, verb: str, risk: str | None = None, error: str | None = None,
                  cost: dict[str, Any] | None = None, repairs: list[dict[str, Any]] | None = None,
                  repaired: bool = False) -> None:
    """`<stack>: N resource(s) <verb>` then one line per resource with the property paths that change,
    the out-of-band changes `up` puts back first, and the stack's estimated monthly cost (with its change
    against the last applied version)."""
    if error:
        click.echo(f"{stack}: FAILED\n{error}")
        return
    if repairs:
        click.echo(f"{stack}: {len(repairs)} object(s) changed out of band {'put back' if repaired else 'to put back'}")
        for repair in repairs:
            fields = ", ".join(f["path"] + (f" (by {f['by']})" if f.get("by") else "") for f in repair["fields"])
            action = "recreate" if repair.get("action") == "recreate" else "repair"
            click.echo(f"  {action:<8} {repair['type']}  {repair['name']}" + (f"  [{fields}]" if fields else ""))
    if cost:
        budget = f" of a {money(cost['budget'], cost['currency'])} budget" if cost.get("budget") is not None else ""
        click.echo(f"{stack}: estimated monthly cost {cost_cell(cost)}{budget if cost.get('priced') else ''}")
    if not changes:
        click.echo(f"{stack}: no changes")
        return
    click.echo(f"{stack}: {len(changes)} resource(s) {verb}" + (f" (risk: {risk})" if risk else ""))
    for change in changes:
        props = f"  [{', '.join(change.properties)}]" if change.properties else ""
        order = f" ({change.replacement})" if getattr(change, "replacement", None) else ""
        click.echo(f"  {change.op:<8} {change.type}  {change.name}{props}{order}")
    for note in change_notes(changes):
        click.echo(f"  note: {note}")


def change_notes(changes: list) -> list[str]:
    """What a reviewer should know about some changes before they apply."""
    notes = []
    for change in changes:
        props = set(change.properties)
        if (change.type == "aws:eks/nodeGroup:NodeGroup" and change.op == "update"
                and "scalingConfig.minSize" in props and "scalingConfig.desiredSize" not in props):
            notes.append(f"{change.name}: minSize changes while the autoscaler owns the live size; if the group "
                         "runs fewer nodes than the new minSize, AWS refuses the update: let the autoscaler scale "
                         "up first, or raise the live size (aws eks update-nodegroup-config --scaling-config "
                         "desiredSize=N), then apply")
        elif (change.type == "aws:eks/nodeGroup:NodeGroup" and change.op == "replace"
              and getattr(change, "replacement", None) == "create-before-delete"):
            notes.append(f"{change.name}: a new node group is created (and its nodes join) before the old one is "
                         "deleted; the old nodes are drained as it goes")
    return notes
