"""A node's turn swaps its staged files in for those k3s runs on, and can put them all back:
the commands run here by a real shell, over files in a temporary directory."""

from __future__ import annotations

import subprocess

from harmony.k3s import paths
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.phases.p6_start import swap
from harmony.k3s.settings import from_data
from harmony.k3s.facts import HostState


def sh(command: str) -> None:
    subprocess.run(["sh", "-c", command], check=True, timeout=10)


def contents(directory) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def turn(tmp_path):
    """A node whose binary and config have new versions staged, whose registries.yaml goes, and
    which gets a token file it had not."""
    binary, config, registries, token = (str(tmp_path / name) for name in ("k3s", "config.yaml", "registries.yaml",
                                                                            "token"))
    for path, text in ((binary, "old k3s"), (config, "old config"), (registries, "mirrors")):
        (tmp_path / path).write_text(text)
    for path, text in ((binary, "new k3s"), (config, "new config"), (token, "K10secret")):
        (tmp_path / paths.staged(path)).write_text(text)
    node = K3sHostRun("h", from_data({}, "h"), resolved=None, state=HostState(init="openrc"),
                placed=[binary, config, token], removed=[registries])
    return swap(node)


def test_the_turn_puts_every_staged_file_in_place_keeping_what_k3s_ran_on_until_forgotten(tmp_path):
    commands = turn(tmp_path)
    sh(commands.place)
    assert contents(tmp_path) == {
        ".config.yaml.harmony-previous": "old config", ".k3s.harmony-previous": "old k3s",
        ".registries.yaml.harmony-previous": "mirrors",
        "config.yaml": "new config", "k3s": "new k3s", "token": "K10secret"}
    sh(commands.forget)
    assert contents(tmp_path) == {"config.yaml": "new config", "k3s": "new k3s", "token": "K10secret"}
    assert commands.files == "k3s, config.yaml, token, registries.yaml"


def test_a_failed_turn_puts_back_every_file_as_it_was(tmp_path):
    commands = turn(tmp_path)
    before = {name: text for name, text in contents(tmp_path).items() if not name.startswith(".")}
    sh(commands.place)
    sh(commands.put_back)
    assert {name: text for name, text in contents(tmp_path).items() if not name.startswith(".")} == before
    assert not any(name.endswith("harmony-previous") for name in contents(tmp_path))


def test_nothing_staged_is_no_turn():
    assert swap(K3sHostRun("h", from_data({}, "h"), resolved=None, state=HostState(init="systemd"))) is None


def test_a_changed_unit_is_reloaded_in_the_turn_and_after_putting_back():
    unit = "/etc/systemd/system/k3s.service"
    commands = swap(K3sHostRun("h", from_data({}, "h"), resolved=None, state=HostState(init="systemd"), placed=[unit]))
    assert unit in commands.place and commands.place.endswith("&& systemctl daemon-reload")
    assert commands.put_back.endswith("&& systemctl daemon-reload")
