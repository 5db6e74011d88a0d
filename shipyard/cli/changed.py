"""`shipyard changed --base REF [--head REF] [--format text|json|matrix]`: the stacks a change affects."""

from __future__ import annotations

import json

import click


@click.command("changed")
@click.option("--base", required=True, help="Where the change starts (PR base branch, or the commit before a push).")
@click.option("--head", default="HEAD", show_default=True, help="Where the change ends.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "matrix"]), default="text", show_default=True,
              help="text: one stack per line; json: everything; matrix: a GitHub Actions matrix.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when any stack is affected or decommissioned.")
@click.pass_obj
def command(obj, base: str, head: str, fmt: str, detailed_exitcode: bool) -> int:
    """List the stacks affected by the commits between BASE and HEAD.

    Edited or added stack files; deleted ones separately (decommission candidates, never destroyed
    automatically); catalog changes only for stacks that get the add-on; program changes for all.
    """
    from shipyard.changes import changed_stacks
    from shipyard.gitrepo import GitRepo

    result = changed_stacks(GitRepo(obj.repo.root), base, head)
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    elif fmt == "matrix":
        click.echo(json.dumps(result.matrix(), separators=(",", ":")))
    else:
        width = max((len(a.stack) for a in result.affected + result.decommissioned), default=0)
        for item in result.affected:
            click.echo(f"{item.stack.ljust(width)}  {item.file}  ({'; '.join(item.reasons)})")
        for item in result.decommissioned:
            click.echo(f"{item.stack.ljust(width)}  {item.file}  (DECOMMISSION CANDIDATE: stack file deleted; "
                       f"destroy it explicitly with `shipyard destroy {item.stack} --yes`)")
        if not result.affected and not result.decommissioned:
            click.echo("no stacks affected", err=True)
    if detailed_exitcode and (result.affected or result.decommissioned):
        return 2
    return 0
