"""A project's images are checked before any host is asked anything: each bad one is one line,
exit 2, through the real command line, against a host that nothing could reach (port 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

HARMONY = [sys.executable, "-m", "harmony"]
UNREACHABLE = "root@127.0.0.1:1"


def plan(root, spec: dict) -> subprocess.CompletedProcess:
    (root / "harmony.yaml").write_text(yaml.safe_dump({
        "cluster": {"runtime": "k3s", "version": "v1.31.4+k3s1"}, "target": UNREACHABLE, **spec}))
    env = {**os.environ, "HOME": str(root)}
    return subprocess.run([*HARMONY, "plan"], capture_output=True, text=True, timeout=60, cwd=root, env=env)


@pytest.fixture
def root(tmp_path):
    (tmp_path / "app" / "web").mkdir(parents=True)
    (tmp_path / "app" / "web" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app" / ".git").mkdir()
    (tmp_path / "app" / "chart" / "templates").mkdir(parents=True)
    (tmp_path / "app" / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    return tmp_path / "app"


@pytest.mark.parametrize("spec, said", [
    ({"images": [{"name": "web", "context": "../"}]},
     "images[0].context: '../' is outside the project's directory"),
    ({"images": [{"name": "web", "context": "web", "dockerfile": "../../Dockerfile"}]},
     "images[0].dockerfile: '../../Dockerfile' is outside the project's directory"),
    ({"images": [{"name": "web", "context": "web"}], "workloads": [
        {"name": "chart", "helm": {"chart": "chart/", "image_values": {"image": "api"}}}]},
     "workloads[0].helm.image_values.image: 'api' is not an image the project builds (web)"),
    ({"images": [{"name": "web", "context": "web"}, {"name": "web"}]}, "a second image named 'web'"),
    ({"images": [{"name": "Web"}]}, "images[0].name"),
])
def test_a_bad_image_entry_is_one_line_before_any_host(root, spec, said):
    result = plan(root, spec)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("harmony: error:")]
    assert said in line and "127.0.0.1" not in line


@pytest.mark.skipif(shutil.which("buildah") is not None, reason="buildah is installed here")
def test_a_builder_this_machine_lacks_is_named_before_any_host(root):
    result = plan(root, {"images": [{"name": "web", "context": "web"}], "builder": "buildah"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "buildah" in result.stderr and "Traceback" not in result.stderr
