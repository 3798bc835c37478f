"""Where k3d goes on each platform (`harmony.k3d.bindir`), with the platform simulated: the host
fact's own script run by sh with `uname`, `id` and `cygpath` standing in for macOS's, Windows'
(Git for Windows' MSYS) and root's, and what the install step says of the place."""

import subprocess
from pathlib import Path

import pytest

from harmony.k3d import bindir, hostrun
from harmony.k3d.facts import K3dHost
from harmony.k3d.settings import from_data

LOCALAPPDATA = r"C:\Users\Ann O'Neil\AppData\Local"
MSYS_LOCALAPPDATA = "/c/Users/Ann O'Neil/AppData/Local"  # as MSYS's `cygpath -u` writes it


def fact_on(tmp_path: Path, system: str, uid: int = 1000, bin_dir: str = "", path: str = "", shell: str = "/bin/bash"):
    """The K3dHost fact's state, its script run as on a host whose `uname -s` is `system`."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    fakes = {
        "uname": f'case "$1" in -s) echo {system} ;; -m) echo x86_64 ;; esac',
        "id": f"echo {uid}",
        "cygpath": f'[ "$1 $2" = "-u $LOCALAPPDATA" ] && echo "{MSYS_LOCALAPPDATA}"',  # MSYS's, for this one
        "docker": "exit 1",
    }
    for name, body in fakes.items():
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{path}:{tools}:/usr/bin:/bin", "HOME": str(home), "SHELL": shell, "LOCALAPPDATA": LOCALAPPDATA}
    done = subprocess.run(["sh", "-c", K3dHost().command(bin_dir=bin_dir)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return K3dHost().process(done.stdout.splitlines()), home


def k3d_path(state) -> str:
    return hostrun.paths_of(state, from_data({}, "@local")).k3d


def test_linux_without_root_uses_local_bin(tmp_path):
    state, home = fact_on(tmp_path, "Linux")
    assert k3d_path(state) == f"{home}/.local/bin/k3d"
    assert not state.on_path and state.shell == "bash"


def test_linux_as_root_uses_usr_local_bin(tmp_path):
    state, _ = fact_on(tmp_path, "Linux", uid=0, path="/usr/local/bin")
    assert k3d_path(state) == "/usr/local/bin/k3d" and state.on_path


def test_macos_uses_local_bin_and_finds_it_on_the_path(tmp_path):
    home = tmp_path / "home"
    state, _ = fact_on(tmp_path, "Darwin", path=f"{home}/.local/bin/", shell="/bin/zsh")
    assert k3d_path(state) == f"{home}/.local/bin/k3d"
    assert state.on_path and state.shell == "zsh"


def test_windows_uses_localappdata_and_the_exe(tmp_path):
    state, _ = fact_on(tmp_path, "MINGW64_NT-10.0-19045")
    assert k3d_path(state) == "/c/Users/Ann O'Neil/AppData/Local/harmony/bin/k3d.exe"
    assert hostrun.asset(state.system, state.arch).name == "k3d-windows-amd64.exe"
    assert not state.on_path


def test_k3d_bin_dir_wins_everywhere(tmp_path):
    for system in ("Linux", "Darwin", "MSYS_NT-10.0"):
        state, _ = fact_on(tmp_path, system, bin_dir="/opt/my tools", path="/opt/my tools")
        assert k3d_path(state) == f"/opt/my tools/{bindir.executable(system)}" and state.on_path


def test_the_fact_reads_the_installed_exe_on_windows(tmp_path):
    directory = tmp_path / "bin"
    directory.mkdir()
    (directory / "k3d.exe").write_text("#!/bin/sh\necho '[]'\n")
    (directory / "k3d.exe").chmod(0o755)
    state, _ = fact_on(tmp_path, "CYGWIN_NT-10.0", bin_dir=str(directory))
    # MSYS makes modes up, so a Windows host's are not compared (`harmony.facts.UNKEPT`): it has 755 as far as it keeps one
    assert set(state.files) == {f"{directory}/k3d.exe"} and state.files[f"{directory}/k3d.exe"].has_mode("755")


@pytest.mark.parametrize("system,shell,directory,on_path,said", [
    ("Linux", "bash", "/usr/local/bin", True, "into /usr/local/bin (on your PATH)"),
    ("Linux", "bash", "/home/a/.local/bin", False,
     "into /home/a/.local/bin (not on your PATH, which harmony does not need. To type k3d: "
     "echo 'export PATH=\"/home/a/.local/bin:$PATH\"' >> ~/.bashrc, then open a new terminal)"),
    ("Darwin", "zsh", "/Users/a/.local/bin", False,
     "echo 'export PATH=\"/Users/a/.local/bin:$PATH\"' >> ~/.zprofile"),
    ("Darwin", "bash", "/Users/a/.local/bin", False, ">> ~/.bash_profile"),
    ("Linux", "dash", "/home/a/.local/bin", False, ">> ~/.profile"),
    ("Darwin", "fish", "/Users/a b/.local/bin", False, "To type k3d: fish_add_path '/Users/a b/.local/bin'"),
    ("MINGW64_NT-10.0", "bash", "/c/Users/Ann O'Neil/AppData/Local/harmony/bin", False,
     "into C:\\Users\\Ann O'Neil\\AppData\\Local\\harmony\\bin (not on your PATH, which harmony does not need. "
     "To type k3d: in PowerShell, [Environment]::SetEnvironmentVariable('Path', [Environment]::GetEnvironmentVariable("
     "'Path', 'User') + ';C:\\Users\\Ann O''Neil\\AppData\\Local\\harmony\\bin', 'User'), then open a new "
     "terminal)"),
    ("MINGW64_NT-10.0", "bash", "/d/k3d", True, "into D:\\k3d (on your PATH)"),
])
def test_the_install_step_says_where_and_how_to_put_it_on_the_path(system, shell, directory, on_path, said):
    text = bindir.where(system, shell, directory, on_path)
    assert said in text
    assert ";" not in text.replace(";C:", "")  # the report's separator of phases, but in PowerShell's string


def test_the_install_step_names_the_place_and_installs_the_exe_there(tmp_path, monkeypatch):
    """The binary phase's one operation, as it declares it for a Windows host read by the fact."""
    from harmony.k3d.hostrun import K3dHostRun
    from harmony.k3d.phases import p2_binary
    from harmony.resolved import Resolved

    state, _ = fact_on(tmp_path, "MINGW64_NT-10.0-19045")
    node = K3dHostRun(from_data({}, "@local"), Resolved("k3d", "v1.31.4+k3s1"), state=state)
    node.resolved.sha256[node.k3d_url] = "0" * 64
    declared = []
    monkeypatch.setattr(p2_binary.operations, "binary", lambda **given: declared.append(given))
    monkeypatch.setattr(p2_binary.runlock, "run_process", lambda host: "")
    assert node.k3d_url.endswith("/k3d-windows-amd64.exe") and p2_binary.should_run(node)
    p2_binary.run(node)
    (given,) = declared
    assert given["dest"] == "/c/Users/Ann O'Neil/AppData/Local/harmony/bin/k3d.exe"
    assert given["name"].startswith("Install k3d v5.7.4 into C:\\Users\\Ann O'Neil\\AppData\\Local\\harmony\\bin "
                                    "(not on your PATH")
