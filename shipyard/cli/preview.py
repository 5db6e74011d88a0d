"""`shipyard preview --offline STACK`: the resource tree a stack would register, without engine or credentials."""

from __future__ import annotations

import json

import click


@click.command("preview")
@click.argument("stacks", nargs=-1, required=True)
@click.option("--offline", is_flag=True, help="Evaluate the program under Pulumi mocks: no engine, cloud or "
                                              "credentials (the path untrusted pull requests get).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(obj, stacks: tuple[str, ...], offline: bool, as_json: bool) -> int:
    """Preview what STACK would create."""
    from shipyard.errors import ShipyardError

    if not offline:
        raise ShipyardError("previews with the real engine need the toolchain; use --offline for the "
                            "credential-free preview")
    from shipyard.offline import run_offline

    results = {}
    for name in stacks:
        obj.repo.stack(name)  # a clear error for an unknown stack before anything runs
        results[name] = run_offline(obj.repo.root, name)
    if as_json:
        click.echo(json.dumps({"stacks": [{"stack": name, "resources": [r.as_json() for r in planned]}
                                          for name, planned in results.items()]}, indent=2))
        return 0
    for name, planned in results.items():
        _print_tree(name, planned)
    return 0


KEY_INPUTS = ("metadata.name", "metadata.namespace", "chart", "version", "namespace", "name", "region", "version",
              "cidrBlock", "instanceTypes", "scalingConfig", "spec.hard", "roleRef.name", "subjects")


def _key_inputs(inputs: dict) -> str:
    shown = []
    for path in dict.fromkeys(KEY_INPUTS):
        value = inputs
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, {}, []):
            text = json.dumps(value, sort_keys=True, separators=(",", ":")) if not isinstance(value, str) else value
            shown.append(f"{path}={text}")
    return "  ".join(shown)


def _print_tree(stack: str, planned: list) -> None:
    """Plain-text tree (no terminal-width cropping: the lines are read in CI logs and PR comments)."""
    by_parent: dict[str | None, list] = {}
    urns = {r.urn for r in planned}
    for resource in planned:
        by_parent.setdefault(resource.parent if resource.parent in urns else None, []).append(resource)
    click.echo(f"{stack}  ({len(planned)} resources, offline preview: no engine, no credentials)")

    def add(parent: str | None, prefix: str) -> None:
        children = by_parent.get(parent, [])
        for index, resource in enumerate(children):
            last = index == len(children) - 1
            detail = _key_inputs(resource.inputs)
            click.echo(f"{prefix}{'└── ' if last else '├── '}{resource.type}  {resource.name}"
                       + (f"  {detail}" if detail else ""))
            add(resource.urn, prefix + ("    " if last else "│   "))

    add(None, "")
