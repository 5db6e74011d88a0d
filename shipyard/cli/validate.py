"""`shipyard validate [PATH...]`: every error in every stack file (and the catalog), one per line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from shipyard.errors import Diagnostic


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True,
              help="text: PATH:LINE:COL: message; github: ::error annotations; json: a list of objects.")
@click.option("--author", metavar="HANDLE", help="GitHub login of the change's author: also fail for every file "
              "changed since --changed-since that they may not change (not an owner, not the platform team).")
@click.option("--changed-since", metavar="REF", help="Base of the change (e.g. origin/main); needed by --author. "
              "Also the revision eks stack files' Kubernetes versions are compared with (default HEAD).")
@click.option("--applied-from", type=click.Choice(["git", "state"]), default="git", show_default=True,
              help="Where the Kubernetes version each eks stack last applied is read: its file at --changed-since "
                   "(or HEAD), or the stack's state (the engine and the state's credentials; stacks never applied "
                   "fall back to git).")
@click.pass_obj
def command(obj, paths: tuple[Path, ...], fmt: str, author: str | None, changed_since: str | None,
            applied_from: str) -> int:
    """Validate stack files (default: all of stacks/**/*.yaml), the add-on catalog and the platform policy.

    With --author and --changed-since, also check that the author may make the change: a stack file
    only by its owners or the platform team; anything else only by the platform team. Both are read as
    they were at REF (policy.yaml's platformTeam too): a change cannot grant itself. A REF without a valid
    policy.yaml fails. Team membership is read from the GitHub API (GITHUB_TOKEN with read:org, or
    SHIPYARD_GITHUB_TOKEN).

    An eks stack may move its kubernetesVersion one minor from the version it last applied, never more and
    never back (EKS upgrades one minor at a time): read from the file at --changed-since (default HEAD;
    nothing when the repository is not a git repository), or with --applied-from state from the stack's
    state.

    Exit 0 when everything is valid, 1 otherwise.
    """
    if author is not None and changed_since is None:
        raise click.UsageError("--author needs --changed-since REF (the base the change is judged against)")
    from shipyard.validation import display_path, load_catalog, load_policy, validate_files

    repo = obj.repo
    loaded = load_catalog(repo.root)
    policy = load_policy(repo.root, loaded.catalog)
    diagnostics: list[Diagnostic] = loaded.diagnostics + policy.diagnostics
    if paths:
        files = [p if p.is_absolute() else Path.cwd() / p for p in paths]
        existing = [p for p in files if os.path.lexists(p)]  # a link is judged (and refused), not followed
        diagnostics += [Diagnostic(display_path(p, repo.root), 1, 1, "no such file") for p in files
                        if not os.path.lexists(p)]
    else:
        # Links and special files under stacks/ are validated too: each is an error, its target never read.
        existing = sorted(repo.stack_files() + repo.unsafe_stack_paths())
    applied = _applied_versions(repo, existing, changed_since, applied_from)
    diagnostics += validate_files(existing, repo.root, loaded.catalog, repo.local_kubernetes_minor, policy=policy,
                                  applied=applied)
    checked = len(existing)
    if author is not None and changed_since is not None:
        from shipyard.errors import InvalidInputError
        from shipyard.gitrepo import GitRepo
        from shipyard.ownership import Members, check_author, github_membership, platform_team_at

        # The platform team of the base, not of the working tree: the change must not vouch for itself.
        try:
            team = platform_team_at(GitRepo(repo.root), changed_since)
        except InvalidInputError as exc:
            diagnostics += exc.diagnostics
        else:
            diagnostics += check_author(repo, changed_since, author, team, Members(github_membership()))
    diagnostics.sort()
    if fmt == "json":
        click.echo(json.dumps([d.as_json() for d in diagnostics], indent=2))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.as_github() if fmt == "github" else diagnostic.as_text())
        if fmt == "text":
            bad = len({d.path for d in diagnostics})
            summary = (f"{checked} stack file(s), the catalog and the policy are valid" if not diagnostics
                       else f"{len(diagnostics)} error(s) in {bad} file(s)")
            click.echo(summary, err=True)
    return 1 if diagnostics else 0


def _applied_versions(repo, paths: list[Path], ref: str | None, source: str) -> dict[Path, tuple[str, str]]:
    """Path -> (version last applied, where it was read) for the eks files given."""
    from shipyard.gitrepo import GitError
    from shipyard.upgrades import applied_from_git, applied_from_state, eks_version, engine_outputs

    from shipyard.yamlfile import YamlError, read_file

    def _is_eks(path: Path) -> bool:
        try:  # never through a link, as validate itself
            return eks_version(read_file(path, str(path), repo.root)) is not None
        except YamlError:
            return False

    out: dict[Path, tuple[str, str]] = {}
    try:
        for path, found in applied_from_git(repo.root, paths, ref or "HEAD").items():
            out[path] = found.as_context()
    except GitError:
        if ref is not None:
            raise  # a base that was asked for must exist
    if source == "state":
        names = {path: f"{path.parent.name}-{path.stem}" for path in paths if _is_eks(path)}
        state = applied_from_state(sorted(set(names.values())), engine_outputs(repo.root))
        for path, name in names.items():
            found = state.get(name)
            if found is not None:
                out[path] = found.as_context()
    return out
