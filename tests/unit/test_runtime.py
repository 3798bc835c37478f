"""The runtime decision, for each combination of facts (pure logic over the Platform fact)."""

import pytest

from harmony.errors import BadInput
from harmony.k3d.settings import K3dSettings
from harmony.k3s.settings import Settings
from harmony.runtime import Platform, choose
from harmony.runtimes import ALL, K3D, K3S

LINUX_SYSTEMD_ROOT = Platform("Linux", "systemd", "root", "absent")


def candidates(install_docker: bool = False) -> list:
    return [(K3S, {}), (K3D, K3dSettings(Settings(), install_docker=install_docker))]


def test_the_runtimes_are_tried_k3s_first():
    assert [r.name for r in ALL] == ["k3s", "k3d"]


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
    choice = choose("h", platform, candidates())
    assert choice.runtime.name == runtime and reason in choice.reason


@pytest.mark.parametrize("platform,message", [
    (Platform("Linux", "none", "root", "absent"), "sudo apt-get install docker.io"),
    (Platform("Linux", "none", "root", "stopped"), "sudo systemctl start docker"),
    (Platform("Darwin", "none", "password", "absent"), "brew install colima docker"),
    (Platform("Darwin", "none", "password", "stopped"), "start Docker Desktop (or colima start)"),
    (Platform("MSYS_NT-10.0", "none", "none", "absent"), "Docker Desktop with the WSL 2 backend"),
])
def test_no_runtime_says_what_is_missing_and_how_to_get_it(platform, message):
    with pytest.raises(BadInput) as error:
        choose("h", platform, candidates())
    assert str(error.value).startswith("h: no runtime: ") and message in str(error.value)


def test_docker_can_be_installed_when_asked_where_an_init_system_can_run_it():
    no_init = Platform("Linux", "none", "root", "absent")  # k3s cannot run: k3d, if Docker can
    with pytest.raises(BadInput, match="docker is not installed"):
        choose("h", no_init, candidates())
    with pytest.raises(BadInput, match="no runtime"):  # nothing could start the engine
        choose("h", no_init, candidates(install_docker=True))
    with pytest.raises(BadInput, match="no runtime"):  # not root, no sudo
        choose("h", Platform("Linux", "openrc", "none", "absent"), candidates(install_docker=True))
    asked, not_asked = candidates(install_docker=True)[1][1], candidates()[1][1]
    assert K3D.fit(LINUX_SYSTEMD_ROOT, asked).ok and not K3D.fit(LINUX_SYSTEMD_ROOT, not_asked).ok


@pytest.mark.parametrize("platform", [Platform("Linux", "none", "root", "stopped"),
                                      Platform("Darwin", "none", "password", "stopped"),
                                      Platform("MINGW64_NT-10.0", "none", "none", "stopped")])
def test_status_reads_a_k3d_host_whose_docker_sleeps_where_up_refuses(platform):
    """A laptop's Docker after a sleep or a reboot: status reports the cluster out of reach
    (harmony.k3d.health); a verb that changes the host still says what to start."""
    choice = choose("h", platform, candidates(), reading=True)
    assert choice.runtime.name == "k3d" and choice.reason.startswith("Docker is installed but its engine does not answer")
    with pytest.raises(BadInput, match="no runtime"):
        choose("h", platform, candidates())
    with pytest.raises(BadInput, match="docker is not installed"):  # nothing there to read
        choose("h", Platform("Linux", "none", "root", "absent"), candidates(), reading=True)
