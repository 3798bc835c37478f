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
    choice = choose("h", platform, None)
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
        choose("h", platform, None)
    assert str(error.value).startswith("h: no runtime: ") and message in str(error.value)


def test_a_requested_runtime_wins_but_is_checked():
    assert choose("h", Platform("Linux", "systemd", "root", "running"), "k3d").runtime == "k3d"
    assert choose("h", LINUX_SYSTEMD_ROOT, "k3s").runtime == "k3s"
    with pytest.raises(BadInput, match="runtime k3d asked for, but Docker is not installed"):
        choose("h", LINUX_SYSTEMD_ROOT, "k3d")
    with pytest.raises(BadInput, match="runtime k3s asked for, but k3s runs on Linux"):
        choose("h", Platform("Darwin", "none", "root", "running"), "k3s")
    with pytest.raises(BadInput, match="unknown runtime 'podman'"):
        choose("h", LINUX_SYSTEMD_ROOT, "podman")


def test_docker_can_be_installed_when_asked_where_an_init_system_can_run_it():
    openrc = Platform("Linux", "openrc", "root", "absent")
    with pytest.raises(BadInput, match="runtime k3d asked for, but Docker is not installed"):
        choose("h", openrc, "k3d")
    assert choose("h", openrc, "k3d", install_docker=True).runtime == "k3d"
    assert choose("h", LINUX_SYSTEMD_ROOT, "k3d", install_docker=True).runtime == "k3d"
    with pytest.raises(BadInput, match="no runtime"):  # nothing could start the engine
        choose("h", Platform("Linux", "none", "root", "absent"), None, install_docker=True)
    with pytest.raises(BadInput, match="no runtime"):  # not root, no sudo
        choose("h", Platform("Linux", "openrc", "none", "absent"), None, install_docker=True)
