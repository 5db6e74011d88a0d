"""How results are printed for people (stdout), one way for every engine command."""

from __future__ import annotations

import click


def print_changes(stack: str, changes: list, verb: str, risk: str | None = None, error: str | None = None) -> None:
    """`<stack>: N resource(s) <verb>` then one line per resource with the property paths that change."""
    if error:
        click.echo(f"{stack}: FAILED\n{error}")
        return
    if not changes:
        click.echo(f"{stack}: no changes")
        return
    click.echo(f"{stack}: {len(changes)} resource(s) {verb}" + (f" (risk: {risk})" if risk else ""))
    for change in changes:
        props = f"  [{', '.join(change.properties)}]" if change.properties else ""
        click.echo(f"  {change.op:<8} {change.type}  {change.name}{props}")
