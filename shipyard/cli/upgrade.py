"""`shipyard upgrade plan --to 1.NN`: the eks fleet's Kubernetes upgrade, wave by wave (dev, staging, prod)."""

from __future__ import annotations

import json
import os

import click

from shipyard.errors import InvalidInputError, relpath
from shipyard.models import SUPPORTED_KUBERNETES_VERSIONS

EXIT_WAITING = 3


@click.group("upgrade")
def command() -> None:
    """Kubernetes upgrades of the eks stacks."""


@command.command("plan")
@click.option("--to", "target", required=True, type=click.Choice(SUPPORTED_KUBERNETES_VERSIONS),
              help="The Kubernetes minor the fleet moves to.")
@click.option("--wave", type=click.Choice(["dev", "staging", "prod"]),
              help="The wave to edit (default: the first one not done); refused while an earlier one is not applied.")
@click.option("--applied-from", type=click.Choice(["auto", "state", "git"]), default="auto", show_default=True,
              help="Where each stack's applied version is read: its state (the `kubernetesVersion` output of its "
                   "last up), or git (its file at --base: merged to main = applied by deploy.yml); auto: the state "
                   "when PULUMI_BACKEND_URL is set, else git.")
@click.option("--base", default="HEAD", show_default=True, metavar="REF",
              help="With git: the revision whose files count as applied (the main branch, as deployed).")
@click.option("--dry-run", is_flag=True, help="Plan only: write no file.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan(obj, target: str, wave: str | None, applied_from: str, base: str, dry_run: bool, as_json: bool) -> int:
    """List every eks stack behind --to, in waves by environment (dev, then staging, then prod), and write the
    stack-file edits of the first wave that is not done: one pull request. Each stack moves one minor per
    wave edit (EKS upgrades one minor at a time); a stack two minors behind gets a second round.

    Exit 0: edits written (or planned, with --dry-run), or every eks stack is at the target. 1: invalid
    input (stack files, catalog or policy), or policy.yaml does not allow the target in the wave's
    environment. 3: nothing written because a wave waits for an earlier one to be applied (merge and
    apply that first).
    """
    from shipyard.upgrades import (FleetPlan, applied_from_git, applied_from_state, choose_wave, eks_version,
                                   engine_outputs, plan_waves)
    from shipyard.validation import load_catalog, load_policy, validate_files

    repo = obj.repo
    loaded = load_catalog(repo.root)
    policy = load_policy(repo.root, loaded.catalog)
    refs = repo.stacks()
    paths = [ref.path for ref in refs]
    problems = loaded.diagnostics + policy.diagnostics + validate_files(
        paths, repo.root, loaded.catalog, repo.local_kubernetes_minor, policy=policy)
    if problems or policy.policy is None:
        raise InvalidInputError(problems)
    versions = {ref.name: eks_version(ref.path.read_text(encoding="utf-8")) for ref in refs}
    eks = [ref for ref in refs if versions[ref.name] is not None]
    source = applied_from if applied_from != "auto" else ("state" if os.environ.get("PULUMI_BACKEND_URL") else "git")
    if source == "state":
        state = applied_from_state([ref.name for ref in eks], engine_outputs(repo.root))
        applied = {ref.name: state[ref.name].version if state[ref.name] else None for ref in eks}
        where = "state"
    else:
        found = applied_from_git(repo.root, [ref.path for ref in eks], base, changed_only=False)
        applied = {ref.name: found[ref.path].version if ref.path in found else None for ref in eks}
        where = f"git ({base})"
    allowed = {env: list(rules.kubernetes_versions) for env, rules in policy.policy.environments.items()}
    waves = plan_waves(target, [(ref.name, ref.environment, relpath(ref.path, repo.root), versions[ref.name],
                                 applied[ref.name]) for ref in eks], allowed)
    result = FleetPlan(target, where, waves)
    chosen, refused = choose_wave(waves, wave)
    code = 0
    if refused is not None:
        result.refused, code = refused, EXIT_WAITING
    elif chosen is not None:
        result.wave = chosen.environment
        if chosen.status == "blocked":
            result.refused, code = (f"policy.yaml does not allow Kubernetes {target} in {chosen.environment} "
                                    f"(environments.{chosen.environment}.kubernetesVersions); the platform team "
                                    "allows it there first"), 1
        elif chosen.status == "pending":
            later = next((w.environment for w in waves if waves.index(w) > waves.index(chosen)), None)
            _, refused = choose_wave(waves, later) if later else (None, None)
            result.refused = refused or (f"wave '{chosen.environment}' is edited but not applied yet; merge and "
                                         "apply it, then run this again")
            code = EXIT_WAITING
        elif chosen.status == "todo":
            if dry_run:
                result.written = [s.path for s in chosen.stacks if s.status == "behind"]
            else:
                result.written = _write_checked(repo, chosen)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        _print(result, dry_run)
    if result.refused and not as_json:
        click.echo(f"error: {result.refused}", err=True)
    return code


def _write_checked(repo, wave) -> list[str]:
    """Write the wave's edits; every edited file must still validate, else every file is put back."""
    from shipyard.upgrades import write_edits
    from shipyard.validation import check_stack

    originals = {s.path: (repo.root / s.path).read_bytes() for s in wave.stacks if s.status == "behind"}
    written = write_edits(repo.root, wave)
    problems = []
    for path in written:
        problems += check_stack(repo.root, repo.root / path, repo.local_kubernetes_minor).diagnostics
    if problems:
        for path, data in originals.items():
            (repo.root / path).write_bytes(data)
        raise InvalidInputError(problems)
    return written


def _print(result, dry_run: bool) -> None:
    click.echo(f"upgrade to Kubernetes {result.target} (applied versions from {result.source})")
    if not result.waves:
        click.echo("no eks stacks")
    for wave in result.waves:
        marker = "  <- this run" if wave.environment == result.wave else ""
        click.echo(f"wave {wave.environment}: {wave.status}{marker}")
        for step in wave.stacks:
            applied = step.applied or "-"
            detail = {"behind": f"-> {step.next}" + (f" (then {', '.join(step.remaining)})" if step.remaining else ""),
                      "pending": "edited, not applied yet", "done": "done", "ahead": "newer than the target"}
            click.echo(f"  {step.stack:<32} file {step.version:<5} applied {applied:<5} {detail[step.status]}")
    if result.written:
        verb = "would edit" if dry_run else "edited"
        click.echo(f"{verb} {len(result.written)} stack file(s) of wave {result.wave}; commit them as one pull "
                   "request, merge it and let it apply, then run this again:")
        for path in result.written:
            click.echo(f"  {path}")
    elif result.wave is None and not result.refused:
        click.echo(f"every eks stack is at {result.target} and applied")
    elif result.wave is not None and not result.refused and not result.written:
        click.echo(f"wave {result.wave} is at {result.target} and applied")

