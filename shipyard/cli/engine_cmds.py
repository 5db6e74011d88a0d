"""`shipyard up|destroy STACK` with the real Pulumi engine (preview lives in `preview.py`)."""

from __future__ import annotations

import click

from shipyard.cli.output import print_changes
from shipyard.cli.selection import select_stacks, selection_options, stack_to_destroy
from shipyard.errors import ShipyardError


@click.command("up")
@click.argument("stacks", nargs=-1)
@selection_options
@click.option("--parallel", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Stacks applied at the same time (each in its own worker process).")
@click.option("--wait", is_flag=True, help="When someone else is updating a stack, retry with backoff "
                                           "(up to 15 minutes) instead of failing.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write what changed as JSON here.")
@click.option("--allow-destroy", is_flag=True, help="The platform team approved destroying production: replace or "
                                                    "delete protected prod clusters, node groups and namespaces.")
@click.pass_obj
def up(obj, stacks: tuple[str, ...], all_stacks: bool, changed_since: str | None, parallel: int, wait: bool,
       json_file: str | None, allow_destroy: bool) -> int:
    """Apply stacks with the real engine; creates each Pulumi stack on first use.

    Every selected stack file is validated first: if any is invalid, nothing is applied. Production
    stacks are previewed first: if the change would replace or delete a prod cluster, node group or
    namespace, nothing is applied unless --allow-destroy is given. A stack
    whose file was deleted is never destroyed here (that takes `shipyard destroy STACK --yes`).
    Exit 0 on success, 1 when anything failed.
    """
    from shipyard.errors import InvalidInputError
    from shipyard.report import dumps, preview_json
    from shipyard.runner import run_stacks
    from shipyard.validation import load_catalog, load_policy, parse_stack_file

    names, decommissioned = select_stacks(obj, stacks, all_stacks, changed_since)
    repo = obj.repo
    loaded = load_catalog(repo.root)
    policy = load_policy(repo.root, loaded.catalog)
    problems = loaded.diagnostics + policy.diagnostics
    for name in names:
        problems += parse_stack_file(repo.stack(name).path, repo.root, loaded.catalog,
                                     repo.local_kubernetes_minor, policy)[1]
    if problems:
        raise InvalidInputError(problems)  # refuse them all: a half-applied merge is worse than none
    for name in decommissioned:
        click.echo(f"{name}: stack file deleted — NOT destroyed (decommissioning takes "
                   f"`shipyard destroy {name} --yes`)", err=True)
    if not names:
        click.echo("no stacks to apply", err=True)
        return 0
    from shipyard.guard import blocked_message, destructions, is_prod

    prod = [name for name in names if is_prod(name)]
    if prod and not allow_destroy:
        # Look before applying anything: an apply is not something to stop half-way.
        click.echo(f"==> checking {len(prod)} production stack(s) for destruction before applying", err=True)
        found = destructions(run_stacks(repo.root, "preview", prod, parallel=parallel, wait=wait), [])
        if found:
            raise ShipyardError(blocked_message(found))
    reports = run_stacks(repo.root, "up", names, parallel=parallel, wait=wait,
                         options={"allow_destroy": True} if allow_destroy else None)
    for report in reports:
        print_changes(report.stack, report.changes, "changed", error=report.error, cost=report.extra.get("cost"),
                      repairs=report.extra.get("repairs"), repaired=True, notes=report.extra.get("notes"))
    if json_file:
        data = preview_json(reports)
        data["decommissioned"] = decommissioned
        with open(json_file, "w", encoding="utf-8") as handle:
            handle.write(dumps(data))
    return 1 if any(r.error for r in reports) else 0


@click.command("destroy")
@click.argument("stack")
@click.option("--yes", is_flag=True, help="Confirm: delete every resource of the stack.")
@click.option("--confirm", "confirm_name", metavar="STACK", help="Prod stacks: the stack name again (what you would "
                                                                 "type at the prompt; for non-interactive use).")
@click.pass_obj
def destroy(obj, stack: str, yes: bool, confirm_name: str | None) -> int:
    """Tear STACK down (every resource it manages). Needs --yes; a prod stack also needs its name typed.

    STACK has its stack file, or had one: a stack whose file a commit on this branch deleted
    (decommissioning) can be destroyed; any other name is refused before the engine runs.
    """
    import sys

    from shipyard.engine import Engine

    deleted_in = stack_to_destroy(obj.repo, stack)  # before anything: a typo never reaches the engine
    if not yes:
        raise ShipyardError(f"destroying '{stack}' deletes everything it manages; re-run with --yes to confirm")
    if stack.endswith("-prod"):
        if confirm_name is None and sys.stdin.isatty():
            confirm_name = click.prompt(f"'{stack}' is a production stack. Type its name to destroy it",
                                        default="", show_default=False)
        if confirm_name != stack:
            raise ShipyardError(f"'{stack}' is a production stack: type its name at the prompt, or pass "
                                f"--confirm {stack}; nothing was destroyed")
    if deleted_in is not None:
        click.echo(f"{stack}: its stack file was deleted in {deleted_in[:12]}; destroying what the stack still "
                   "manages", err=True)
    click.echo(f"==> destroy {stack}", err=True)
    outcome = Engine(obj.repo.root).destroy(stack)
    print_changes(stack, outcome.changes, "deleted")
    return 0
