"""How results are printed for people (stdout), one way for every engine command."""

from __future__ import annotations

from typing import Any

import click

from shipyard.cost import cost_cell, money


def print_changes(stack: str, changes: list, verb: str, risk: str | None = None, error: str | None = None,
                  cost: dict[str, Any] | None = None, repairs: list[dict[str, Any]] | None = None,
                  repaired: bool = False, notes: list[str] | None = None) -> None:
    """`<stack>: N resource(s) <verb>` then one line per resource with the property paths that change,
    the out-of-band changes `up` puts back first, and the stack's estimated monthly cost (with its change
    against the last applied version), then what a reviewer should know about some changes (`notes`)."""
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
    for note in notes or ():
        click.echo(f"  note: {note}")
