"""How a value the user gave appears in a message: whole when short, cut when long, and never
when it came from the environment.

A `${VAR}` in harmony.yaml is how a secret (a join token, a password in a URL) enters the
project, so a value read from the environment may be one: a message names the key it is in
instead (`cluster.name (from ${NAME})`), wherever the value went on to (a target's
description, a path, inventory data checked by another module). A long value (a file's
content given by mistake, or a 100,000-character one made to flood a terminal or a log) is cut
to its first LONG characters and its length. `value` shows a value so; `message` is applied to
every error message harmony prints, so both hold also where a message was made without it.
"""

from __future__ import annotations

import re

LONG = 60
LONG_WORD = 200  # characters without a space: longer than any path a message names
_FROM_ENVIRONMENT: dict[str, str] = {}  # a value read from the environment -> how messages name it


def from_environment(value: str, variable: str, key: str) -> None:
    """Remember that `value`, of the environment variable `variable`, is in the project's `key`."""
    if value:
        _FROM_ENVIRONMENT[value] = f"{key} (from ${{{variable}}})"


def message(text: str) -> str:
    """A finished message as harmony prints it: each value read from the environment replaced
    by its key (the longest first, so a value inside another is not left half shown; as a whole
    word only, so a short value does not eat into the message's own words; its quotes go with
    it), and each long value cut: one quoted without a space over LONG characters (unless cut
    already), any run without a space over LONG_WORD."""
    for found, label in _found(text):
        text = re.sub(rf"'{re.escape(found)}'|{_word(found)}", lambda _, label=label: label, text)
    text = re.sub(rf"'([^'\s]{{{LONG + 1},}})'(?! \([0-9,]+ characters\))", lambda match: _cut(match[1]), text)
    return re.sub(rf"\S{{{LONG_WORD + 1},}}", lambda match: _cut(match[0]), text)


def value(given: object) -> str:
    """`given` as a message shows it: quoted, its control characters escaped (a newline as \\n),
    and cut when long; where it holds a value read from the environment, only the key that
    value is in."""
    text = str(given)
    labels = list(dict.fromkeys(label for _, label in _found(text)))
    if labels:
        return " and ".join(labels)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)  # a message stays one line
    return f"'{text}'" if len(text) <= LONG else _cut(text)


def _cut(text: str) -> str:
    return f"'{text[:LONG]}...' ({len(text):,} characters)"


def _found(text: str) -> list[tuple[str, str]]:
    """(value, its key) for each value read from the environment that `text` holds, longest first."""
    return [(found, _FROM_ENVIRONMENT[found]) for found in sorted(_FROM_ENVIRONMENT, key=len, reverse=True)
            if re.search(_word(found), text)]


def _word(found: str) -> str:
    return rf"(?<![A-Za-z0-9]){re.escape(found)}(?![A-Za-z0-9])"
