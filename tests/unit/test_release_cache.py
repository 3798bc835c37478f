"""The controller's cache of release checksum files: kept whole, keyed by URL, checked when read;
and a release's downloads resolved from them."""

import json

import httpx
import pytest

from harmony import fetch, localstate, releases
from harmony.errors import BadInput

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


class Site:
    """The release site's answers by file name (the HTTP itself is tested end to end), and what
    was asked of it."""

    def __init__(self, files: dict[str, str]):
        self.files, self.asked = files, []

    def get(self, url, *_, **__):
        name = url.rsplit("/", 1)[1]
        self.asked.append(name)
        text = self.files.get(name)
        return httpx.Response(404 if text is None else 200, text=text or "Not Found")


@pytest.fixture
def site(monkeypatch):
    def make(files):
        answers = Site(files)
        monkeypatch.setattr(fetch, "get", answers.get)
        return answers
    return make


RELEASE = "https://example.net/k3s-io/k3s/releases/download"


def test_every_architecture_published_is_resolved_and_one_left_out_is_remembered(site):
    answers = site({"sha256sum-amd64.txt": TEXT, "sha256sum-arm64.txt": f"{'d' * 64}  k3s-arm64\n",
                    "sha256sum-arm.txt": f"{'e' * 64}  k3s-armhf\n"})
    found = releases.k3s_downloads.__wrapped__(RELEASE, "v1.31.4+k3s1")
    assert found == {f"{RELEASE}/v1.31.4%2Bk3s1/k3s": "a" * 64,
                     f"{RELEASE}/v1.31.4%2Bk3s1/k3s-arm64": "d" * 64,
                     f"{RELEASE}/v1.31.4%2Bk3s1/k3s-armhf": "e" * 64}
    assert sorted(answers.asked) == ["sha256sum-amd64.txt", "sha256sum-arm.txt", "sha256sum-arm64.txt",
                                     "sha256sum-s390x.txt"]
    answers.asked.clear()
    assert releases.k3s_downloads.__wrapped__(RELEASE, "v1.31.4+k3s1") == found
    assert answers.asked == []  # s390x too: the release is out without it


def test_a_release_with_no_checksum_file_is_not_found_and_not_remembered(site):
    answers = site({})
    with pytest.raises(BadInput, match=r"k3s v1.99.0\+k3s1 not found: .*sha256sum-amd64.txt does not exist"):
        releases.k3s_downloads.__wrapped__(RELEASE, "v1.99.0+k3s1")
    answers.files["sha256sum-amd64.txt"] = TEXT  # published since
    assert list(releases.k3s_downloads.__wrapped__(RELEASE, "v1.99.0+k3s1").values()) == ["a" * 64]
