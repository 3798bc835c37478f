"""Building a project's own images on the controller, with the builder the controller has:
Docker (with its buildx plugin, else the legacy builder), Podman, nerdctl (over BuildKit) or
Buildah. No registry is involved: each build ends in a docker-archive file that harmony ships to
the nodes, which import it into containerd.

An image is tagged by its content (`content_tag`): the image ID is the digest of its config,
which the build cache leaves unchanged when nothing in the context changed and which any change
of a layer changes. So the tag a workload is rewritten to changes exactly when the code does,
and an unchanged build ships and restarts nothing.

Every command is an argv list run without a shell. A build secret is named here only by its id
and the environment variable that holds it (`--secret id=ID,env=VAR`): the builder reads the
value from its own environment, inherited from harmony's, so the value is never in an argv, a
log line or a message of harmony's.

A builder runs in a process group of its own and is killed, with everything it started, when
harmony is stopped (an exception, KeyboardInterrupt or `stopping.Interrupted`, reaches it while
it runs) or when it outlives its timeout: nothing keeps building after harmony has ended. Run
`build` under `stopping.at_once`: it leaves nothing half done, as an archive is renamed into
place only when whole.
"""

from __future__ import annotations

import hashlib
import os
import platform as host
import re
import shutil
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harmony.controller import HERE
from harmony.errors import BadInput, RunFailed
from harmony.images.reference import Reference, parse

NAMES = ("docker", "podman", "nerdctl", "buildah")  # looked for in this order
ASK_TIMEOUT = 60  # seconds for a question to a builder (info, version, inspect, tag)
BUILD_TIMEOUT = 3600  # seconds for one image's build
SAVE_TIMEOUT = 1800  # seconds for writing one image's archive
TAIL = 20  # lines of a failed build's output kept for its error
SHOWN = 8  # of those, the lines the error's message shows
OS_RELEASE = Path("/etc/os-release")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
PROVISIONAL = "harmony-build"  # nerdctl's tag for a build whose ID is not known yet
SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]+$")  # no `,` or `=`: it goes into id=ID,env=VAR
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLATFORM = re.compile(r"^linux/[a-z0-9]+(/v[0-9]+)?$")
IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
# uname's machine names as OCI architectures, and the OCI ones as QEMU's (binfmt_misc entries)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
          "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
          "riscv64": "riscv64"}
QEMU = {"amd64": "x86_64", "arm64": "aarch64", "arm": "arm", "386": "i386", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}
GET_BUILDX = ("install Docker's buildx plugin (docker-buildx on Ubuntu and Debian 13, docker-buildx-plugin "
              "from Docker's own repository), or use podman")
GET_QEMU = ("sudo apt-get install qemu-user-static (Debian/Ubuntu; dnf on Fedora), or "
            "docker run --privileged --rm tonistiigi/binfmt --install {arch}")

# A build argument's value reaches the builder in its environment (`--build-arg NAME` reads it
# there, in all five builders), since a value may be a secret from ${VAR} and argv is public;
# so an argument may not be named as what the builder reads from its own environment.
BUILDER_ENVIRONMENT = {"PATH", "HOME", "USER", "TMPDIR", "LANG", "SHELL"}
BUILDER_ENVIRONMENT_PREFIXES = ("DOCKER_", "BUILDKIT_", "BUILDX_", "BUILDAH_", "PODMAN_", "CONTAINERS_", "CONTAINERD_",
                                "NERDCTL_", "XDG_", "LC_", "SSH_", "REGISTRY_AUTH_")

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class ImageBuild:
    """One image the project builds, as its harmony.yaml says: `name` is the one its workloads
    refer to, with no tag and no digest (harmony tags it); `context` and `dockerfile` are
    absolute paths, confined to the project by the caller. `secrets` maps a BuildKit secret id
    to the NAME of the controller's environment variable that holds it."""

    name: str
    context: Path
    dockerfile: Path
    target: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Builder:
    """The image builder found on the controller: its kind ("docker-buildx", "docker",
    "podman", "nerdctl", "buildah"), its executable, the platform it builds for without
    emulation, and its version where the flags depend on it (buildx's)."""

    kind: str
    executable: str
    native: str
    version: tuple[int, ...] = ()

    @property
    def secrets(self) -> bool:
        """Whether it can pass build secrets: all but Docker's legacy builder, which has no --secret."""
        return self.kind != "docker"


@dataclass(frozen=True)
class Built:
    """One image built for one platform, tagged by its content and saved as a docker-archive."""

    name: str
    image_id: str
    tag: str
    reference: Reference  # the normalized name and tag: what the kubelet asks containerd for
    archive: Path
    size: int


class BuildFailed(RunFailed):
    """A build the builder ended with an error: the message names the image and shows the
    output's last lines; `lines` holds the last TAIL of them."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def joint_tag(image_ids: list[str]) -> str:
    """The one tag of an image built for several architectures: a digest of its builds' IDs,
    so that one pod template runs, on each node, the build of that node's architecture (each
    node holds only its own); for one build, its own content tag."""
    if len(image_ids) == 1:
        return content_tag(image_ids[0])
    return "harmony-" + hashlib.sha256(" ".join(sorted(image_ids)).encode()).hexdigest()[:12]


def content_tag(image_id: str) -> str:
    """The tag of a built image: its ID's first 12 hex digits, so the same content has the same tag."""
    return "harmony-" + image_id.removeprefix("sha256:")[:12]


# -- finding the builder ----------------------------------------------------------------------

def find(named: str | None = None) -> Builder:
    """The builder named ("docker", "podman", "nerdctl", "buildah"), or the first on PATH in
    that order; Docker with a working buildx plugin builds with buildx. BadInput, one line,
    when none is installed (saying what to install on this OS) or the one found cannot build."""
    if named is not None and named not in NAMES:
        raise BadInput(f"unknown image builder '{named}': use one of {', '.join(NAMES)}")
    for name in [named] if named else NAMES:
        executable = shutil.which(name)
        if executable:
            return _probe(name, executable)
    if named:
        raise BadInput(f"the image builder {named} is not installed (not on PATH): install it, or name another")
    raise BadInput(f"no image builder is installed ({', '.join(NAMES)}): {install_hint()}")


def install_hint() -> str:
    """What to install to build images, for the controller's OS."""
    system = host.system()
    if system == "Darwin":
        return "install Docker Desktop, or Podman (brew install podman)"
    if system == "Windows":
        return "install Docker Desktop"
    family = _os_family()
    if family & {"debian", "ubuntu"}:
        return "sudo apt-get install docker.io (or podman)"
    if family & {"fedora", "rhel", "centos"}:
        return "sudo dnf install podman"
    return "install Docker (https://docs.docker.com/engine/install/) or Podman (https://podman.io/docs/installation)"


def _os_family() -> set[str]:
    """The ID and ID_LIKE of /etc/os-release: the distribution and those it derives from."""
    try:
        text = OS_RELEASE.read_text()
    except OSError:
        return set()
    found = dict(re.findall(r'^(ID|ID_LIKE)="?([^"\n]*)"?$', text, re.MULTILINE))
    return set(" ".join(found.values()).lower().split())


def _probe(name: str, executable: str) -> Builder:
    """The Builder for an executable found: asked whether it answers, and for its platform."""
    if name == "docker":
        arch = _ask([executable, "info", "--format", "{{.Architecture}}"])
        if arch is None:
            raise BadInput("Docker is installed but its engine does not answer (docker info fails): start it "
                           "(sudo systemctl start docker, or Docker Desktop), or name another builder")
        buildx = _ask([executable, "buildx", "version"])
        if buildx is None:
            return Builder("docker", executable, _platform(arch))
        return Builder("docker-buildx", executable, _platform(arch), _version(buildx))
    if name == "podman":
        arch = _ask([executable, "info", "--format", "{{.Host.Arch}}"])
        if arch is None:
            raise BadInput("Podman is installed but does not answer (podman info fails): start its machine "
                           "(podman machine start) where it runs in one, or name another builder")
        return Builder("podman", executable, _platform(arch))
    if name == "nerdctl":
        if not shutil.which("buildctl"):
            raise BadInput("nerdctl builds with BuildKit, which is not installed: install buildkit (buildctl "
                           "and buildkitd) and start buildkitd, or name another builder")
        if _ask([executable, "info"]) is None:
            raise BadInput("nerdctl is installed but containerd does not answer (nerdctl info fails): start "
                           "containerd, or name another builder")
    return Builder(name, executable, _platform(host.machine()))


def _ask(command: list[str]) -> str | None:
    """A short command's output, stripped; None if it fails or does not answer in time."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=ASK_TIMEOUT, **HERE.own_group())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _platform(machine: str) -> str:
    return f"linux/{ARCHES.get(machine.lower(), machine.lower())}"


def _version(text: str) -> tuple[int, ...]:
    """The version in `docker buildx version`'s answer ("github.com/docker/buildx v0.11.2 ...")."""
    found = re.search(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(n) for n in found.groups() if n is not None) if found else ()


# -- checking the builds before anything runs -------------------------------------------------

def check(builder: Builder, builds: list[ImageBuild]) -> None:
    """BadInput, one line naming the image, for a build that cannot run as given: a name that
    is not one or carries a tag, a missing context or Dockerfile, secrets the builder cannot
    pass, or a secret's environment variable that is not set (its value is never read here)."""
    for image in builds:
        _check_name(image.name)
        if not image.context.is_dir():
            raise BadInput(f"image '{image.name}': its build context {image.context} is not a directory: fix its path")
        if not image.dockerfile.is_file():
            raise BadInput(f"image '{image.name}': its Dockerfile {image.dockerfile} does not exist: fix its path")
        for key in image.args:
            if not ENV_NAME.match(key):
                raise BadInput(f"image '{image.name}': '{key}' is not a build argument's name (letters, digits "
                               "and '_'): fix it")
            if key in BUILDER_ENVIRONMENT or key.startswith(BUILDER_ENVIRONMENT_PREFIXES):
                raise BadInput(f"image '{image.name}': build argument {key} would also change the builder's own "
                               "environment, which passes the arguments' values: rename it")
        if image.secrets and not builder.secrets:
            raise BadInput(f"image '{image.name}' takes build secrets, which Docker's legacy builder cannot "
                           f"pass (it has no --secret): {GET_BUILDX}")
        for secret, variable in image.secrets.items():
            if not SECRET_ID.match(secret) or not ENV_NAME.match(variable):
                raise BadInput(f"image '{image.name}': secret '{secret}' from '{variable}': an id is letters, "
                               "digits, '.', '_' or '-', and a variable's name letters, digits and '_': fix it")
            if variable not in os.environ:
                raise BadInput(f"image '{image.name}': its secret '{secret}' is read from the environment "
                               f"variable {variable}, which is not set: export it before running harmony")


def _check_name(name: str) -> None:
    """BadInput unless `name` is an image name without a tag or a digest."""
    parse(name)
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        raise BadInput(f"image '{name}': a built image's name carries no tag or digest (harmony tags it "
                       "by its content): drop it")


# -- building ---------------------------------------------------------------------------------

def build(builder: Builder, image: ImageBuild, platform: str, workdir: Path,
          on_line: OnLine | None = None) -> Built:
    """Build `image` for `platform` ("linux/amd64", "linux/arm64", ...), tag it by its content,
    and save it as a docker-archive in `workdir` (kept there: an unchanged image is not saved
    again). `on_line` is given the builder's output, line by line, as it comes.

    RunFailed when the builder cannot build for a foreign platform here (naming what to
    install), or a step fails; BuildFailed, with the output's last lines, when the build does.
    """
    if not PLATFORM.match(platform):
        raise BadInput(f"'{platform}' is not a platform (linux/ARCH, e.g. linux/arm64): fix it")
    foreign = _arch(platform) != _arch(builder.native)
    if foreign and not can_build(builder, platform):
        raise RunFailed(f"cannot build image '{image.name}' for {platform}: this {builder.native} machine "
                        f"has no emulator for it; {GET_QEMU.format(arch=_arch(platform))}")
    workdir.mkdir(parents=True, exist_ok=True)
    stem = _stem(image.name, platform)
    iidfile = workdir / f"{stem}.iid"
    iidfile.unlink(missing_ok=True)
    code, tail = _run(build_command(builder, image, platform if foreign else None, iidfile),
                      {**_environment(builder), **image.args}, on_line, BUILD_TIMEOUT, f"the build of image '{image.name}'")
    if code != 0:
        raise _failed(builder, image, platform, code, tail)
    image_id = _image_id(builder, image, platform if foreign else None, iidfile)
    reference = parse(f"{image.name}:{content_tag(image_id)}")
    _step(tag_command(builder, image, image_id, reference), f"tagging image '{image.name}' as {reference}")
    archive = workdir / f"{stem}-{reference.tag}.tar"
    if not archive.is_file():
        _save(builder, reference, platform if foreign else None, archive)
    return Built(image.name, image_id, content_tag(image_id), reference, archive, archive.stat().st_size)


def retagged(builder: Builder, built: Built, tag: str, platform: str) -> Built:
    """`built` named `tag` too (`joint_tag`), and saved as an archive of its own under that name."""
    reference = parse(f"{built.name}:{tag}")
    _step([builder.executable, "tag", str(built.reference), str(reference)], f"tagging image '{built.name}' as {reference}")
    archive = built.archive.with_name(f"{_stem(built.name, platform)}-{tag}.tar")
    if not archive.is_file():
        _save(builder, reference, platform if _arch(platform) != _arch(builder.native) else None, archive)
    return Built(built.name, built.image_id, tag, reference, archive, archive.stat().st_size)


def build_command(builder: Builder, image: ImageBuild, platform: str | None, iidfile: Path) -> list[str]:
    """The builder's command line for `image`; `platform` only when foreign to the builder."""
    options = [*(["--platform", platform] if platform else []),
               *(["--target", image.target] if image.target else [])]
    for key in image.args:  # its value from the environment (`_environment`): never in argv
        options += ["--build-arg", key]
    for secret, variable in image.secrets.items():
        options += ["--secret", f"id={secret},env={variable}"]
    options += ["-f", str(image.dockerfile)]
    exe = builder.executable
    if builder.kind == "docker-buildx":
        # --load: into the engine's images, where `docker save` finds it; no provenance
        # attestation (buildx >= 0.10 adds one by default), as its build time would change the
        # ID of an unchanged image.
        quiet = ["--provenance=false"] if builder.version >= (0, 10) else []
        return [exe, "buildx", "build", "--load", "--progress=plain", *quiet, "--iidfile", str(iidfile),
                *options, str(image.context)]
    if builder.kind == "docker":
        return [exe, "build", "--iidfile", str(iidfile), *options, str(image.context)]
    if builder.kind == "podman":
        return [exe, "build", "--layers", "--iidfile", str(iidfile), *options, str(image.context)]
    if builder.kind == "buildah":
        # --layers: buildah bud caches no layers by default, and a build from scratch has a new
        # creation time, so an unchanged image would get a new ID each time.
        return [exe, "bud", "--layers", "--iidfile", str(iidfile), *options, str(image.context)]
    # nerdctl: the build goes into containerd only under a name; its ID is asked afterwards.
    return [exe, "build", "--progress=plain", "-t", _provisional(image.name), *options, str(image.context)]


def tag_command(builder: Builder, image: ImageBuild, image_id: str, reference: Reference) -> list[str]:
    """The command that names the built image by its content tag (nerdctl finds an image by
    name, not by its config's digest: its provisional name)."""
    source = _provisional(image.name) if builder.kind == "nerdctl" else image_id
    return [builder.executable, "tag", source, str(reference)]


def save_command(builder: Builder, reference: Reference, platform: str | None, path: Path) -> list[str]:
    """The command that writes the image as a docker-archive (manifest.json naming it in its
    RepoTags), the format containerd imports."""
    exe, name = builder.executable, str(reference)
    if builder.kind in ("docker", "docker-buildx"):
        return [exe, "save", "-o", str(path), name]
    if builder.kind == "podman":
        return [exe, "save", "--format", "docker-archive", "-o", str(path), name]
    if builder.kind == "buildah":
        return [exe, "push", name, f"docker-archive:{path}:{name}"]
    return [exe, "save", *(["--platform", platform] if platform else []), "-o", str(path), name]


def can_build(builder: Builder, platform: str) -> bool:
    """Whether the builder can build for a platform foreign to it: buildx says which platforms
    its builder has; the others run a foreign image's steps under QEMU, through the kernel's
    binfmt_misc handlers. Off Linux the builder runs in a VM of Docker Desktop or Podman
    machine, which come with QEMU."""
    if builder.kind == "docker-buildx":
        answer = _ask([builder.executable, "buildx", "inspect"]) or ""
        listed = re.search(r"^Platforms:\s*(.*)$", answer, re.MULTILINE)
        return bool(listed) and _arch(platform) in {_arch(p.strip()) for p in listed.group(1).split(",")}
    if host.system() != "Linux":
        return True
    return (BINFMT / f"qemu-{QEMU.get(_arch(platform), _arch(platform))}").exists()


def _arch(platform: str) -> str:
    """A platform's architecture: arm64/v8 is arm64."""
    return platform.split("/")[1]


def _stem(name: str, platform: str) -> str:
    """A file name for an image's files in the work directory."""
    return f"{name.replace('/', '_')}_{platform.replace('/', '-')}"


def _provisional(name: str) -> str:
    return str(parse(f"{name}:{PROVISIONAL}"))


def _environment(builder: Builder) -> dict[str, str]:
    """harmony's environment (the secrets' variables in it), with Docker held to its legacy
    builder when it has no buildx: a DOCKER_BUILDKIT=1 set by the user would fail every build."""
    return {**os.environ, "DOCKER_BUILDKIT": "0"} if builder.kind == "docker" else dict(os.environ)


def _image_id(builder: Builder, image: ImageBuild, platform: str | None, iidfile: Path) -> str:
    """The built image's ID, "sha256:..." (Podman's and Buildah's files may lack the prefix)."""
    if builder.kind == "nerdctl":
        answer = _ask([builder.executable, "image", "inspect", *(["--platform", platform] if platform else []),
                       "--format", "{{.ID}}", _provisional(image.name)])
    else:
        answer = iidfile.read_text().strip() if iidfile.is_file() else None
        iidfile.unlink(missing_ok=True)
    image_id = answer if answer is None or answer.startswith("sha256:") else f"sha256:{answer}"
    if image_id is None or not IMAGE_ID.match(image_id):
        raise RunFailed(f"{builder.kind} built image '{image.name}' but did not say its ID "
                        f"({answer or 'nothing'}): build it by hand to see why")
    return image_id


def _save(builder: Builder, reference: Reference, platform: str | None, archive: Path) -> None:
    """Write the archive aside and rename it when whole: a stop or a failure leaves no half archive."""
    partial = archive.with_name(archive.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        code, tail = _run(save_command(builder, reference, platform, partial), _environment(builder), None,
                          SAVE_TIMEOUT, f"saving {reference}")
        if code != 0:
            raise RunFailed(f"saving {reference} to {partial} failed ({builder.kind} exited {code}): "
                            + " / ".join(tail[-3:]))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(archive)


def _step(command: list[str], doing: str) -> None:
    """A short command that must succeed; RunFailed saying `doing` if it does not."""
    code, tail = _run(command, None, None, ASK_TIMEOUT, doing)
    if code != 0:
        raise RunFailed(f"{doing} failed (exit {code}): " + " / ".join(tail[-3:]))


def _failed(builder: Builder, image: ImageBuild, platform: str, code: int, tail: list[str]) -> BuildFailed:
    emulation = any("exec format error" in line for line in tail)
    hint = (f"; a step ran a {platform} program this machine cannot run: "
            f"{GET_QEMU.format(arch=_arch(platform))}") if emulation else ""
    shown = "".join(f"\n  {line}" for line in tail[-SHOWN:])
    return BuildFailed(f"the build of image '{image.name}' for {platform} failed ({builder.kind} exited "
                       f"{code}){hint}; its last lines:{shown}", tail)


def _run(command: list[str], env: dict[str, str] | None, on_line: OnLine | None, timeout: float,
         doing: str) -> tuple[int, list[str]]:
    """Run a command in a process group of its own, its output (stdout and stderr) given to
    `on_line` as it comes; its exit code and the output's last TAIL lines. The group is killed
    when anything (a stop) interrupts the wait, and after `timeout` seconds: RunFailed then."""
    expired = threading.Event()
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", env=env, **HERE.own_group()) as process:
        timer = threading.Timer(timeout, lambda: (expired.set(), _end(process)))
        timer.start()
        tail: deque[str] = deque(maxlen=TAIL)
        try:
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                if on_line:
                    on_line(tail[-1])
            code = process.wait()
        except BaseException:
            _end(process)
            raise
        finally:
            timer.cancel()
    if expired.is_set():
        raise RunFailed(f"{doing} took longer than {timeout:.0f} seconds and was stopped")
    return code, list(tail)


def _end(process: subprocess.Popen) -> None:
    """End a command and every process it started: SIGTERM to its group, and once the command
    has ended (or 5 seconds on), SIGKILL to whatever of the group is left (on Windows,
    Ctrl-Break, then its process tree: `harmony.controller`)."""
    HERE.end(process)
