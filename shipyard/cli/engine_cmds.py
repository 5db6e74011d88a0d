"""`shipyard up|destroy STACK` with the real Pulumi engine (preview lives in `preview.py`)."""

from __future__ import annotations

import json

import click

from shipyard.errors import ShipyardError


def print_outcome(outcome, as_json: bool = False) -> None:
    if as_json:
        return
    verb = {"preview": "would change", "up": "changed", "refresh": "differs from state",
            "destroy": "deleted"}[outcome.operation]
    if not outcome.changes:
        click.echo(f"{outcome.stack}: no changes")
        return
    click.echo(f"{outcome.stack}: {len(outcome.changes)} resource(s) {verb}")
    for change in outcome.changes:
        props = f"  [{', '.join(change.properties)}]" if change.properties else ""
        click.echo(f"  {change.op:<8} {change.type}  {change.name}{props}")


@click.command("up")
@click.argument("stacks", nargs=-1, required=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write what changed as JSON here.")
@click.pass_obj
def up(obj, stacks: tuple[str, ...], json_file: str | None) -> int:
    """Apply STACK(s) with the real engine; creates the Pulumi stack on first use.

    Invalid stack files are refused before anything runs. Exit 0 on success, 1 on failure.
    """
    from shipyard.engine import Engine

    engine = Engine(obj.repo.root)
    for name in stacks:  # refuse all before applying any
        engine._validate(name)
    outcomes = []
    for name in stacks:
        click.echo(f"==> up {name}", err=True)
        outcome = engine.up(name)
        outcomes.append(outcome)
        print_outcome(outcome)
    if json_file:
        with open(json_file, "w") as handle:
            json.dump({"stacks": [{"stack": o.stack, "changes": [c.as_json() for c in o.changes]}
                                  for o in outcomes]}, handle, indent=2)
    return 0


@click.command("destroy")
@click.argument("stack")
@click.option("--yes", is_flag=True, help="Confirm: delete every resource of the stack.")
@click.pass_obj
def destroy(obj, stack: str, yes: bool) -> int:
    """Tear STACK down (every resource it manages). Needs --yes."""
    from shipyard.engine import Engine

    if not yes:
        raise ShipyardError(f"destroying '{stack}' deletes everything it manages; re-run with --yes to confirm")
    click.echo(f"==> destroy {stack}", err=True)
    print_outcome(Engine(obj.repo.root).destroy(stack))
    return 0
