"""`harmony lab`: a throwaway cluster of Vagrant machines (the project's Vagrantfile) in one command.

`lab up` checks what it needs (Vagrant, a usable provider, for docker the host image), runs
`vagrant up`, then `harmony up` over inventories/vagrant.py with the kubeconfig pointed at the
first server's API port forwarded to 127.0.0.1; `lab down` runs `vagrant destroy -f` and drops the
context; `lab status` shows `vagrant status` and `harmony status`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections import deque
from importlib import resources
from pathlib import Path

import click

from harmony.errors import BadInput, RunFailed

PROVIDERS = ("libvirt", "virtualbox", "docker")
HOST_IMAGE = "harmony-host:bookworm"
GET_VAGRANT = ("Vagrant is not installed: sudo apt-get install vagrant (Debian/Ubuntu), or see "
               "https://developer.hashicorp.com/vagrant/install")
GET_PROVIDER = {
    "libvirt": "install the vagrant-libvirt plugin (sudo apt-get install vagrant-libvirt) and "
               "libvirt, on a machine with KVM (/dev/kvm)",
    "virtualbox": "install VirtualBox (https://www.virtualbox.org/wiki/Downloads), on a machine "
                  "with hardware virtualization",
    "docker": "install Docker and start it (sudo apt-get install docker.io)",
}
TIMEOUT = 1800  # seconds for a `vagrant up` or `destroy` of the whole lab


def vagrantfile_dir(start: Path | None = None) -> Path:
    """The directory of the Vagrantfile Vagrant would use from here (it looks upwards)."""
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        if (candidate / "Vagrantfile").is_file():
            return candidate
    raise BadInput("no Vagrantfile here or above: run harmony lab in the harmony checkout")


def require_vagrant() -> None:
    if not shutil.which("vagrant"):
        raise BadInput(GET_VAGRANT)


def _usable(provider: str) -> bool:
    if provider == "docker":
        return shutil.which("docker") is not None and subprocess.run(
            ["docker", "info"], capture_output=True, timeout=60).returncode == 0
    if provider == "virtualbox":
        return shutil.which("VBoxManage") is not None
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, timeout=120)
    return "vagrant-libvirt" in plugins.stdout and os.path.exists("/dev/kvm")


def choose_provider(requested: str | None) -> str:
    """The provider asked for (--provider, or VAGRANT_DEFAULT_PROVIDER), checked; or the first
    usable of libvirt, virtualbox and docker."""
    wanted = requested or os.environ.get("VAGRANT_DEFAULT_PROVIDER")
    if wanted:
        if wanted not in PROVIDERS:
            raise BadInput(f"unknown provider '{wanted}': use {', '.join(PROVIDERS)}")
        if not _usable(wanted):
            raise BadInput(f"provider {wanted} is not usable here: {GET_PROVIDER[wanted]}")
        return wanted
    for provider in PROVIDERS:
        if _usable(provider):
            return provider
    raise BadInput("no Vagrant provider is usable here: " + "; or ".join(GET_PROVIDER.values()))


def ensure_host_image() -> None:
    """The docker provider's machines run the project's systemd + sshd image: build it if missing."""
    if subprocess.run(["docker", "image", "inspect", HOST_IMAGE], capture_output=True).returncode == 0:
        return
    if not shutil.which("debootstrap") or os.geteuid() != 0:  # debootstrap first: no geteuid on Windows
        raise BadInput(f"the image {HOST_IMAGE} is missing and building it needs root and debootstrap: "
                       "sudo apt-get install debootstrap, then run harmony lab up as root once")
    script = resources.files("harmony") / "lab" / "host-image.sh"
    if subprocess.run(["bash", str(script)], stdout=sys.stderr, timeout=TIMEOUT).returncode != 0:  # stdout: the report's
        raise RunFailed(f"building the image {HOST_IMAGE} failed; see above")


# What docker answers when a container or network it just listed is gone by the time it is
# inspected. Vagrant's docker provider lists and inspects every container and network on the
# machine while it creates one (its port-collision and network checks, docker/driver.rb), so a
# container removed by anything else at that moment fails `vagrant up` for no fault of the lab's.
VANISHED = re.compile(r"No such object: |No such container: |network \S+ not found")
TAIL = 200  # lines of a vagrant command's output kept to look for VANISHED


def _run_shown(command: list[str], directory: Path) -> tuple[int, str]:
    """Run a command in the lab's directory, its output shown as it comes on stderr, where
    harmony's progress goes (stdout is the report's, one JSON object with --json); its exit code
    and the tail of its output. A stop of harmony stops the command too."""
    with subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "VAGRANT_CWD": str(directory)}) as process:
        timer = threading.Timer(TIMEOUT, process.kill)
        timer.start()
        tail: deque[str] = deque(maxlen=TAIL)
        try:
            for line in process.stdout:
                sys.stderr.write(line)
                sys.stderr.flush()
                tail.append(line)
            return process.wait(), "".join(tail)
        except BaseException:
            process.terminate()
            raise
        finally:
            timer.cancel()


def vagrant(*args: str, directory: Path) -> None:
    """Run a vagrant command in the lab's directory. An `up` that failed only because docker lost
    a container or network between listing and inspecting it (VANISHED) is run once more: `vagrant
    up` carries on from the machines already made."""
    for attempt in (1, 2):
        returncode, output = _run_shown(["vagrant", *args], directory)
        if returncode == 0:
            return
        if attempt == 1 and args[0] == "up" and VANISHED.search(output):
            click.echo("harmony: vagrant up lost a race with a container or network removed meanwhile "
                       "(Vagrant's docker provider inspects every one); running it once more", err=True)
            continue
        raise RunFailed(f"vagrant {args[0]} failed (exit {returncode}); see above")


def api_url() -> str:
    """Where the workstation reaches the lab's API: the first server's port forwarded to 127.0.0.1."""
    return f"https://127.0.0.1:{os.environ.get('HARMONY_LAB_API_PORT', '16443')}"


def inventory() -> Path:
    """The lab's inventory, with Vagrant's commands (and pyinfra's @vagrant connector) pointed at
    the lab's directory."""
    require_vagrant()
    directory = vagrantfile_dir()
    os.environ["VAGRANT_CWD"] = str(directory)
    return directory / "inventories" / "vagrant.py"


def start(provider: str | None) -> None:
    """Start the lab's machines (vagrant up), with the provider asked for or the first usable."""
    chosen = choose_provider(provider)
    if chosen == "docker":
        ensure_host_image()
    vagrant("up", "--provider", chosen, directory=vagrantfile_dir())
