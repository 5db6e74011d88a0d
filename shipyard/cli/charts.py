"""`shipyard charts pull`: fill a chart mirror with the catalog's archives, digest-checked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


@click.group("charts")
def command() -> None:
    """The add-ons' chart archives (addons/catalog.yaml pins each one's version and sha256 digest).

    A chart mirror is a directory of archives named as `helm pull` names them (<chart>-<version>.tgz);
    stacks install from it when SHIPYARD_CHART_MIRROR (or the stack config shipyard:chartMirror) names it,
    else from the charts' repositories.
    """


@command.command("pull")
@click.argument("addons", nargs=-1)
@click.option("--to", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="The mirror directory to fill (default: $SHIPYARD_CHART_MIRROR).")
@click.option("--json", "as_json", is_flag=True,
              help='Print JSON on stdout: {"mirror", "charts": [{"addon", "chart", "version", "digest", "file", '
                   '"status": "pulled"|"present"|"replaced", "url"}], "errors": [{"addon", "chart", "version", '
                   '"message"}], "ok"}.')
@click.pass_obj
def pull(obj, addons: tuple[str, ...], directory: Path | None, as_json: bool) -> int:
    """Download the chart archives of ADDONS (default: every add-on of the catalog) from their repositories
    (Helm repository protocol: index.yaml, then the archive) into a mirror, each checked against the
    catalog's digest and written atomically. Archives already there with the right digest are kept.

    Progress goes to stderr. Exit 0 when every archive is in the mirror with its digest; 1 when any failed
    (unreachable repository, version not in the index, digest mismatch: each named), or on invalid input or
    usage (no mirror, unknown add-on, invalid catalog).
    """
    from shipyard.charts import MIRROR_ENV, HelmRepositories, chart_pins, mirror_directory, pull_charts
    from shipyard.errors import InvalidInputError
    from shipyard.validation import load_catalog

    root = obj.repo.root
    loaded = load_catalog(root)
    if loaded.catalog is None:
        raise InvalidInputError(loaded.diagnostics)
    catalog = loaded.catalog
    unknown = [name for name in addons if name not in catalog.addons]
    if unknown:
        raise click.UsageError(f"unknown add-on '{unknown[0]}'; the catalog has: {', '.join(sorted(catalog.addons))}")
    target = directory or mirror_directory(None, os.environ, root)
    if target is None:
        raise click.UsageError(f"no chart mirror to fill: pass --to DIR, or set {MIRROR_ENV}")
    target = target.absolute()

    def progress(line: str) -> None:
        click.echo(line, err=True)

    with HelmRepositories(log=progress) as repositories:
        result = pull_charts(chart_pins(catalog, addons or None), target, repositories, log=progress)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        for chart in result.charts:
            click.echo(f"{chart.status:<8} {chart.pin.addon:<24} {chart.pin.file}  {chart.pin.digest}")
    for _, message in result.errors:
        click.echo(f"error: {message}", err=True)
    if not result.errors:
        click.echo(f"{len(result.charts)} chart archive(s) in {target}; install from it with "
                   f"{MIRROR_ENV}={target}", err=True)
    return 0 if not result.errors else 1
