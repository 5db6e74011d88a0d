"""`shipyard tools install|status|mirror`: the pinned toolchain (Pulumi CLI, provider plugins, control plane)."""

from __future__ import annotations

import json
from pathlib import Path

import click

PROFILE_HELP = ("engine: what preview/up/drift need (Pulumi CLI, provider plugins, kubectl); local: everything to "
                "run local stacks (engine without the AWS provider, plus the local control plane); all: every "
                "pinned tool, linters included.")


@click.group("tools")
def command() -> None:
    """Install, inspect and mirror the pinned tools (cache: $SHIPYARD_TOOLS, default ~/.cache/shipyard/tools).

    Each tool comes from its official release (verified against the release's checksums), or from
    $SHIPYARD_TOOLS_MIRROR (verified against the mirror's SHA256SUMS), or is built from the Go module proxy.
    """


@command.command("install")
@click.argument("names", nargs=-1)
@click.option("--for", "profile", type=click.Choice(["engine", "local", "all"]),
              help=f"Install a profile's tools, with any NAMES (default, without NAMES: all). {PROFILE_HELP}")
@click.option("--no-build", is_flag=True,
              help="Download only: fail instead of building a tool from the Go module proxy.")
@click.pass_obj
def install(obj, names: tuple[str, ...], profile: str | None, no_build: bool) -> int:
    """Reuse, download or build the named tools and a profile's (neither: all). Exit 1 naming every tool that
    failed, the file and URL it tried and why."""
    from shipyard.tools import Toolchain, print_log

    Toolchain(obj.repo.root).install(list(names) or None, profile=profile, no_build=no_build, log=print_log)
    return 0


@command.command("status")
@click.option("--for", "profile", type=click.Choice(["engine", "local", "all"]), default="all", show_default=True,
              help=f"The profile whose completeness sets the exit code. {PROFILE_HELP}")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the profile's tools and what each profile misses.")
@click.pass_obj
def status(obj, profile: str, as_json: bool) -> int:
    """List each tool of a profile with its version, source and path, and what every profile misses.
    Exit 0 only when the profile is complete."""
    from shipyard.tools import PROFILES, Toolchain

    chain = Toolchain(obj.repo.root)
    states = {s.tool.name: s for s in (chain.state(tool) for tool in chain.tools())}
    missing = {p: [t.name for t in chain.profile(p) if not states[t.name].ok] for p in PROFILES}
    shown = [states[t.name] for t in chain.profile(profile)]
    if as_json:
        click.echo(json.dumps({"profile": profile, "complete": not missing[profile],
                               "tools": [s.as_json() for s in shown], "missing": missing}, indent=2))
    else:
        width = max(len(s.tool.name) for s in shown)
        for s in shown:
            mark = "ok     " if s.ok else "MISSING"
            where = f"{s.source:<10} {s.path}" if s.ok else s.detail
            click.echo(f"{mark} {s.tool.name.ljust(width)}  {s.tool.version:<10} {where}")
        for name in PROFILES:
            if missing[name]:
                click.echo(f"{name}: missing {', '.join(missing[name])} "
                           f"(`shipyard tools install --for {name}`)", err=True)
            else:
                click.echo(f"{name}: complete", err=True)
    return 0 if not missing[profile] else 1


@command.command("mirror")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--for", "profile", type=click.Choice(["engine", "local", "all"]),
              help="Mirror this profile, and exit 1 unless all of its tools are installed (default: every installed "
                   "tool, exit 0).")
@click.pass_obj
def mirror(obj, directory: Path, profile: str | None) -> int:
    """Write every installed tool into DIRECTORY as its official release files (official names and
    layouts, re-packed deterministically) plus SHA256SUMS: serve it and set SHIPYARD_TOOLS_MIRROR to its URL.
    One directory per platform: some official names (kubectl, kwok's stage-fast.yaml) carry none."""
    from shipyard.tools import MIRROR_ENV, MIRROR_SUMS, Toolchain, print_log

    result = Toolchain(obj.repo.root).mirror(directory, profile, log=print_log)
    click.echo(f"wrote {len(result.files)} files and {MIRROR_SUMS} to {directory}; serve it over HTTP(S) and set "
               f"{MIRROR_ENV} to its URL (or file://{directory.resolve()})", err=True)
    if result.missing:
        names = ", ".join(f"{s.tool.name} {s.tool.version} ({s.detail})" for s in result.missing)
        click.echo(f"not mirrored: {names}", err=True)
    return 1 if profile and result.missing else 0
