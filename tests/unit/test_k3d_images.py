"""A project's images into a k3d cluster's nodes: the fact's part that asks each node container
what it holds, what the deploy makes of it, and the import script around `k3d image import`,
run here against a fake `docker` and `k3d` (the e2e test runs them for real)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from harmony.k3d import images
from harmony.k3d.facts import NODE_IMAGES, K3dHost
from harmony.k3d.runtime import K3D
from tests.standin import k3d as standin_k3d

WEB = "docker.io/library/web:harmony-1a2b"
API = "docker.io/library/api:harmony-3c4d"

# A fake docker: `ps` lists the containers in $FAKE/ps, `exec NODE ... ls -q` prints $FAKE/NODE.
FAKE_DOCKER = """#!/bin/sh
case "$1" in
  ps) printf '%s\\n' "$*" >> "$FAKE/ps.args"; cat "$FAKE/ps" ;;
  exec) cat "$FAKE/$2" 2>/dev/null ;;
esac
"""
# A fake k3d: records its arguments and what the file it was given holds.
FAKE_K3D = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE/k3d.args"
for a; do last=$a; done
cat "$last" > "$FAKE/k3d.imported"
exit "${K3D_EXIT:-0}"
"""


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("docker", FAKE_DOCKER), ("k3d", FAKE_K3D)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE", str(tmp_path))
    return tmp_path


def sh(script: str, **values: str) -> subprocess.CompletedProcess:
    head = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
    return subprocess.run(["sh", "-c", head + script], capture_output=True, text=True, timeout=30)


def test_k3d_takes_images_through_its_deploy():
    from harmony.k3d import deploy

    assert K3D.image_deploy == "images" and callable(getattr(deploy, K3D.image_deploy))


def test_the_fact_asks_the_nodes_only_where_a_run_ships_images():
    assert "docker exec" not in K3dHost().command()
    command = K3dHost().command(cluster="dev", images=f"{API} {WEB}")
    assert "docker exec" in command
    assert f"cluster=dev\nimages='{API} {WEB}'\n" in command


def test_values_reach_the_fact_as_quoted_words_only():
    evil = "x'; touch /tmp/owned; '"
    command = K3dHost().command(cluster=evil, images=evil)
    assignments = [line for line in command.splitlines() if line.startswith(("cluster=", "images="))]
    assert [shlex.split(line.partition("=")[2]) for line in assignments] == [[evil], [evil]]


def test_each_running_server_and_agent_says_which_wanted_images_it_holds(fake):
    (fake / "ps").write_text("k3d-dev-server-0 server\nk3d-dev-serverlb loadbalancer\nk3d-dev-agent-0 agent\n"
                             "k3d-dev-tools \n")
    (fake / "k3d-dev-server-0").write_text(f"{WEB}\ndocker.io/rancher/mirrored-pause:3.6\n{API}\n")
    (fake / "k3d-dev-agent-0").write_text("docker.io/library/web:harmony-old\n")
    (fake / "k3d-dev-serverlb").write_text(f"{WEB}\n")
    done = sh(NODE_IMAGES, docker="running", cluster="dev", images=f"{API} {WEB}")
    assert done.returncode == 0, done.stderr
    state = K3dHost().process(done.stdout.splitlines())
    assert state.nodes == {"k3d-dev-server-0": {WEB, API}, "k3d-dev-agent-0": set()}
    assert "--filter label=k3d.cluster=dev" in (fake / "ps.args").read_text()
    assert images.lacking(state.nodes, WEB) == ["k3d-dev-agent-0"]
    assert images.lacking({"k3d-dev-server-0": {WEB}}, WEB) == []


def test_no_docker_no_nodes(fake):
    (fake / "ps").write_text("k3d-dev-server-0 server\n")
    assert sh(NODE_IMAGES, docker="stopped", cluster="dev", images=WEB).stdout == ""


@pytest.mark.parametrize("docker,known,installed,nodes,message", [
    ("stopped", True, True, {"n": set()}, "Docker does not answer here"),
    ("running", False, True, {}, "no k3d cluster 'dev' here: run harmony up first"),
    ("running", True, False, {"n": set()}, "no k3d cluster 'dev' here: run harmony up first"),
    ("running", True, True, {}, "k3d cluster 'dev' has no running node here"),
    ("running", True, True, {"n": set()}, None),
])
def test_what_stops_an_import(docker, known, installed, nodes, message):
    problem = images.problem(docker, known, installed, nodes, "dev")
    assert problem == message if message is None else message in problem


def staged(fake: Path, content: bytes, compressed: bool = True) -> tuple[Path, str]:
    path = fake / "staging" / ("run-1.tar.gz" if compressed else "run-1.tar")
    path.parent.mkdir()
    path.write_bytes(gzip.compress(content) if compressed else content)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def run_import(fake: Path, path: Path, sha256: str, compressed: str = "yes", **env: str) -> subprocess.CompletedProcess:
    return sh(images.IMPORT, staged=str(path), sha256=sha256, reference=WEB, k3d="k3d", cluster="dev",
              nodes="k3d-dev-server-0 k3d-dev-agent-0", compressed=compressed, **env)


def test_the_import_decompresses_runs_k3d_direct_checks_every_node_and_cleans_up(fake):
    path, sha256 = staged(fake, b"docker-archive")
    for node in ("k3d-dev-server-0", "k3d-dev-agent-0"):
        (fake / node).write_text(f"{WEB}\n")
    done = run_import(fake, path, sha256)
    assert done.returncode == 0, done.stderr
    assert (fake / "k3d.args").read_text().splitlines() == [
        "image", "import", "--mode", "direct", "--cluster", "dev", f"{path}.tar"]
    assert (fake / "k3d.imported").read_bytes() == b"docker-archive"  # a plain tar, as ctr reads
    assert list((fake / "staging").iterdir()) == []


def test_an_archive_sent_uncompressed_is_imported_as_it_is(fake):
    path, sha256 = staged(fake, b"docker-archive", compressed=False)
    for node in ("k3d-dev-server-0", "k3d-dev-agent-0"):
        (fake / node).write_text(f"{WEB}\n")
    done = run_import(fake, path, sha256, compressed="no")
    assert done.returncode == 0, done.stderr
    assert (fake / "k3d.args").read_text().splitlines()[-1] == str(path)
    assert (fake / "k3d.imported").read_bytes() == b"docker-archive" and list((fake / "staging").iterdir()) == []


def test_a_node_left_without_the_image_fails_the_import_naming_it(fake):
    path, sha256 = staged(fake, b"docker-archive")
    (fake / "k3d-dev-server-0").write_text(f"{WEB}\n")
    done = run_import(fake, path, sha256)
    assert done.returncode == 1
    assert done.stderr == f"harmony: k3d image import left node k3d-dev-agent-0 without {WEB}\n"


def test_k3d_failing_fails_the_import(fake):
    path, sha256 = staged(fake, b"docker-archive")
    done = sh(f"K3D_EXIT=1; export K3D_EXIT\n{images.IMPORT}", staged=str(path), sha256=sha256, reference=WEB,
              k3d="k3d", cluster="dev", nodes="k3d-dev-server-0", compressed="yes")
    assert done.returncode == 1 and list((fake / "staging").iterdir()) == []


def test_an_upload_that_does_not_match_is_not_imported(fake):
    path, _ = staged(fake, b"docker-archive")
    done = run_import(fake, path, "0" * 64)
    assert done.returncode == 1 and "the upload does not match sha256" in done.stderr
    assert not (fake / "k3d.args").exists() and list((fake / "staging").iterdir()) == []


@pytest.mark.parametrize("name,found", [
    ("web:1", "web:1"),
    ("web", "web:latest"),
    ("docker.io/library/web:1", "web:1"),
    ("library/web", "web:latest"),
    ("docker.io/acme/api:2", "acme/api:2"),
    ("web:2", None),
])
def test_the_standin_k3d_finds_docker_images_as_k3d_does(name, found):
    assert standin_k3d.runtime_image(name, ["web:1", "web:latest", "acme/api:2"]) == found
