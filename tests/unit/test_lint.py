"""Every module's names exist: pyflakes over the code and the tests, as a unit test, so that a
name used but never imported (which Python finds only when the line runs) fails at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_pyflakes_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "pyflakes", "harmony", "tests", "benchmarks", "deploys"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
