"""`shipyard stacks`: every stack name with its file."""

from __future__ import annotations

import json

import click

from shipyard.errors import relpath


@click.command("stacks")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {stack, file, team, environment}.")
@click.pass_obj
def command(obj, as_json: bool) -> int:
    """List every stack (`<team>-<env>`) with its file, one per line."""
    repo = obj.repo
    refs = repo.stacks()
    if as_json:
        click.echo(json.dumps([{"stack": r.name, "file": relpath(r.path, repo.root), "team": r.team,
                                "environment": r.environment} for r in refs], indent=2))
        return 0
    width = max((len(r.name) for r in refs), default=0)
    for ref in refs:
        click.echo(f"{ref.name.ljust(width)}  {relpath(ref.path, repo.root)}")
    return 0
