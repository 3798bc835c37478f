"""Building a project's own images: which builder is found (fake builders on a PATH of their
own: detection is what is under test), each builder's exact command lines, the checks made
before anything runs, a stop or a timeout ending the builder and all it started, and one real
build with the Docker engine, tagged by content and saved as a docker-archive."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from harmony.errors import BadInput, RunFailed
from harmony.images import build
from harmony.images.build import Builder, ImageBuild
from harmony.images.reference import parse
from tests.localimages import tiny_base_image

IMAGE_ID = "sha256:" + "0123456789ab" + "c" * 52


def fake(bin_dir: Path, name: str, body: str) -> Path:
    """An executable `name` in `bin_dir`: a shell script that logs its arguments and runs `body`."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> {bin_dir}/calls\n{body}\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def path(tmp_path, monkeypatch):
    """A PATH holding only the fake builders a test makes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


DOCKER = """case "$1 $2" in
  "info --format") [ -n "$NO_ENGINE" ] && exit 1; echo aarch64;;
  "buildx version") [ -n "$NO_BUILDX" ] && exit 1; echo "github.com/docker/buildx v0.11.2 9872040";;
esac"""


# -- finding the builder ----------------------------------------------------------------------

def test_docker_with_buildx_comes_first(path):
    for name in ("buildah", "nerdctl", "podman"):
        fake(path, name, "echo amd64")
    fake(path, "docker", DOCKER)
    assert build.find() == Builder("docker-buildx", str(path / "docker"), "linux/arm64", (0, 11, 2))


def test_docker_without_buildx_is_the_legacy_builder(path, monkeypatch):
    monkeypatch.setenv("NO_BUILDX", "1")
    fake(path, "docker", DOCKER)
    found = build.find()
    assert (found.kind, found.native, found.secrets) == ("docker", "linux/arm64", False)


def test_docker_whose_engine_does_not_answer_is_bad_input(path, monkeypatch):
    monkeypatch.setenv("NO_ENGINE", "1")
    fake(path, "docker", DOCKER)
    fake(path, "podman", "echo amd64")
    with pytest.raises(BadInput, match=r"^Docker is installed but its engine does not answer .*: start it"):
        build.find()
    assert build.find("podman").kind == "podman"


def test_then_podman_nerdctl_buildah_in_that_order(path, monkeypatch):
    monkeypatch.setattr(build.host, "machine", lambda: "x86_64")
    fake(path, "buildah", "")
    assert build.find() == Builder("buildah", str(path / "buildah"), "linux/amd64")
    fake(path, "nerdctl", "")
    fake(path, "buildctl", "")
    assert build.find().kind == "nerdctl"
    fake(path, "podman", "echo arm64")
    assert build.find() == Builder("podman", str(path / "podman"), "linux/arm64")
    assert build.find("buildah").kind == "buildah"


def test_nerdctl_without_buildkit_or_containerd_is_bad_input(path):
    fake(path, "nerdctl", '[ "$1" = info ] && exit 1; exit 0')
    with pytest.raises(BadInput, match="nerdctl builds with BuildKit, which is not installed: install buildkit"):
        build.find()
    fake(path, "buildctl", "")
    with pytest.raises(BadInput, match="containerd does not answer"):
        build.find()


def test_a_named_builder_must_be_known_and_installed(path):
    fake(path, "docker", DOCKER)
    with pytest.raises(BadInput, match="unknown image builder 'kaniko': use one of docker, podman, nerdctl, buildah"):
        build.find("kaniko")
    with pytest.raises(BadInput, match=r"the image builder podman is not installed \(not on PATH\)"):
        build.find("podman")


@pytest.mark.parametrize("system, os_release, hint", [
    ("Linux", 'ID=debian\nVERSION_ID="12"\n', "sudo apt-get install docker.io (or podman)"),
    ("Linux", 'ID=linuxmint\nID_LIKE="ubuntu debian"\n', "sudo apt-get install docker.io (or podman)"),
    ("Linux", 'ID="rocky"\nID_LIKE="rhel centos fedora"\n', "sudo dnf install podman"),
    ("Linux", "ID=arch\n", "install Docker (https://docs.docker.com/engine/install/) or Podman "
                              "(https://podman.io/docs/installation)"),
    ("Darwin", "", "install Docker Desktop, or Podman (brew install podman)"),
    ("Windows", "", "install Docker Desktop"),
])
def test_no_builder_says_what_to_install_on_this_os(path, tmp_path, monkeypatch, system, os_release, hint):
    (tmp_path / "os-release").write_text(os_release)
    monkeypatch.setattr(build, "OS_RELEASE", tmp_path / "os-release")
    monkeypatch.setattr(build.host, "system", lambda: system)
    with pytest.raises(BadInput) as refused:
        build.find()
    message = str(refused.value)
    assert message == f"no image builder is installed (docker, podman, nerdctl, buildah): {hint}"
    assert "\n" not in message


# -- the command lines ------------------------------------------------------------------------

WEB = ImageBuild("ghcr.io/acme/web", Path("/p/web"), Path("/p/web/Dockerfile.prod"), target="runtime",
                 args={"GO_VERSION": "1.22", "MODE": "a b"}, secrets={"npm": "NPM_TOKEN"})
FOREIGN = "linux/arm64"
OPTIONS = ["--platform", "linux/arm64", "--target", "runtime", "--build-arg", "GO_VERSION",
           "--build-arg", "MODE", "--secret", "id=npm,env=NPM_TOKEN", "-f", "/p/web/Dockerfile.prod"]
REF = parse("ghcr.io/acme/web:harmony-0123456789ab")


@pytest.mark.parametrize("kind, version, command", [
    ("docker-buildx", (0, 11, 2), ["/bin/docker", "buildx", "build", "--load", "--progress=plain",
                                   "--provenance=false", "--iidfile", "/w/iid", *OPTIONS, "/p/web"]),
    ("docker-buildx", (0, 9, 1), ["/bin/docker", "buildx", "build", "--load", "--progress=plain",
                                  "--iidfile", "/w/iid", *OPTIONS, "/p/web"]),
    ("docker", (), ["/bin/docker", "build", "--iidfile", "/w/iid", *OPTIONS, "/p/web"]),
    ("podman", (), ["/bin/podman", "build", "--layers", "--iidfile", "/w/iid", *OPTIONS, "/p/web"]),
    ("buildah", (), ["/bin/buildah", "bud", "--layers", "--iidfile", "/w/iid", *OPTIONS, "/p/web"]),
    ("nerdctl", (), ["/bin/nerdctl", "build", "--progress=plain", "-t", "ghcr.io/acme/web:harmony-build",
                     *OPTIONS, "/p/web"]),
])
def test_build_command_lines(kind, version, command):
    builder = Builder(kind, command[0], "linux/amd64", version)
    assert build.build_command(builder, WEB, FOREIGN, Path("/w/iid")) == command


def test_a_native_build_names_no_platform_and_a_plain_one_no_options():
    plain = ImageBuild("web", Path("/p"), Path("/p/Dockerfile"))
    assert build.build_command(Builder("docker", "/bin/docker", "linux/amd64"), plain, None, Path("/w/iid")) == \
        ["/bin/docker", "build", "--iidfile", "/w/iid", "-f", "/p/Dockerfile", "/p"]


@pytest.mark.parametrize("kind, tag, save", [
    ("docker-buildx", ["/x", "tag", IMAGE_ID, str(REF)], ["/x", "save", "-o", "/w/a.tar", str(REF)]),
    ("docker", ["/x", "tag", IMAGE_ID, str(REF)], ["/x", "save", "-o", "/w/a.tar", str(REF)]),
    ("podman", ["/x", "tag", IMAGE_ID, str(REF)],
     ["/x", "save", "--format", "docker-archive", "-o", "/w/a.tar", str(REF)]),
    ("buildah", ["/x", "tag", IMAGE_ID, str(REF)], ["/x", "push", str(REF), f"docker-archive:/w/a.tar:{REF}"]),
    ("nerdctl", ["/x", "tag", "ghcr.io/acme/web:harmony-build", str(REF)],
     ["/x", "save", "--platform", "linux/arm64", "-o", "/w/a.tar", str(REF)]),
])
def test_tag_and_save_command_lines(kind, tag, save):
    builder = Builder(kind, "/x", "linux/amd64")
    assert build.tag_command(builder, WEB, IMAGE_ID, REF) == tag
    assert build.save_command(builder, REF, FOREIGN, Path("/w/a.tar")) == save


def test_the_content_tag_is_the_image_ids_first_12_hex_digits():
    assert build.content_tag(IMAGE_ID) == "harmony-0123456789ab"


# -- checks before anything runs --------------------------------------------------------------

@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setenv("NPM_TOKEN", "s3cr3t-value")
    return ImageBuild("web", tmp_path / "web", tmp_path / "web" / "Dockerfile", secrets={"npm": "NPM_TOKEN"})


def test_good_builds_pass_the_checks(project):
    build.check(Builder("podman", "/x", "linux/amd64"), [project])


@pytest.mark.parametrize("change, message", [
    ({"name": "web:1"}, "image 'web:1': a built image's name carries no tag or digest"),
    ({"name": "Web"}, "'Web' is not an image reference"),
    ({"dockerfile": Path("/nowhere/Dockerfile")}, "image 'web': its Dockerfile /nowhere/Dockerfile does not exist"),
    ({"context": Path("/nowhere")}, "image 'web': its build context /nowhere is not a directory"),
    ({"secrets": {"npm": "UNSET_VARIABLE"}}, "image 'web': its secret 'npm' is read from the environment "
                                             "variable UNSET_VARIABLE, which is not set: export it"),
    ({"secrets": {"a,b": "NPM_TOKEN"}}, "image 'web': secret 'a,b' from 'NPM_TOKEN': an id is"),
    ({"args": {"A=B": "1"}}, "image 'web': 'A=B' is not a build argument's name"),
    ({"args": {"PATH": "/x"}}, "image 'web': build argument PATH would also change the builder's own environment"),
    ({"args": {"DOCKER_HOST": "x"}}, "image 'web': build argument DOCKER_HOST would also change the builder's"),
])
def test_bad_builds_are_bad_input_naming_the_image(project, change, message):
    fields = {**project.__dict__, **change}
    with pytest.raises(BadInput) as refused:
        build.check(Builder("podman", "/x", "linux/amd64"), [ImageBuild(**fields)])
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_secrets_need_more_than_the_legacy_docker_builder(project):
    with pytest.raises(BadInput, match=r"image 'web' takes build secrets, which Docker's legacy builder cannot "
                                       r"pass \(it has no --secret\): install Docker's buildx plugin"):
        build.check(Builder("docker", "/x", "linux/amd64"), [project])


# -- running a build with a fake builder ------------------------------------------------------

PODMAN = f"""case "$1" in
  build) echo "STEP 1/1: FROM scratch"; [ -n "$NPM_TOKEN" ] && echo "the secret is in my environment"
         [ -n "$API_KEY" ] && echo "the argument is in my environment"
         while [ "$1" != --iidfile ]; do shift; done; printf '%s' "{IMAGE_ID[7:]}" > "$2";;
  save) printf 'archive' > "$5";;
esac"""


def test_a_build_tags_by_content_and_saves_an_archive(project, path, tmp_path):
    podman = fake(path, "podman", PODMAN)
    builder = Builder("podman", str(podman), "linux/amd64")
    lines = []
    project = ImageBuild(**{**project.__dict__, "args": {"API_KEY": "k3y-from-env"}})
    built = build.build(builder, project, "linux/amd64", tmp_path / "out", lines.append)
    reference = "docker.io/library/web:harmony-0123456789ab"
    assert built == build.Built("web", IMAGE_ID, "harmony-0123456789ab", parse(reference),
                                tmp_path / "out" / "web_linux-amd64-harmony-0123456789ab.tar", len("archive"))
    assert lines == ["STEP 1/1: FROM scratch", "the secret is in my environment", "the argument is in my environment"]
    calls = (path / "calls").read_text()
    assert f"podman tag {IMAGE_ID} {reference}" in calls
    assert "s3cr3t" not in calls and "id=npm,env=NPM_TOKEN" in calls
    assert "k3y-from-env" not in calls and "--build-arg API_KEY " in calls
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [built.archive.name]
    build.build(builder, project, "linux/amd64", tmp_path / "out")  # unchanged: not saved again
    assert calls.count(" save ") == 1 == (path / "calls").read_text().count(" save ")


def test_an_image_built_for_several_architectures_gets_one_tag_and_an_archive_each(project, path, tmp_path):
    one, other = IMAGE_ID, "sha256:" + "f" * 64
    assert build.joint_tag([one]) == build.content_tag(one)
    joint = build.joint_tag([one, other])
    assert joint == build.joint_tag([other, one]) and joint.startswith("harmony-")
    assert joint not in (build.content_tag(one), build.content_tag(other))
    podman = fake(path, "podman", PODMAN)
    builder = Builder("podman", str(podman), "linux/amd64")
    built = build.build(builder, project, "linux/amd64", tmp_path / "out")
    again = build.retagged(builder, built, joint, "linux/amd64")
    assert (again.tag, str(again.reference)) == (joint, f"docker.io/library/web:{joint}")
    assert again.archive.name == f"web_linux-amd64-{joint}.tar" and again.archive.is_file()
    assert f"podman tag {built.reference} {again.reference}" in (path / "calls").read_text()


def test_a_failed_build_carries_its_last_lines(project, path, tmp_path):
    fake(path, "podman", 'n=0; while [ $n -lt 30 ]; do n=$((n + 1)); echo "line $n"; done\n'
                         'echo "exec format error" >&2; exit 3')
    with pytest.raises(build.BuildFailed) as failed:
        build.build(Builder("podman", str(path / "podman"), "linux/amd64"), project, "linux/amd64", tmp_path)
    message = str(failed.value)
    assert message.startswith("the build of image 'web' for linux/amd64 failed (podman exited 3); a step ran "
                              "a linux/amd64 program this machine cannot run: sudo apt-get install qemu-user-static")
    assert message.endswith("\n  line 24\n  line 25\n  line 26\n  line 27\n  line 28\n  line 29\n  line 30"
                            "\n  exec format error")
    assert len(failed.value.lines) == build.TAIL and "line 10" not in message
    assert isinstance(failed.value, RunFailed)


def test_a_foreign_platform_without_an_emulator_says_what_to_install(project, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "BINFMT", tmp_path)
    monkeypatch.setattr(build.host, "system", lambda: "Linux")
    podman = Builder("podman", "/x", "linux/amd64")
    with pytest.raises(RunFailed, match=r"cannot build image 'web' for linux/arm64: this linux/amd64 machine has "
                                        r"no emulator for it; sudo apt-get install qemu-user-static .*--install arm64"):
        build.build(podman, project, "linux/arm64", tmp_path)
    (tmp_path / "qemu-aarch64").write_text("enabled\n")
    assert build.can_build(podman, "linux/arm64/v8")


def test_buildx_says_which_platforms_it_builds(path):
    fake(path, "docker", 'echo "Name: default"; echo "Platforms: linux/amd64, linux/amd64/v2, linux/386"')
    buildx = Builder("docker-buildx", str(path / "docker"), "linux/amd64")
    assert build.can_build(buildx, "linux/386") and not build.can_build(buildx, "linux/arm64")


def _gone(pid: int) -> bool:
    """Whether a process ends within 5 seconds (a zombie has ended: where PID 1 reaps no
    orphans, it stays one)."""
    for _ in range(50):
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


SLOW = '/bin/sleep 300 & echo "$!" > {pidfile}; echo started; wait'


def test_a_stop_ends_the_builder_and_what_it_started(project, path, tmp_path):
    fake(path, "podman", SLOW.format(pidfile=tmp_path / "child"))

    def stop(line):
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        build.build(Builder("podman", str(path / "podman"), "linux/amd64"), project, "linux/amd64", tmp_path, stop)
    assert time.monotonic() - started < 10
    assert _gone(int((tmp_path / "child").read_text()))


def test_a_build_that_outlives_its_timeout_is_ended(project, path, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "BUILD_TIMEOUT", 1)
    fake(path, "podman", SLOW.format(pidfile=tmp_path / "child"))
    with pytest.raises(RunFailed, match="the build of image 'web' took longer than 1 seconds and was stopped"):
        build.build(Builder("podman", str(path / "podman"), "linux/amd64"), project, "linux/amd64", tmp_path)
    assert _gone(int((tmp_path / "child").read_text()))


# -- a real build -----------------------------------------------------------------------------

def _docker_answers() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=60).returncode == 0


needs_docker = pytest.mark.skipif(not _docker_answers(), reason="no Docker engine answers here")


@pytest.fixture
def base_image():
    with tiny_base_image("harmony-build-test") as name:
        yield name


@needs_docker
def test_a_real_docker_build_is_tagged_by_content_and_saved(base_image, tmp_path):
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_image}-base:1\nCOPY hello.txt /hello.txt\n")
    (context / "hello.txt").write_text("hello\n")
    image = ImageBuild(base_image, context, context / "Dockerfile", args={"UNUSED": "1"})
    builder = build.find("docker")
    build.check(builder, [image])

    first = build.build(builder, image, builder.native, tmp_path / "out")
    assert first.image_id.startswith("sha256:") and first.tag == build.content_tag(first.image_id)
    assert str(first.reference) == f"docker.io/library/{base_image}:{first.tag}"
    with tarfile.open(first.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [f"{base_image}:{first.tag}"]
    assert first.size == first.archive.stat().st_size > 0

    assert build.build(builder, image, builder.native, tmp_path / "out").tag == first.tag
    (context / "hello.txt").write_text("hello again\n")
    changed = build.build(builder, image, builder.native, tmp_path / "out")
    assert changed.tag != first.tag and changed.archive != first.archive
