"""`shipyard unlock STACK [--force]`: remove the lock a killed update left behind."""

from __future__ import annotations

import click


@click.command("unlock")
@click.argument("stack")
@click.option("--force", is_flag=True, help="Remove the lock even if its holder may still be running (another "
                                            "host, or a live process): only when you know that update is gone.")
@click.pass_obj
def command(obj, stack: str, force: bool) -> int:
    """Remove STACK's lock when the update holding it is gone (killed, its runner vanished).

    A lock whose holder is a process on this host that no longer exists is removed; one held by a live
    process, or from another host (whose processes cannot be checked), only with --force. Removing a lock
    a running update still holds can corrupt the state: check first. Exit 0 when the stack is unlocked
    (or was not locked), 1 when refused.
    """
    from shipyard.cli.selection import stack_to_destroy
    from shipyard.engine import Engine

    # An unknown name is an error, not a no-op; a decommissioned stack (its file deleted by a commit) still
    # has state and may hold a lock a killed destroy left.
    stack_to_destroy(obj.repo, stack)
    removed = Engine(obj.repo.root).unlock(stack, force=force)
    if not removed:
        click.echo(f"{stack}: not locked", err=True)
    for what in removed:
        click.echo(f"{stack}: removed the lock {what}", err=True)
    return 0
