"""Which files of a local chart `helm package` packs: all but those its `.helmignore` names, read
with Helm's own rules (helm/helm, pkg/ignore/rules.go), and but the dotfiles in `templates/`
(its one default rule, `templates/.?*`), so that a chart's `.git/`, editor backups and the
like never travel to the cluster in its HelmChart, as they never would in its package.

Helm's rules, one a line (blank lines and `#` comments skipped):
- a pattern is Go's filepath.Match glob (`*` and `?` never match `/`; `[...]` classes, `[^...]`
  negated; `\\` escapes); `**` is refused, as is a malformed pattern;
- with no `/`, it is matched against the file's name only; with one, against its path in the
  chart; a leading `/` (the chart's root) is dropped;
- a trailing `/` matches only directories, and an ignored directory's files go with it;
- `!pattern` ignores every path it does NOT match (Helm's own reading of a negation: it does not
  bring back a file an earlier rule ignored);
- the rules are tried in order; the first that decides, decides.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harmony.errors import BadInput

HELMIGNORE = ".helmignore"
DEFAULTS = ("templates/.?*",)  # Rules.AddDefaults: ignore every dotfile in templates/
MAX_FILE_BYTES = 5 * 1024 * 1024  # helm's MaxDecompressedFileSize (pkg/chart/loader/archive/archive.go)


@dataclass(frozen=True)
class _Rule:
    match: re.Pattern
    whole_path: bool  # the pattern has a slash: matched against the path, else the name
    negate: bool
    only_dirs: bool

    def matches(self, path: str) -> bool:
        return bool(self.match.fullmatch(path if self.whole_path else _base(path)))


class Rules:
    """A .helmignore's rules, in order."""

    def __init__(self, lines, where: str = HELMIGNORE):
        self.rules: list[_Rule] = []
        for number, line in enumerate(lines, 1):
            rule = line.strip()
            if not rule or rule.startswith("#"):
                continue
            try:
                self.rules.append(_parse(rule))
            except ValueError as error:
                raise BadInput(f"{where}:{number}: '{rule}' {error}: fix or remove the line (helm package refuses "
                               "it too)") from None

    def ignore(self, path: str, is_dir: bool) -> bool:
        """Whether `path` (relative to the chart, with /) is left out (Rules.Ignore)."""
        if path in ("", ".", "./"):
            return False
        for rule in self.rules:
            if rule.negate:
                if (rule.only_dirs and not is_dir) or not rule.matches(path):
                    return True
            elif (is_dir or not rule.only_dirs) and rule.matches(path):
                return True
        return False


def chart_files(directory: Path) -> list[Path]:
    """The files of the chart in `directory` that `helm package` packs, in path order, refusing
    as its loader's walk does (pkg/chart/v2/loader/directory.go, LoadDir) a file that is not a
    regular one (a FIFO would block the read) or is over MAX_FILE_BYTES."""
    ignore_file = directory / HELMIGNORE
    lines = ignore_file.read_text(errors="replace").lstrip("\ufeff").splitlines() if ignore_file.is_file() else []
    rules = Rules([*lines, *DEFAULTS], str(ignore_file))
    found = []
    for root, dirs, files in os.walk(directory):
        relative = Path(root).relative_to(directory)
        dirs[:] = [d for d in dirs if not rules.ignore((relative / d).as_posix(), is_dir=True)]
        found += [Path(root) / f for f in files if not rules.ignore((relative / f).as_posix(), is_dir=False)]
    for path in found:
        if not path.is_file():
            raise BadInput(f"{path}: not a regular file, which helm package refuses: add it to {ignore_file}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BadInput(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_FILE_BYTES:,} helm package takes of "
                           f"a chart's file: add it to {ignore_file}")
    return sorted(found)


def _parse(rule: str) -> _Rule:
    if "**" in rule:
        raise ValueError("uses **, which Helm's patterns do not have")
    negate = rule.startswith("!")
    rule = rule.removeprefix("!")
    only_dirs = rule.endswith("/")
    rule = rule.removesuffix("/")
    whole_path = "/" in rule
    return _Rule(re.compile(_glob(rule.removeprefix("/")), re.DOTALL), whole_path, negate, only_dirs)


def _base(path: str) -> str:
    """Go's filepath.Base: the last element, trailing slashes dropped."""
    return path.rstrip("/").rsplit("/", 1)[-1] or "/"


def _glob(pattern: str) -> str:
    """Go's filepath.Match pattern as a regular expression; ValueError where it is malformed."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            i, expression = _class(pattern, i + 1)
            out.append(expression)
            continue
        else:
            if char == "\\":
                i += 1
                if i == len(pattern):
                    raise ValueError("ends in \\, a malformed pattern")
            out.append(re.escape(pattern[i]))
        i += 1
    return "".join(out)


def _class(pattern: str, i: int) -> tuple[int, str]:
    """The class that starts at pattern[i] (after its [) as a regular expression, and the index
    after its ]."""
    negated = pattern.startswith("^", i)
    i += negated
    ranges = []
    while not (pattern.startswith("]", i) and ranges):
        low, i = _class_char(pattern, i)
        high = low
        if pattern.startswith("-", i):
            high, i = _class_char(pattern, i + 1)
        ranges.append((low, high))
    valid = "".join(re.escape(lo) + ("" if lo == hi else "-" + re.escape(hi)) for lo, hi in ranges if lo <= hi)
    if not valid:  # only empty ranges, as [b-a]: Go matches no character (or any, negated)
        return i + 1, "." if negated else "(?!)"
    return i + 1, f"[{'^' if negated else ''}{valid}]"


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One character of a class (getEsc): not -, ] or the pattern's end, perhaps \\-escaped."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise ValueError("has a malformed [...] class")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise ValueError("has a malformed [...] class")
    if i + 1 >= len(pattern):
        raise ValueError("has an unclosed [...] class")
    return pattern[i], i + 1
