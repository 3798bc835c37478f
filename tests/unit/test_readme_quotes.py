"""The README quotes what harmony prints exactly as it prints it.

A quoted message is a backticked span of the README's prose that is not a command line, an
option or a path: words harmony says. Each must be one the code can make: a string literal or
f-string of harmony's source, its `{values}` standing for any text (but most of the message
the code's own words), whole, or its beginning where the quote ends in `...`. The offline line, the one a newcomer meets first, is also run."""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SHELL_WORDS = {"cd", "export", "source", "harmony"}  # a command line's first word, besides programs and verbs
OFFLINE = "cannot reach the k3s channel server ..."


def quoted_messages(markdown: str) -> list[str]:
    """The backticked spans of `markdown`'s prose (not its code blocks) that are messages."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [span for span in spans if " " in span and not command_line(span)
            and not span.startswith(("-", ".", "/", "~")) and re.match(r"[a-z]", span)]


def command_line(span: str) -> bool:
    """Whether the span is a command to type: a program (on PATH or harmony's venv's), a shell
    word or a harmony verb first."""
    from harmony import cli

    first = span.split()[0]
    return (first in SHELL_WORDS or first in cli.main.commands or shutil.which(first) is not None
            or (Path(sys.executable).parent / first).exists())  # the venv's own: pyinfra, mkdocs


@functools.cache
def made_by_code() -> list[list[str | None]]:
    """Every string harmony's source can make, as pieces: text, or None for a value put in."""
    pieces = []
    for path in (ROOT / "harmony").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                pieces.append([node.value])
            elif isinstance(node, ast.JoinedStr):
                pieces.append([part.value if isinstance(part, ast.Constant) else None for part in node.values])
    return pieces


def said(text: str, pieces: list[str | None], whole: bool) -> int:
    """How many of `text`'s characters the code's own words say, at most, in a string the pieces
    make that begins with `text` (is `text`, where `whole`); -1 where none does."""
    if not text:
        return 0 if not whole or all(piece == "" for piece in pieces) else -1
    if not pieces:
        return -1
    head, rest = pieces[0], pieces[1:]
    if head is None:  # a value: its characters count where the code has it as a string of its own
        return max(credited(said(text[n:], rest, whole), n if text[:n] in constants() else 0)
                   for n in range(1, len(text) + 1))
    common = min(len(head), len(text))
    if text[:common] != head[:common]:
        return -1
    return credited(said(text[common:], rest, whole) if common == len(head) else (-1 if whole else 0), common)


def credited(tail: int, count: int) -> int:
    return tail + count if tail >= 0 else -1


@functools.cache
def constants() -> frozenset[str]:
    """The code's strings of words (not a letter or a separator), which a value may be."""
    return frozenset(pieces[0] for pieces in made_by_code() if len(pieces) == 1 and " " in pieces[0].strip())


def can_say(message: str, strings: list[list[str | None]]) -> bool:
    """Some string of the code makes `message`, most of it (two thirds) the code's own words: a
    value put in stands for a name, a path, a number, or another string of the code (`what` in
    "cannot reach {what} at {url}"), not for the message."""
    cut = message.endswith("...")
    text = message.removesuffix("...").rstrip() if cut else message
    return any(3 * said(text, pieces, whole=not cut) >= 2 * len(text) for pieces in strings)


def test_each_message_the_readme_quotes_is_one_the_code_makes():
    messages = quoted_messages((ROOT / "README.md").read_text())
    assert OFFLINE in messages  # the rule still finds the README's quotes
    strings = made_by_code()
    assert [m for m in messages if not can_say(m, strings)] == []


def test_the_rule_tells_a_message_the_code_makes_from_one_it_does_not():
    strings = made_by_code()
    assert can_say("invalid k3s version 'nope': expected a release tag like v1.31.4+k3s1", strings)
    assert not can_say("k3s channel server unreachable ...", strings)
    assert can_say("give the target once: harmony init TARGET", strings)
    assert not can_say("give the target once: harmony lab TARGET", strings)  # whole: all of it
    assert not can_say("cannot reach the moon ...", strings)  # a value is not the message
    assert quoted_messages("Run `harmony up --yes` or `cd shop` or `kubectl get nodes` or `up --watch`, see "
                           "`~/.kube/config`; it says `no such host`.\n```sh\n`not this`\n```\n") == ["no such host"]


def test_the_offline_line_is_what_resolving_the_channel_prints_where_its_server_cannot_be_reached(tmp_path):
    """Run as `bundle`, which resolves the channel as the main job does and runs on no host: a
    unit test runs no `up` on the machine it runs on. (`plan` and `check` answer offline in part.)"""
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "harmony", "bundle", "out", "--channel-url", "https://127.0.0.1:9/"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("harmony: error: " + OFFLINE.removesuffix("..."))
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "out").exists()
