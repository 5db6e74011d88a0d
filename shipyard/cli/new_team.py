"""`shipyard new-team TEAM --env ENV`."""

from __future__ import annotations

import click


@click.command("new-team")
@click.argument("team")
@click.option("--env", "env", type=click.Choice(["dev", "staging", "prod"]), required=True)
@click.option("--owner", help="GitHub user or team owning the file (default: @<org>/<TEAM>, org taken from "
                              "the existing stack files).")
@click.option("--region", help="AWS region (default: the one most stacks use).")
@click.pass_obj
def command(obj, team: str, env: str, owner: str | None, region: str | None) -> int:
    """Write stacks/TEAM/ENV.yaml (valid, commented) and the CODEOWNERS entry for stacks/TEAM/."""
    from shipyard.errors import relpath
    from shipyard.scaffold import new_team

    for path in new_team(obj.repo, team, env, owner, region):
        click.echo(relpath(path, obj.repo.root))
    return 0
