"""`harmony schema`: the JSON Schema of harmony.yaml, for an editor."""

from __future__ import annotations

import click


@click.command(short_help="Print the JSON Schema of harmony.yaml.")
def schema():
    """Print the JSON Schema of harmony.yaml (for an editor: yaml-language-server and others)."""
    from harmony.project import SCHEMA

    click.echo(SCHEMA.read_text(), nl=False)
