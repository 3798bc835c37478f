"""The runtime decision, for each combination of facts (pure logic over the Platform fact)."""

import pytest

from harmony.errors import BadInput
from harmony.runtime import Platform, choose

LINUX_SYSTEMD_ROOT = Platform("Linux", "systemd", "root", "absent")


@pytest.mark.parametrize("platform,runtime,reason", [
    (LINUX_SYSTEMD_ROOT, "k3s", "Linux with systemd and root"),
    (Platform("Linux", "systemd", "password", "running"), "k3s", "Linux with systemd and root"),
    (Platform("Linux", "systemd", "nopasswd", "absent"), "k3s", "Linux with systemd and root"),
    (Platform("Linux", "none", "root", "running"), "k3d", "has none; Docker is running"),
    (Platform("Linux", "openrc", "root", "absent"), "k3s", "Linux with openrc and root"),
    (Platform("Linux", "systemd", "none", "running"), "k3d", "no sudo; Docker is running"),
    (Platform("Darwin", "none", "password", "running"), "k3d", "this host runs Darwin; Docker is running"),
    (Platform("MINGW64_NT-10.0", "none", "none", "running"), "k3d", "runs MINGW64_NT-10.0; Docker"),
])
def test_facts_decide_the_runtime(platform, runtime, reason):
    choice = choose("h", platform)
    assert choice.runtime == runtime and reason in choice.reason


@pytest.mark.parametrize("platform,message", [
    (Platform("Linux", "none", "root", "absent"), "sudo apt-get install docker.io"),
    (Platform("Linux", "none", "root", "stopped"), "sudo systemctl start docker"),
    (Platform("Darwin", "none", "password", "absent"), "brew install colima docker"),
    (Platform("Darwin", "none", "password", "stopped"), "start Docker Desktop (or colima start)"),
    (Platform("MSYS_NT-10.0", "none", "none", "absent"), "Docker Desktop with the WSL 2 backend"),
])
def test_no_runtime_says_what_is_missing_and_how_to_get_it(platform, message):
    with pytest.raises(BadInput) as error:
        choose("h", platform)
    assert str(error.value).startswith("h: no runtime: ") and message in str(error.value)


def test_docker_can_be_installed_when_asked_where_an_init_system_can_run_it():
    no_init = Platform("Linux", "none", "root", "absent")  # k3s cannot run: k3d, if Docker can
    with pytest.raises(BadInput, match="docker is not installed"):
        choose("h", no_init)
    with pytest.raises(BadInput, match="no runtime"):  # nothing could start the engine
        choose("h", no_init, install_docker=True)
    with pytest.raises(BadInput, match="no runtime"):  # not root, no sudo
        choose("h", Platform("Linux", "openrc", "none", "absent"), install_docker=True)
