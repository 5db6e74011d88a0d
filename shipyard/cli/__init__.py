"""The `shipyard` command line. `main(argv) -> int`; errors become messages and exit codes only here.

Exit codes (every command):
  0  success / everything valid / no changes
  1  invalid input, failed operation, or a usage error
  2  changes or drift found (commands with --detailed-exitcode / drift)
  3  `upgrade plan`: nothing written, a wave waits for an earlier one to be applied
  130, 143  stopped by SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job), after the engine stopped cleanly
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from shipyard.errors import InvalidInputError, ShipyardError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Context:
    """What every command gets: the repository it works on (found lazily, so `--help` works anywhere)."""

    def __init__(self, repo_path: Path | None):
        self._repo_path = repo_path
        self._repo = None

    @property
    def repo(self):
        from shipyard.repo import Repo

        if self._repo is None:
            self._repo = Repo.find(self._repo_path)  # None: the current directory
        return self._repo


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--repo", "repo_path", type=click.Path(file_okay=False, path_type=Path),
              help="Platform repository to work on (default: the one containing the current directory).")
@click.version_option(package_name="shipyard", prog_name="shipyard")
@click.pass_context
def cli(ctx: click.Context, repo_path: Path | None) -> None:
    """Shipyard: GitOps self-service Kubernetes clusters.

    Teams own stacks/<team>/<env>.yaml; Shipyard validates, previews, applies and drift-checks them.
    Exit codes: 0 ok, 1 invalid input or failure, 2 changes/drift found.
    """
    ctx.obj = Context(repo_path)


def _register() -> None:
    from shipyard.cli import (approval, changed, charts, codeowners, config, drift, engine_cmds, local, new_team,
                              preview, report, schema, stacks, tools, unlock, upgrade, validate)

    for module in (validate, schema, stacks, preview, tools, charts, local, changed, drift, new_team, codeowners,
                   approval, report, config, unlock, upgrade):
        cli.add_command(module.command)
    cli.add_command(engine_cmds.up)
    cli.add_command(engine_cmds.destroy)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    from shipyard import interrupts

    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the real command line, not a call from a test or another program
        interrupts.install()
    try:
        return _run(args)
    finally:
        if argv is None:
            interrupts.settle()


def _run(args: list[str]) -> int:
    from shipyard import interrupts

    try:
        result = cli.main(args=args, prog_name="shipyard", standalone_mode=False)
        return int(result or 0)
    except InvalidInputError as exc:
        for diagnostic in exc.diagnostics:
            click.echo(diagnostic.as_text(), err=True)
        return exc.exit_code
    except ShipyardError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors are invalid input: exit 1, never 2 (2 means "changes")
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except interrupts.Interrupted as exc:
        click.echo(f"interrupted ({exc.name}): stopped; an engine operation that was running finished its "
                   "in-flight steps and released the stack lock", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
