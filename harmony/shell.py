"""How harmony puts a value into a command for a host's shell.

A value (a URL, a path, a mode, a name from the data or from a host's answer) never becomes
shell text by formatting: a command is a list of words, each quoted (`command`, `chain`), and a
script is fixed text that reads its values from shell variables set, quoted, at its top
(`assign`). So no value, however it is written, is ever more than one word to the shell. (The
facts' scripts and the k3d lifecycle quote their few values with `shlex.quote` in place: the same
rule, written out.)
"""

from __future__ import annotations

import shlex


def command(*words: object) -> str:
    """One command, each of `words` quoted as one shell word."""
    return shlex.join(str(word) for word in words)


def chain(*commands: tuple[object, ...]) -> str:
    """Commands run one after the other while they succeed (`a && b`), each word quoted."""
    return " && ".join(command(*words) for words in commands)


def assign(**values: object) -> str:
    """Shell lines that set each variable to its value, quoted: the head of a fixed script that
    uses them as "$name" (the names are Python's keywords, so shell names too)."""
    return "".join(f"{name}={shlex.quote(str(value))}\n" for name, value in values.items())
