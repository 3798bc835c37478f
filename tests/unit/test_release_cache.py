"""The controller's cache of release checksum files: kept whole, keyed by URL, checked when read."""

import json

import pytest

from harmony import localstate, releases

URL = "https://example.net/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/sha256sum-amd64.txt"
TEXT = f"{'a' * 64}  k3s\n{'b' * 64}  k3s-airgap-images-amd64.tar.zst\n"


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_kept_text_is_read_back_by_its_url_only():
    localstate.keep(URL, TEXT)
    assert localstate.cached(URL) == TEXT
    assert localstate.cached(URL.replace("v1.31.4", "v1.31.5")) is None


@pytest.mark.parametrize("damage", [
    lambda entry: {**entry, "text": entry["text"].replace("a", "c", 1)},  # edited
    lambda entry: {**entry, "url": "https://elsewhere/x"},  # another URL's entry
    lambda entry: "not an entry",
])
def test_a_damaged_entry_is_not_used(cache_home, damage):
    localstate.keep(URL, TEXT)
    (path,) = (cache_home / "harmony" / "checksums").iterdir()
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert localstate.cached(URL) is None


def test_a_truncated_entry_is_not_used(cache_home):
    localstate.keep(URL, TEXT)
    (path,) = (cache_home / "harmony" / "checksums").iterdir()
    path.write_text(path.read_text()[:40])
    assert localstate.cached(URL) is None


def test_checksum_lines_as_sha256sum_writes_them():
    text = f"{'a' * 64}  k3s\n{'b' * 64} *k3s-arm64\nnot a checksum line\n{'c' * 63}  short\n"
    assert releases.parse_checksums(text) == {"k3s": "a" * 64, "k3s-arm64": "b" * 64}
