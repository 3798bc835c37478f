import pytest

from harmony import releases
from harmony.errors import BadInput


@pytest.mark.parametrize("version", ["v1.31.4+k3s1", "v1.30.10+k3s2", "v1.32.0-rc1+k3s1"])
def test_valid_versions(version):
    assert releases.check_version(version) == version


@pytest.mark.parametrize("version", ["1.31.4+k3s1", "v1.31.4", "v1.31+k3s1", "latest", "v1.31.4+k3s1\n"])
def test_invalid_versions_name_the_expected_form(version):
    with pytest.raises(BadInput, match="expected a release tag like v1.31.4"):
        releases.check_version(version)


@pytest.mark.parametrize("channel", ["stable", "latest", "testing", "v1.31"])
def test_valid_channels(channel):
    assert releases.check_channel(channel) == channel


def test_invalid_channel():
    with pytest.raises(BadInput, match="invalid k3s channel 'newest'"):
        releases.check_channel("newest")


@pytest.mark.parametrize("machine,asset,sums", [
    ("x86_64", "k3s", "sha256sum-amd64.txt"),
    ("aarch64", "k3s-arm64", "sha256sum-arm64.txt"),
    ("armv7l", "k3s-armhf", "sha256sum-arm.txt"),
])
def test_assets_follow_the_install_script(machine, asset, sums):
    assert releases.asset_for(machine) == releases.Asset(asset, sums)


def test_unsupported_architecture():
    with pytest.raises(BadInput, match="no release for architecture 'mips'"):
        releases.asset_for("mips")


def test_download_url_escapes_the_plus():
    url = releases.download_url("https://example.net/dl/", "v1.31.4+k3s1", "k3s")
    assert url == "https://example.net/dl/v1.31.4%2Bk3s1/k3s"
