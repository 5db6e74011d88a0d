"""`shipyard schema`: the JSON Schema of a stack file (committed at schema/stack.schema.json)."""

from __future__ import annotations

import json

import click

SCHEMA_PATH = "schema/stack.schema.json"


def render_schema() -> str:
    from shipyard.models import stack_json_schema

    return json.dumps(stack_json_schema(), indent=2) + "\n"


@click.command("schema")
def command() -> int:
    """Print the JSON Schema of a stack file."""
    click.echo(render_schema(), nl=False)
    return 0
