"""`shipyard schema`: the JSON Schema of a stack file (committed at schema/stack.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import click

SCHEMA_PATH = "schema/stack.schema.json"


def render_schema(root: Path) -> str:
    """The schema for the repository at `root`: its models, catalog, policy and local control plane."""
    from shipyard.errors import InvalidInputError
    from shipyard.repo import Repo
    from shipyard.schema import stack_json_schema
    from shipyard.validation import load_catalog, load_policy

    catalog = load_catalog(root)
    policy = load_policy(root, catalog.catalog)
    if catalog.catalog is None or policy.policy is None:
        raise InvalidInputError(catalog.diagnostics + policy.diagnostics)
    schema = stack_json_schema(catalog.catalog, policy.policy, Repo(root).local_kubernetes_minor)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@click.command("schema")
@click.pass_obj
def command(obj) -> int:
    """Print the JSON Schema of a stack file (from the models, addons/catalog.yaml and policy.yaml)."""
    click.echo(render_schema(obj.repo.root), nl=False)
    return 0
