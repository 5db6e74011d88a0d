"""`shipyard preview --offline STACK`: the resource tree a stack would register, without engine or credentials."""

from __future__ import annotations

import json

import click

from shipyard.cli.output import print_changes
from shipyard.cost import money
from shipyard.cli.selection import Shard, select_stacks, selection_options, shard_option


@click.command("preview")
@click.argument("stacks", nargs=-1)
@selection_options
@shard_option
@click.option("--offline", is_flag=True, help="Evaluate the program under Pulumi mocks: no engine, cloud or "
                                              "credentials (the path untrusted pull requests get).")
@click.option("--parallel", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Stacks previewed at the same time (each in its own worker process).")
@click.option("--json", "json_out", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Machine-readable JSON, to FILE or (bare --json) to stdout.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False), help="Write the PR comment here.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when any stack would change.")
@click.option("--allow-destroy", is_flag=True, help="The platform team approved destroying production (the pull "
                                                    "request's 'shipyard:allow-destroy' label).")
@click.pass_obj
def command(obj, stacks: tuple[str, ...], all_stacks: bool, changed_since: str | None, shard: Shard | None,
            offline: bool, parallel: int, json_out: str | None, markdown_out: str | None, detailed_exitcode: bool,
            allow_destroy: bool) -> int:
    """Preview what stacks would change, with the real engine (or --offline under mocks).

    Reports every resource to create, update, replace or delete with the property paths that change,
    and a risk level per stack: high (a cluster, node group, network or namespace replaced or deleted),
    medium (an add-on's chart version changes), low (anything else).
    A change that replaces or deletes a prod cluster, node group or namespace, or deletes a prod stack
    file, fails unless --allow-destroy (the platform team's approval) is given.
    Exit 0 ok, 1 when a preview failed or production would be destroyed without approval, 2 with
    --detailed-exitcode when anything would change.
    With --shard I/N only the stacks of shard I are previewed and the JSON records the shard;
    `shipyard report merge` joins the shards' reports into one.
    """
    stacks, json_out = _bare_json_flag(obj, stacks, json_out, all_stacks or changed_since is not None)
    names, decommissioned = select_stacks(obj, stacks, all_stacks, changed_since, shard)
    if offline:
        return _offline(obj, tuple(names), json_out)
    from shipyard.guard import blocked_message, destructions, is_protection_error
    from shipyard.report import dumps, preview_json, preview_markdown
    from shipyard.runner import run_stacks

    reports = run_stacks(obj.repo.root, "preview", names, parallel=parallel)
    found = destructions(reports, decommissioned)
    if found and allow_destroy:
        # Approved: a protected resource stops the engine's preview at that step; that is the expected
        # outcome here, not a failure (the `up` lifts the protection for exactly this change).
        approved = {d.stack for d in found}
        for report in reports:
            if report.stack in approved and is_protection_error(report.error):
                report.extra["approved_destroy"] = report.error
                report.error = None
    data = preview_json(reports)
    data["decommissioned"] = decommissioned
    data["destroys_production"] = [d.as_json() for d in found]
    data["blocked"] = bool(found) and not allow_destroy
    if shard is not None:
        data["shard"] = shard.as_json()
    if json_out:
        _write(json_out, dumps(data))
    if markdown_out:
        _write(markdown_out, preview_markdown(reports, json_name=json_out if json_out not in (None, "-")
                                              else "preview.json", destroys=found, approved=allow_destroy))
    if json_out != "-":
        for report in reports:
            print_changes(report.stack, report.changes, "would change", risk=report.risk, error=report.error,
                          cost=report.extra.get("cost"), repairs=report.extra.get("repairs"), notes=report.extra.get("notes"))
        for name in decommissioned:
            click.echo(f"{name}: stack file deleted — NOT destroyed; that takes `shipyard destroy {name} --yes`")
    if found and not allow_destroy:
        click.echo(f"error: {blocked_message(found)}", err=True)
        return 1
    if found:
        click.echo(f"approved by --allow-destroy: {len(found)} production destruction(s)", err=True)
    if any(r.error for r in reports):
        return 1
    return 2 if detailed_exitcode and (any(r.changes for r in reports) or decommissioned) else 0


def _write(target: str, text: str) -> None:
    if target == "-":
        click.echo(text, nl=False)
    else:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)


def _bare_json_flag(obj, stacks: tuple[str, ...], json_out: str | None, selected: bool
                    ) -> tuple[tuple[str, ...], str | None]:
    """`--json STACK` (flag before the stack name) means JSON on stdout, not a file named like a stack."""
    if json_out not in (None, "-") and "/" not in json_out and not json_out.endswith(".json") and not selected:
        if json_out in {ref.name for ref in obj.repo.stacks()}:
            return (json_out, *stacks), "-"
    return stacks, json_out


def _offline(obj, stacks: tuple[str, ...], json_out: str | None) -> int:
    from shipyard.offline import run_offline

    # Registration order depends on async RPC timing: sort, so two runs print the same thing.
    from shipyard.cost import stack_cost
    from shipyard.policy import describe_lines

    results = {name: sorted(run_offline(obj.repo.root, name), key=lambda r: r.urn) for name in stacks}
    # No state is read offline, so there is no "last applied" estimate to compare with.
    costs = {name: stack_cost(obj.repo.root, name) for name in stacks}
    if json_out:
        _write(json_out, json.dumps({"stacks": [{"stack": name, "resources": [r.as_json() for r in planned],
                                                 "cost": costs[name]}
                                                for name, planned in results.items()]}, indent=2) + "\n")
        if json_out == "-":
            return 0
    for name, planned in results.items():
        _print_tree(name, planned)
        cost = costs[name]
        if cost and cost["priced"]:
            click.echo(f"estimated monthly cost: {money(cost['monthly'], cost['currency'])} of a "
                       f"{money(cost['budget'], cost['currency'])} budget ({describe_lines(cost)})")
        elif cost:
            click.echo("estimated monthly cost: not billed (the cluster is not created by Shipyard)")
    return 0


KEY_INPUTS = ("metadata.name", "metadata.namespace", "chart", "version", "namespace", "name", "region", "version",
              "cidrBlock", "instanceTypes", "scalingConfig", "nodeGroupNamePrefix", "addonName", "addonVersion",
              "principalArn", "kubernetesGroups", "policyArn", "serviceAccount", "spec.hard", "roleRef.name",
              "subjects")


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
    for resource in sorted(planned, key=lambda r: (r.type, r.name)):
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
