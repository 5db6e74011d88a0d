"""`shipyard destroy-approval --pr N | --commit SHA [--base REF]`: does the platform team approve destroying
production?"""

from __future__ import annotations

import os
import re
from typing import Any

import click

from shipyard.errors import ShipyardError

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@click.command("destroy-approval")
@click.option("--pr", "number", type=int, help="The pull request to judge.")
@click.option("--commit", "sha", help="A commit on main: judge the pull request it was merged from.")
@click.option("--base", metavar="REF", help="The revision whose policy.yaml says who the platform team is "
              "[default: the pull request's base commit, `base.sha` from GitHub].")
@click.pass_obj
def command(obj, number: int | None, sha: str | None, base: str | None) -> int:
    """Print `true` when the pull request carries the label `shipyard:allow-destroy` and the person who set
    it is in the platform team, else `false`; the reason goes to stderr. The workflows pass
    `--allow-destroy` only on `true`.

    The platform team is policy.yaml's `platformTeam` at the base of the change, never at the change
    itself (a pull request that adds someone to `platformTeam` cannot let them approve it): at --base REF,
    else at the pull request's base commit as GitHub reports it. That commit (or REF) must be in the local
    clone; a base without a valid policy.yaml is an error, not an approval.

    Needs GITHUB_REPOSITORY and a token (SHIPYARD_GITHUB_TOKEN or GITHUB_TOKEN; read:org for team
    membership). Exit 0 with a verdict, 1 when GitHub or the base policy cannot be read.
    """
    from shipyard.gitrepo import GitRepo
    from shipyard.guard import destroy_approval
    from shipyard.notify import GitHub
    from shipyard.ownership import Members, github_membership, platform_team_at

    if (number is None) == (sha is None):
        raise click.UsageError("give exactly one of --pr N or --commit SHA")
    github = GitHub.from_env(dict(os.environ)) if os.environ.get("GITHUB_REPOSITORY") else None
    if github is None:
        raise ShipyardError("set GITHUB_REPOSITORY (owner/repo) and GITHUB_TOKEN (or SHIPYARD_GITHUB_TOKEN) to "
                            "read the pull request's labels")
    pull: dict[str, Any] | None = None
    if sha is not None:
        pulls = github.pulls_of_commit(sha)
        merged = [p for p in pulls if p.get("merge_commit_sha") == sha] or pulls
        if not merged:
            click.echo(f"commit {sha} did not come from a pull request: no approval", err=True)
            click.echo("false")
            return 0
        pull = merged[0]
        number = int(pull["number"])
    assert number is not None
    members = Members(github_membership())
    team: list[str] = []

    def is_platform(login: str) -> bool:
        # Read only when a label needs judging: without one the verdict needs neither the base nor the API.
        if not team:
            team.extend(platform_team_at(GitRepo(obj.repo.root), base or _base_of(github, number, pull)))
        return members.includes(login, team)

    approved, why = destroy_approval(github.issue_events(number), is_platform)
    click.echo(f"pull request #{number}: {why}", err=True)
    click.echo("true" if approved else "false")
    return 0


def _base_of(github: Any, number: int, pull: dict[str, Any] | None) -> str:
    """The commit the pull request was based on (`base.sha`): a commit of the target branch, never one of the
    pull request's own, whatever the merge method (a rebase merge's first parent can be the PR's own commit)."""
    # notify.GitHub has no call for one pull request; its `_call` keeps the retries and error handling.
    pull = pull if pull is not None else github.pull(number)
    found = ((pull or {}).get("base") or {}).get("sha")
    # Only a commit id goes on to git as a revision.
    if not isinstance(found, str) or not _SHA.fullmatch(found):
        raise ShipyardError(f"GitHub did not say what pull request #{number} is based on; pass --base REF (the "
                            "revision whose policy.yaml decides who the platform team is)")
    return found
