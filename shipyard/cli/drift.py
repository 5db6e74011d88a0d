"""`shipyard drift`: live drift and pending changes per stack; alerts the owners with --notify."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shipyard.cli.selection import Shard, select_stacks, shard_option

if TYPE_CHECKING:
    from shipyard.runner import StackReport


@click.command("drift")
@click.argument("stacks", nargs=-1)
@click.option("--all", "all_stacks", is_flag=True, help="Every stack in the repository.")
@shard_option
@click.option("--parallel", type=click.IntRange(1, 32), default=1, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write the findings as JSON here.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False), help="Write a Markdown report here.")
@click.option("--notify", is_flag=True, help="Send the findings to the webhook and keep one GitHub issue per "
                                             "drifted stack (see README, Notifications).")
@click.pass_obj
def command(obj, stacks: tuple[str, ...], all_stacks: bool, shard: Shard | None, parallel: int,
            json_file: str | None, markdown_file: str | None, notify: bool) -> int:
    """Check stacks for drift: live (the running state no longer matches the last deployment) and
    pending (Git says something that was never applied).

    With --shard I/N only the stacks of shard I run, and the JSON records the shard; `shipyard report
    merge` joins the shards' reports into one (and notifies once, for all of them).

    Exit 0 when every stack is clean, 2 when any drifted, 1 when a check failed.
    """
    from shipyard.report import drift_json, drift_markdown, dumps
    from shipyard.runner import run_stacks

    if shard is not None and notify:
        # One shard's summary would count only its own stacks ("0 drifted" while another shard drifts).
        raise click.UsageError("--notify does not go with --shard: merge the shards' reports and notify once "
                               "with `shipyard report merge FILE... --notify`")
    names, _ = select_stacks(obj, stacks, all_stacks, None, shard)
    reports = run_stacks(obj.repo.root, "drift", names, parallel=parallel)
    data = drift_json(reports)
    if shard is not None:
        data["shard"] = shard.as_json()
    if json_file:
        with open(json_file, "w", encoding="utf-8") as handle:
            handle.write(dumps(data))
    if markdown_file:
        with open(markdown_file, "w", encoding="utf-8") as handle:
            handle.write(drift_markdown(reports, json_name=json_file or "drift.json"))
    print_drift(reports)
    if notify:
        from shipyard.notify import notify_drift

        notify_drift(obj.repo, reports, log=lambda line: click.echo(line, err=True))
    return drift_exit_code(reports)


def print_drift(reports: list[StackReport]) -> None:
    """Each stack's status, then one line per finding (source, op, resource, property paths)."""
    for report in reports:
        status = report.extra.get("status", "error")
        click.echo(f"{report.stack}: {status}" + (f"\n{report.error}" if report.error else ""))
        for change in report.changes:
            props = f"  [{', '.join(change.properties)}]" if change.properties else ""
            who = f"  by {change.by}" + (f" at {change.at}" if change.at else "") if change.by else ""
            click.echo(f"  {change.source:<4} {change.op:<9} {change.type}  {change.name}{props}{who}")


def drift_exit_code(reports: list[StackReport]) -> int:
    """1 when any check failed, else 2 when any stack drifted, else 0."""
    if any(r.error for r in reports):
        return 1
    return 2 if any(r.extra.get("status") == "drift" for r in reports) else 0
