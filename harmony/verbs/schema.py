"""`harmony schema`: the JSON Schema of harmony.yaml, for an editor; or of what `--json` prints,
for a program that reads it."""

from __future__ import annotations

import click

from harmony.verbs.command import JSON_OPTION, Verb, say_done, with_options


@click.command(short_help="Print the JSON Schema of harmony.yaml (or of --json's output).", cls=Verb, examples=(
    "# For an editor",
    "harmony schema > harmony.schema.json",
    "# For a program that reads --json",
    "harmony schema --report",
))
@click.option("--report", "of_report", is_flag=True,
              help="The JSON Schema of the report every command prints with --json, not of harmony.yaml.")
@with_options(JSON_OPTION)
def schema(of_report, as_json):
    """Print the JSON Schema of harmony.yaml (for an editor: yaml-language-server and others)."""
    import json

    from harmony import project, report

    text = (report.SCHEMA if of_report else project.SCHEMA).read_text()
    say_done(as_json, text, schema=json.loads(text))
