"""harmony lab's checks: the Vagrantfile's place, the provider choice (with provider use faked)."""

import pytest

from harmony import lab
from harmony.errors import BadInput


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
