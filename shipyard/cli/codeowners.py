"""`shipyard codeowners [--check]`: .github/CODEOWNERS from the stack files' owners and the platform team."""

from __future__ import annotations

import click


@click.command("codeowners")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when CODEOWNERS is not what it should be.")
@click.pass_obj
def command(obj, check: bool) -> int:
    """Write .github/CODEOWNERS: each team owns its stack files (their `owners`), the platform team
    (policy.yaml `platformTeam`) owns everything else.

    Exit 0 when written or up to date, 1 when --check finds it stale (or a file is invalid).
    """
    from shipyard.errors import relpath
    from shipyard.ownership import write_codeowners
    from shipyard.validation import platform_team

    path, fresh = write_codeowners(obj.repo, platform_team(obj.repo.root), check=check)
    shown = relpath(path, obj.repo.root)
    if check and not fresh:
        click.echo(f"{shown}:1:1: out of date with the stack files' owners; run `shipyard codeowners` and commit "
                   "the result", err=True)
        return 1
    click.echo(f"{shown} is up to date" if fresh else f"wrote {shown}", err=True)
    return 0
