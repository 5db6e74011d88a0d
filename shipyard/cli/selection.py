"""Which stacks a multi-stack command works on: names, --all, or --changed-since REF; optionally one shard of them.

Shards (`--shard I/N`, I 1-based) split one run across N CI jobs. A stack's shard is a hash of its name
alone, so adding or removing a stack never moves any other stack to another shard (a job matrix can be
resized or re-run without stacks hopping between jobs). The price is balance: a hash spreads stacks
evenly only on average, so shards can differ by a few stacks and a small selection can leave a shard
empty. An empty shard is a successful run with an empty report.

A stack NAME given on the command line must have its stack file (`known_stacks`, the one check every
command makes before anything runs): a mistyped name is an error naming the file it expected and the
known stacks, never an empty Pulumi stack. Only `destroy` also takes a stack whose file was deleted
(`stack_to_destroy`): git history tells a decommissioned stack from a typo.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import click

from shipyard.errors import ShipyardError

MAX_SHARDS = 256
_SHARD = re.compile(r"^(\d{1,6})/(\d{1,6})$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1 <= index <= count <= MAX_SHARDS), as in `--shard 2/4`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard {self.index}/{self.count} is out of range: need 1 <= I <= N <= {MAX_SHARDS}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, stack: str) -> bool:
        return shard_of(stack, self.count) == self.index

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "count": self.count}


def shard_of(stack: str, count: int) -> int:
    """The 1-based shard of `stack` among `count`: sha256 of the name (Python's hash() is salted per process,
    so two CI jobs would disagree), so it depends on nothing but the name and the count."""
    digest = hashlib.sha256(stack.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


class ShardParam(click.ParamType):
    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        match = _SHARD.match(str(value).strip())
        try:
            if not match:
                raise ValueError("not of the form I/N")
            return Shard(int(match[1]), int(match[2]))
        except ValueError:
            self.fail(f"expected I/N with integers 1 <= I <= N <= {MAX_SHARDS} (I counts from 1, e.g. 2/4), "
                      f"got {str(value)!r}", param, ctx)


def shard_option(fn):
    return click.option("--shard", type=ShardParam(), default=None,
                        help="Run only shard I of N of the selected stacks (I counts from 1: 1/4 .. 4/4). "
                             "A stack's shard depends only on its name; merge the shards' --json reports "
                             "with `shipyard report merge`.")(fn)


def selection_options(fn):
    fn = click.option("--changed-since", metavar="REF", help="The stacks a change since REF affects "
                                                             "(see `shipyard changed`).")(fn)
    fn = click.option("--all", "all_stacks", is_flag=True, help="Every stack in the repository.")(fn)
    return fn


def select_stacks(obj, stacks: tuple[str, ...], all_stacks: bool, changed_since: str | None,
                  shard: Shard | None = None) -> tuple[list[str], list[str]]:
    """(stacks to work on, decommission candidates), only those of `shard` when given. Exactly one way of
    choosing must be used."""
    names, decommissioned = _select(obj, stacks, all_stacks, changed_since)
    if shard is None:
        return names, decommissioned
    mine = [name for name in names if shard.contains(name)]
    click.echo(f"shard {shard}: {len(mine)} of {len(names)} selected stack(s)", err=True)
    return mine, [name for name in decommissioned if shard.contains(name)]


def _select(obj, stacks: tuple[str, ...], all_stacks: bool, changed_since: str | None
            ) -> tuple[list[str], list[str]]:
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
        # Names made from changed paths get the same check as typed ones: a folder that is no team name
        # (`Ledger`, `x y`) stops here rather than reaching the engine as a stack name.
        return known_stacks(repo, [a.stack for a in result.affected]), [d.stack for d in result.decommissioned]
    return known_stacks(repo, stacks), []


def known_stacks(repo, names: tuple[str, ...] | list[str]) -> list[str]:
    """`names`, each a stack with a stack file; else `StackNotFoundError` (the expected file, the known
    stacks) before anything runs. Every command that takes stack names calls this."""
    for name in names:
        repo.stack(name)
    if len(set(names)) != len(names):
        raise ShipyardError("a stack is named twice")
    return list(names)


def stack_to_destroy(repo, name: str) -> str | None:
    """Check `name` for `destroy`: a stack with a stack file (returns None), or one whose file was deleted
    in the git history of HEAD (returns the commit that deleted it: decommissioning, the file goes first
    and the stack after). A name that never had a file is a typo: `StackNotFoundError`. Git decides, not
    the state backend: asking the backend would need credentials before the name is even known, and a
    stack that exists there with no file in history was never Shipyard's to destroy by name."""
    from shipyard.gitrepo import GitError, GitRepo

    path = repo.stack_file(name)
    if path is not None and path.is_file():
        return None
    deleted_in = None
    if path is not None:
        try:
            deleted_in = GitRepo(repo.root).deleted_in(path.relative_to(repo.root).as_posix())
        except GitError:
            deleted_in = None
    if deleted_in is None:
        hint = (" (destroy also takes a stack whose file was deleted, when a commit on this branch deleted "
                "it; none did)")
        raise repo.unknown_stack(name, hint)
    return deleted_in
