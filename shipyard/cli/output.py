"""How results are printed for people (stdout), one way for every engine command."""

from __future__ import annotations

from typing import Any

import click

from shipyard.cost import cost_cell, money


def print_changes(stack: str, changes: list, verb: str, risk: str | None = None, error: str | None = None,
                  cost: dict[str, Any] | None = None) -> None:
    """`<stack>: N resource(s) <verb>` then one line per resource with the property paths that change,
    and the stack's estimated monthly cost (with its change against the last applied version)."""
    if error:
        click.echo(f"{stack}: FAILED\n{error}")
        return
    if cost:
        budget = f" of a {money(cost['budget'], cost['currency'])} budget" if cost.get("budget") is not None else ""
        click.echo(f"{stack}: estimated monthly cost {cost_cell(cost)}{budget if cost.get('priced') else ''}")
    if not changes:
        click.echo(f"{stack}: no changes")
        return
    click.echo(f"{stack}: {len(changes)} resource(s) {verb}" + (f" (risk: {risk})" if risk else ""))
    for change in changes:
        props = f"  [{', '.join(change.properties)}]" if change.properties else ""
        click.echo(f"  {change.op:<8} {change.type}  {change.name}{props}")
