"""Which stacks a multi-stack command works on: names, --all, or --changed-since REF."""

from __future__ import annotations

import click

from shipyard.errors import ShipyardError


def selection_options(fn):
    fn = click.option("--changed-since", metavar="REF", help="The stacks a change since REF affects "
                                                             "(see `shipyard changed`).")(fn)
    fn = click.option("--all", "all_stacks", is_flag=True, help="Every stack in the repository.")(fn)
    return fn


def select_stacks(obj, stacks: tuple[str, ...], all_stacks: bool, changed_since: str | None
                  ) -> tuple[list[str], list[str]]:
    """(stacks to work on, decommission candidates). Exactly one way of choosing must be used."""
    ways = sum([bool(stacks), all_stacks, changed_since is not None])
    if ways != 1:
        raise click.UsageError("name the stacks, or use --all, or --changed-since REF (exactly one of them)")
    repo = obj.repo
    if all_stacks:
        return [ref.name for ref in repo.stacks()], []
    if changed_since is not None:
        from shipyard.changes import changed_stacks
        from shipyard.gitrepo import GitRepo

        result = changed_stacks(GitRepo(repo.root), changed_since, "HEAD")
        return [a.stack for a in result.affected], [d.stack for d in result.decommissioned]
    for name in stacks:
        repo.stack(name)  # unknown names fail before anything runs
    if len(set(stacks)) != len(stacks):
        raise ShipyardError("a stack is named twice")
    return list(stacks), []
