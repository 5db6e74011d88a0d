"""`shipyard preview --offline STACK`: the resource tree a stack would register, without engine or credentials."""

from __future__ import annotations

import json

import click


@click.command("preview")
@click.argument("stacks", nargs=-1)
@click.option("--offline", is_flag=True, help="Evaluate the program under Pulumi mocks: no engine, cloud or "
                                              "credentials (the path untrusted pull requests get).")
@click.option("--json", "json_out", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Machine-readable JSON, to FILE or (bare --json) to stdout.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when any stack would change.")
@click.pass_obj
def command(obj, stacks: tuple[str, ...], offline: bool, json_out: str | None, detailed_exitcode: bool) -> int:
    """Preview what STACK(s) would change: with the real engine, or --offline under mocks."""
    stacks, json_out = _bare_json_flag(obj, stacks, json_out)
    for name in stacks:
        obj.repo.stack(name)  # a clear error for an unknown stack before anything runs
    if offline:
        return _offline(obj, stacks, json_out)
    from shipyard.cli.engine_cmds import print_outcome
    from shipyard.engine import Engine

    engine = Engine(obj.repo.root)
    outcomes = []
    for name in stacks:
        click.echo(f"==> preview {name}", err=True)
        outcome = engine.preview(name)
        outcomes.append(outcome)
        if json_out != "-":  # stdout carries only the JSON then
            print_outcome(outcome)
    if json_out:
        _write_json(json_out, {"stacks": [{"stack": o.stack, "summary": o.summary,
                                           "changes": [c.as_json() for c in o.changes]} for o in outcomes]})
    return 2 if detailed_exitcode and any(o.changed for o in outcomes) else 0


def _bare_json_flag(obj, stacks: tuple[str, ...], json_out: str | None) -> tuple[tuple[str, ...], str | None]:
    """`--json STACK` (flag before the stack name) means JSON on stdout, not a file named like a stack."""
    if json_out not in (None, "-") and "/" not in json_out and not json_out.endswith(".json"):
        if json_out in {ref.name for ref in obj.repo.stacks()}:
            return (json_out, *stacks), "-"
    if not stacks:
        raise click.UsageError("missing argument STACK")
    return stacks, json_out


def _write_json(target: str, data: object) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if target == "-":
        click.echo(text, nl=False)
    else:
        with open(target, "w") as handle:
            handle.write(text)


def _offline(obj, stacks: tuple[str, ...], json_out: str | None) -> int:
    from shipyard.offline import run_offline

    results = {name: run_offline(obj.repo.root, name) for name in stacks}
    if json_out:
        _write_json(json_out, {"stacks": [{"stack": name, "resources": [r.as_json() for r in planned]}
                                          for name, planned in results.items()]})
        if json_out == "-":
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
