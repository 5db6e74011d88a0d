"""`shipyard tools install|status`: the pinned toolchain (Pulumi CLI, Kubernetes provider, control plane)."""

from __future__ import annotations

import json

import click


@click.group("tools")
def command() -> None:
    """Build, reuse and inspect the pinned tools (cache: $SHIPYARD_TOOLS, default ~/.cache/shipyard/tools)."""


@command.command("install")
@click.argument("names", nargs=-1)
@click.pass_obj
def install(obj, names: tuple[str, ...]) -> int:
    """Build every pinned tool from the Go module proxy, or reuse it from the cache."""
    from shipyard.tools import Toolchain, print_log

    chain = Toolchain(obj.repo.root)
    for name in names:
        chain.tool(name)  # unknown names fail before anything builds
    states = chain.install(list(names) or None, log=print_log)
    bad = [s for s in states if not s.ok]
    for state in bad:
        click.echo(f"error: {state.tool.name} {state.tool.version}: {state.detail}", err=True)
    return 1 if bad else 0


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def status(obj, as_json: bool) -> int:
    """List each tool with its pinned version and path. Exit 0 only when all are present at their pins."""
    from shipyard.tools import Toolchain

    states = Toolchain(obj.repo.root).states()
    if as_json:
        click.echo(json.dumps([s.as_json() for s in states], indent=2))
    else:
        width = max(len(s.tool.name) for s in states)
        for s in states:
            mark = "ok     " if s.ok else "MISSING"
            click.echo(f"{mark} {s.tool.name.ljust(width)}  {s.tool.version:<10} {s.path or s.detail}")
    return 0 if all(s.ok for s in states) else 1
