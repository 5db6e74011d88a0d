"""`shipyard drift`: live drift and pending changes per stack; alerts the owners with --notify."""

from __future__ import annotations

import click

from shipyard.cli.selection import select_stacks


@click.command("drift")
@click.argument("stacks", nargs=-1)
@click.option("--all", "all_stacks", is_flag=True, help="Every stack in the repository.")
@click.option("--parallel", type=click.IntRange(1, 32), default=1, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write the findings as JSON here.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False), help="Write a Markdown report here.")
@click.option("--notify", is_flag=True, help="Send the findings to the webhook and keep one GitHub issue per "
                                             "drifted stack (see README, Notifications).")
@click.pass_obj
def command(obj, stacks: tuple[str, ...], all_stacks: bool, parallel: int, json_file: str | None,
            markdown_file: str | None, notify: bool) -> int:
    """Check stacks for drift: live (the running state no longer matches the last deployment) and
    pending (Git says something that was never applied).

    Exit 0 when every stack is clean, 2 when any drifted, 1 when a check failed.
    """
    from shipyard.report import drift_markdown, dumps
    from shipyard.runner import run_stacks

    names, _ = select_stacks(obj, stacks, all_stacks, None)
    reports = run_stacks(obj.repo.root, "drift", names, parallel=parallel)
    data = {"stacks": [{"stack": r.stack, "status": r.extra.get("status", "error"), "error": r.error,
                        "changes": [c.as_json() for c in r.changes]} for r in reports]}
    if json_file:
        with open(json_file, "w", encoding="utf-8") as handle:
            handle.write(dumps(data))
    if markdown_file:
        with open(markdown_file, "w", encoding="utf-8") as handle:
            handle.write(drift_markdown(reports, json_name=json_file or "drift.json"))
    for report in reports:
        status = report.extra.get("status", "error")
        click.echo(f"{report.stack}: {status}" + (f"\n{report.error}" if report.error else ""))
        for change in report.changes:
            props = f"  [{', '.join(change.properties)}]" if change.properties else ""
            click.echo(f"  {change.source:<4} {change.op:<8} {change.type}  {change.name}{props}")
    if notify:
        from shipyard.notify import notify_drift

        notify_drift(obj.repo, reports, log=lambda line: click.echo(line, err=True))
    if any(r.error for r in reports):
        return 1
    return 2 if any(r.extra.get("status") == "drift" for r in reports) else 0
