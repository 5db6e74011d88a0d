"""`shipyard destroy-approval --pr N | --commit SHA`: does the platform team approve destroying production?"""

from __future__ import annotations

import os

import click

from shipyard.errors import ShipyardError


@click.command("destroy-approval")
@click.option("--pr", "number", type=int, help="The pull request to judge.")
@click.option("--commit", "sha", help="A commit on main: judge the pull request it was merged from.")
@click.pass_obj
def command(obj, number: int | None, sha: str | None) -> int:
    """Print `true` when the pull request carries the label `shipyard:allow-destroy` and the person who set
    it is in the platform team (policy.yaml `platformTeam`), else `false`; the reason goes to stderr.
    The workflows pass `--allow-destroy` only on `true`.

    Needs GITHUB_REPOSITORY and a token (SHIPYARD_GITHUB_TOKEN or GITHUB_TOKEN; read:org for team
    membership). Exit 0 with a verdict, 1 when GitHub cannot be asked.
    """
    from shipyard.guard import destroy_approval
    from shipyard.notify import GitHub
    from shipyard.ownership import Members, github_membership
    from shipyard.validation import platform_team

    if (number is None) == (sha is None):
        raise click.UsageError("give exactly one of --pr N or --commit SHA")
    github = GitHub.from_env(dict(os.environ)) if os.environ.get("GITHUB_REPOSITORY") else None
    if github is None:
        raise ShipyardError("set GITHUB_REPOSITORY (owner/repo) and GITHUB_TOKEN (or SHIPYARD_GITHUB_TOKEN) to "
                            "read the pull request's labels")
    if sha is not None:
        pulls = github.pulls_of_commit(sha)
        merged = [p for p in pulls if p.get("merge_commit_sha") == sha] or pulls
        if not merged:
            click.echo(f"commit {sha} did not come from a pull request: no approval", err=True)
            click.echo("false")
            return 0
        number = int(merged[0]["number"])
    assert number is not None
    team = platform_team(obj.repo.root)
    members = Members(github_membership())
    approved, why = destroy_approval(github.issue_events(number), lambda login: members.includes(login, team))
    click.echo(f"pull request #{number}: {why}", err=True)
    click.echo("true" if approved else "false")
    return 0
