"""harmony lab's checks: the Vagrantfile's place, the provider choice (with provider use faked)."""

import os

import pytest

from harmony import lab
from harmony.errors import BadInput, RunFailed


def test_the_vagrantfile_is_found_upwards(tmp_path):
    (tmp_path / "Vagrantfile").write_text("")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert lab.vagrantfile_dir(tmp_path / "a" / "b") == tmp_path.resolve()


def test_no_vagrantfile_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no Vagrantfile here or above"):
        lab.vagrantfile_dir(tmp_path)


@pytest.fixture
def usable(monkeypatch):
    providers = set()
    monkeypatch.setattr(lab, "_usable", lambda provider: provider in providers)
    monkeypatch.delenv("VAGRANT_DEFAULT_PROVIDER", raising=False)
    return providers


def test_the_first_usable_provider_is_chosen(usable):
    usable.update({"docker", "virtualbox"})
    assert lab.choose_provider(None) == "virtualbox"
    assert lab.choose_provider("docker") == "docker"


def test_an_unusable_or_missing_provider_says_how_to_get_one(usable, monkeypatch):
    with pytest.raises(BadInput, match="provider libvirt is not usable here: install the vagrant-libvirt plugin"):
        lab.choose_provider("libvirt")
    with pytest.raises(BadInput, match="no Vagrant provider is usable here: .*sudo apt-get install docker.io"):
        lab.choose_provider(None)
    monkeypatch.setenv("VAGRANT_DEFAULT_PROVIDER", "hyperv")
    with pytest.raises(BadInput, match="unknown provider 'hyperv'"):
        lab.choose_provider(None)


@pytest.fixture
def scripted_vagrant(tmp_path, monkeypatch):
    """A `vagrant` on PATH that answers each call with the next scripted (output, exit code) and
    logs its arguments: harmony's handling of vagrant's exit, not Vagrant, is under test here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"

    def script(*answers):
        cases = "\n".join(f"  {n}) printf '%s\\n' '{output}'; exit {code};;"
                          for n, (output, code) in enumerate(answers, start=1))
        (bin_dir / "vagrant").write_text(
            "#!/bin/sh\n"
            f'echo "$*" >> {calls}\n'
            f"n=$(wc -l < {calls})\n"
            f'case "$n" in\n{cases}\nesac\nexit 99\n')
        (bin_dir / "vagrant").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        return lambda: calls.read_text().splitlines()
    return script


def test_an_up_that_lost_a_container_to_a_race_is_run_once_more(scripted_vagrant, tmp_path, capsys):
    calls = scripted_vagrant(("Stderr: Error: No such object: 3877390609", 1), ("Machine booted and ready!", 0))
    lab.vagrant("up", "--provider", "docker", directory=tmp_path)
    assert calls() == ["up --provider docker"] * 2
    captured = capsys.readouterr()
    assert "No such object" in captured.err and "Machine booted and ready!" in captured.err and not captured.out
    assert "running it once more" in captured.err


def test_other_failures_and_a_second_race_are_not_retried(scripted_vagrant, tmp_path):
    calls = scripted_vagrant(("The box could not be found", 1))
    with pytest.raises(RunFailed, match=r"vagrant up failed \(exit 1\)"):
        lab.vagrant("up", directory=tmp_path)
    assert len(calls()) == 1

    tmp_path.joinpath("calls").unlink()
    calls = scripted_vagrant(("Error response from daemon: network 9f2 not found", 1),
                             ("Error: No such object: 1a2b", 1))
    with pytest.raises(RunFailed, match=r"vagrant up failed \(exit 1\)"):
        lab.vagrant("up", directory=tmp_path)
    assert len(calls()) == 2

    tmp_path.joinpath("calls").unlink()
    calls = scripted_vagrant(("Error: No such object: 1a2b", 1))
    with pytest.raises(RunFailed, match=r"vagrant destroy failed"):
        lab.vagrant("destroy", "-f", directory=tmp_path)
    assert len(calls()) == 1
