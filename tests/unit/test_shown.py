"""No value read from the environment (a `${VAR}` in harmony.yaml) appears in a message: its key
does; a long value is cut; and every refusal comes before any connection (the target here is a
port nothing listens on, so a connection would fail differently, and exit 1)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harmony import shown

SECRET = "TopSecretVal-31337"
UNREACHABLE = "root@127.0.0.1:9"


def harmony(tmp_path, text: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "harmony.yaml").write_text(text)
    return subprocess.run([sys.executable, "-m", "harmony", "plan", *args], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **(env or {})},
                          stdin=subprocess.DEVNULL, timeout=60)


def refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize("text,key", [
    (f"cluster: {{name: '${{NAME}}'}}\ntarget: {UNREACHABLE}\n", "cluster.name (from ${NAME})"),
    ("cluster: {name: 'x-${NAME}'}\ntarget: local\n", "cluster.name (from ${NAME})"),
    ("target: '${NAME}.example:99999'\n", "target (from ${NAME})"),
    ("target: 'root@${NAME}!'\n", "target (from ${NAME})"),
    ("target: 'inventories/${NAME}.py'\n", "target (from ${NAME})"),
    (f"target: {UNREACHABLE}\nworkloads: [{{name: web, manifests: '${{NAME}}/k8s'}}]\n",
     "workloads[0].manifests (from ${NAME})"),
    (f"target: {UNREACHABLE}\nworkloads: [{{name: db, helm: {{chart: c, values_files: ['${{NAME}}.yaml']}}}}]\n",
     "workloads[0].helm.values_files[0] (from ${NAME})"),
    (f"target: {UNREACHABLE}\nssh: {{key: 'keys/${{NAME}}'}}\n", "ssh.key (from ${NAME})"),
], ids=["k3d-name", "name", "port", "target", "inventory", "manifests", "values", "ssh-key"])
def test_a_value_from_the_environment_is_named_by_its_key_never_shown(tmp_path, text, key):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "Chart.yaml").write_text("name: c\nversion: 0.1.0\n")
    message = refusal(harmony(tmp_path, text, env={"NAME": SECRET}))
    assert SECRET not in message and SECRET.lower() not in message
    assert key in message


def test_a_long_value_is_cut_and_one_from_the_environment_never_shown(tmp_path):
    long = "v" * 100_000
    message = refusal(harmony(tmp_path, f"target: {UNREACHABLE}\n", "--name", f"{long}!"))
    assert f"invalid cluster name '{'v' * shown.LONG}...' (100,001 characters)" in message
    assert len(message) < 300
    message = refusal(harmony(tmp_path, "target: '${NAME}'\n", env={"NAME": f"{long}!"}))
    assert "unknown target target (from ${NAME}): give local" in message and "vvv" not in message
    message = refusal(harmony(tmp_path, f"target: {UNREACHABLE}\n", "--set", f"k3s_version={long}"))
    assert f"invalid k3s version '{'v' * shown.LONG}...' (100,000 characters)" in message  # made in k3s/settings.py
    message = refusal(harmony(tmp_path, f"target: 'root@{long}'\n"))
    assert f"'root@{'v' * (shown.LONG - 5)}...' (100,005 characters)" in message and len(message) < 300


def test_the_k3d_name_is_checked_before_the_runtime_is_chosen(tmp_path):
    """k3d may be chosen for one host from its facts: its cluster name is checked before they
    are read, with the way out for k3s."""
    message = refusal(harmony(tmp_path, f"cluster: {{name: Shop}}\ntarget: {UNREACHABLE}\n"))
    assert "invalid cluster name 'Shop' for k3d" in message and "--runtime k3s" in message
    message = refusal(harmony(tmp_path, f"cluster: {{name: Shop, runtime: k3d}}\ntarget: {UNREACHABLE}\n"))
    assert "invalid cluster name 'Shop' for k3d" in message and "--runtime k3s" not in message
    connecting = harmony(tmp_path, f"cluster: {{name: Shop, runtime: k3s}}\ntarget: {UNREACHABLE}\n")
    # a name k3s takes: on to the host, which does not answer (tmp_path names this test: "k3d" is in it)
    assert "for k3d" not in connecting.stderr and "runtime: k3s (asked for)" in connecting.stderr


def test_a_message_names_keys_for_whole_words_only_and_cuts_long_values(monkeypatch):
    monkeypatch.setattr(shown, "_FROM_ENVIRONMENT", {})  # none of other tests' projects
    shown.from_environment("s3cr", "PART", "cluster.name")
    assert shown.message("name 's3cr' at root@s3cr: s3cret stays") == \
        "name cluster.name (from ${PART}) at root@cluster.name (from ${PART}): s3cret stays"
    assert shown.value("s3cr") == shown.value("root@s3cr:22") == "cluster.name (from ${PART})"
    assert shown.value("s3cret") == "'s3cret'"
    assert shown.value("x\ntouch /tmp/pwned\t") == "'x\\ntouch /tmp/pwned\\t'"  # one line, whatever it holds
    path = "/home/me/src/" + "p" * 100 + "/harmony.yaml"
    assert shown.message(f"{path}: a 'short value' and 'x{'y' * 80}' and $z{'z' * 300}") == \
        f"{path}: a 'short value' and 'x{'y' * 59}...' (81 characters) and '${'z' * 59}...' (302 characters)"
