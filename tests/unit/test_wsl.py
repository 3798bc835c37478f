"""WSL 2 (`harmony.wsl`), simulated on Linux: the markers of a WSL distribution, and Windows
asked where its kubeconfig is through stand-ins of `cmd.exe` (CRLF lines, as Windows writes
them) and `wslpath` (drive C: under a temporary directory), on PATH as WSL's interop puts them;
then harmony's context merged into that file beside another tool's, and removed again."""

import os
import stat
import sys

import pytest
import yaml

from harmony import kubeconfig, wsl
from tests.unit.test_kubeconfig import FETCHED

pwd = pytest.importorskip("pwd", reason="WSL's harmony runs in Linux: simulated on a POSIX controller")

POSIX = pytest.mark.skipif(sys.platform != "linux", reason="WSL distributions are Linux")
OTHER = {"apiVersion": "v1", "kind": "Config", "current-context": "docker-desktop",
         "clusters": [{"name": "docker-desktop", "cluster": {"server": "https://kubernetes.docker.internal:6443"}}],
         "users": [{"name": "docker-desktop", "user": {"token": "theirs"}}],
         "contexts": [{"name": "docker-desktop", "context": {"cluster": "docker-desktop", "user": "docker-desktop"}}]}


@pytest.mark.parametrize("release,environ,marker,found", [
    ("5.15.167.4-microsoft-standard-WSL2", {"WSL_DISTRO_NAME": "Ubuntu"}, True, True),
    ("5.15.167.4-microsoft-standard-WSL2", {}, True, True),  # a process started without WSL's environment
    ("4.4.0-19041-Microsoft", {}, True, True),  # WSL 1's kernel says so too
    ("6.1.0-13-amd64", {"WSL_DISTRO_NAME": "Ubuntu"}, False, True),  # a custom kernel, interop off
    ("5.15.167.4-microsoft-standard-WSL2", {}, False, False),  # a container of Docker Desktop on Windows
    ("6.6.36-custom", {}, True, False),  # some other binfmt registered under that name: not Microsoft's kernel
    ("6.1.0-13-amd64", {}, False, False),  # Debian
    ("23.6.0", {"WSL_DISTRO_NAME": ""}, False, False),  # macOS's Darwin release
])
def test_a_wsl_distribution_is_known_by_any_of_its_markers(tmp_path, release, environ, marker, found):
    interop = tmp_path / "WSLInterop"
    if marker:
        interop.write_text("enabled\n")
    assert wsl.detected(release, environ, (str(interop), str(tmp_path / "WSLInterop-late"))) is found


def test_only_the_login_users_own_kubeconfig_is_mirrored(tmp_path):
    home = pwd.getpwuid(os.getuid()).pw_dir
    assert wsl.own_kubeconfig({"HOME": home})
    assert not wsl.own_kubeconfig({"HOME": home, "KUBECONFIG": "/tmp/k"})  # a file the user chose
    assert not wsl.own_kubeconfig({"HOME": str(tmp_path)})  # a test's home, say


@pytest.fixture
def windows(tmp_path, monkeypatch):
    """A Windows profile under tmp_path/c (C:), and the tools WSL's interop gives Linux."""
    drive, tools = tmp_path / "c", tmp_path / "tools"
    (drive / "Users" / "ann").mkdir(parents=True)
    tools.mkdir()
    scripts = {
        # cmd.exe /d /c echo %NAME%: the variable's value, or the name itself where it is unset, as cmd does
        "cmd.exe": 'case "$4" in %USERPROFILE%) v="C:\\Users\\ann" ;; %KUBECONFIG%) v="${WIN_KUBECONFIG:-$4}" ;; esac\n'
                   'printf "%s\\r\\n" "$v"',
        "wslpath": f'[ "$1" = -u ] && printf "%s\\n" "$2" | tr "\\\\\\\\" / | sed "s|^C:|{drive}|"',
    }
    for name, body in scripts.items():
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("WSL_DISTRO_NAME", "Ubuntu")
    monkeypatch.setenv("HOME", pwd.getpwuid(os.getuid()).pw_dir)  # only what Windows' side is decided from:
    monkeypatch.delenv("KUBECONFIG", raising=False)  # the tests write no file under it
    return drive / "Users" / "ann" / ".kube" / "config"


def test_windows_is_asked_where_its_kubeconfig_is(windows, tmp_path, monkeypatch):
    found = wsl.windows_kubeconfig(tmp_path / "here")
    assert found == wsl.WindowsKubeconfig(windows, "C:\\Users\\ann\\.kube\\config")
    monkeypatch.setenv("WIN_KUBECONFIG", "C:\\k\\first.yaml;C:\\k\\second.yaml")  # kubectl's first file
    assert wsl.windows_kubeconfig(tmp_path / "here").path == tmp_path / "c" / "k" / "first.yaml"


@POSIX
def test_harmonys_context_is_merged_into_windows_kubeconfig_beside_the_others(windows, tmp_path):
    windows.parent.mkdir()
    windows.write_text(yaml.safe_dump(OTHER))
    new = kubeconfig.for_cluster(FETCHED, "dev", "https://127.0.0.1:6443")
    said = wsl.mirrored(tmp_path / "here", lambda existing: kubeconfig.merged(existing, new, "dev", False))
    assert said == "harmony's context merged into Windows' kubeconfig C:\\Users\\ann\\.kube\\config too (WSL 2)"
    merged = yaml.safe_load(windows.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["docker-desktop", "dev"]
    assert merged["current-context"] == "docker-desktop" and merged["users"][0] == OTHER["users"][0]
    assert merged["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:6443"  # both sides reach it so
    assert stat.S_IMODE(windows.stat().st_mode) == 0o600

    said = wsl.mirrored(tmp_path / "here", lambda existing: kubeconfig.without(existing, "dev"), create=False)
    assert said.startswith("harmony's context removed from Windows' kubeconfig")
    assert yaml.safe_load(windows.read_text())["contexts"] == OTHER["contexts"]


@POSIX
def test_down_creates_no_windows_kubeconfig_and_an_unreadable_one_is_left_alone(windows, tmp_path):
    assert wsl.mirrored(tmp_path / "here", lambda existing: existing, create=False) == ""
    assert not windows.exists()
    windows.parent.mkdir()
    windows.write_text("- not a kubeconfig\n")
    said = wsl.mirrored(tmp_path / "here", lambda existing: {"clusters": []})
    assert said.startswith("Windows' kubeconfig C:\\Users\\ann\\.kube\\config left as it was: cannot read kubeconfig")
    assert windows.read_text() == "- not a kubeconfig\n"


@POSIX
def test_the_same_file_on_both_sides_is_written_once(windows, tmp_path):
    windows.parent.mkdir()
    here = tmp_path / "linked"
    here.symlink_to(windows)  # ~/.kube/config linked to Windows' file, as some set it up
    assert wsl.mirrored(here, lambda existing: {"written": True}) == ""
    assert not windows.exists()


@POSIX
def test_without_interop_the_run_says_how_windows_reads_the_distributions(windows, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no cmd.exe (interop off, or Windows' PATH not appended)
    monkeypatch.setattr(wsl, "CMD", str(tmp_path / "absent" / "cmd.exe"))
    said = wsl.mirrored(tmp_path / "home" / ".kube" / "config", lambda existing: existing)
    assert said.startswith("Windows' kubeconfig: cannot ask Windows where its kubeconfig is (")
    assert said.endswith(f"Windows' kubectl reads this one with KUBECONFIG=\\\\wsl.localhost\\Ubuntu"
                         f"{tmp_path}\\home\\.kube\\config".replace("/", "\\"))


def test_elsewhere_nothing_is_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(wsl, "detected", lambda: False)  # this machine, whatever it is, as a plain Linux
    monkeypatch.setattr(wsl, "windows_kubeconfig", lambda here: pytest.fail("Windows asked outside WSL"))
    assert wsl.mirrored(tmp_path / "config", lambda existing: existing) == ""


@POSIX
def test_forgetting_a_cluster_drops_its_context_on_both_sides(windows, tmp_path, monkeypatch):
    from harmony.steps.cluster import forget_cluster

    here = tmp_path / "here"
    monkeypatch.setattr(kubeconfig, "default_path", lambda: here)  # not this machine's own ~/.kube/config
    both = kubeconfig.merged(OTHER, kubeconfig.for_cluster(FETCHED, "dev", "https://127.0.0.1:6443"), "dev", True)
    windows.parent.mkdir()
    for path in (here, windows):
        kubeconfig.write(path, both)
    said = forget_cluster("dev")
    assert said == "harmony's context removed from Windows' kubeconfig C:\\Users\\ann\\.kube\\config too (WSL 2)"
    for path in (here, windows):
        assert [c["name"] for c in yaml.safe_load(path.read_text())["contexts"]] == ["docker-desktop"]


def test_what_is_said_of_windows_kubeconfig_is_in_the_text_and_in_json():
    import json
    from types import SimpleNamespace

    from harmony.report import UP, Report
    from harmony.steps.cluster import say_windows

    flow = SimpleNamespace(report=Report("up", "dev", [], UP))
    say_windows(flow, "")
    assert flow.report.notes == [] and "windows_kubeconfig" not in json.loads(flow.report.as_json())
    say_windows(flow, "harmony's context merged into Windows' kubeconfig C:\\Users\\ann\\.kube\\config too (WSL 2)")
    assert flow.report.text()[0].startswith("harmony's context merged into Windows' kubeconfig")
    assert json.loads(flow.report.as_json())["windows_kubeconfig"].endswith("too (WSL 2)")
