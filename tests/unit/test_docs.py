"""The documentation: the site builds strictly (a broken link or anchor fails it, and the command
reference is generated from the CLI), and the README's links lead to files that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_site_builds_strictly_with_the_reference_of_every_command(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    reference = (tmp_path / "reference" / "index.html").read_text()
    for command in ("up", "plan", "check", "status", "kubeconfig", "down", "bundle", "init", "schema", "lab", "certs rotate"):
        assert f"harmony {command}" in reference, command


def test_the_readme_is_short_leads_with_its_two_commands_and_links_only_to_what_exists():
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 250
    assert lines[3].startswith("python3 -m venv .venv") and lines[4].startswith("bash tests/setup.sh")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local and all((ROOT / t).exists() for t in local), [t for t in local if not (ROOT / t).exists()]
