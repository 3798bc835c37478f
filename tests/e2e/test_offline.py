"""Offline `plan` and `check` (issue #28): with no route to the channel server or the release
site, the example project's plan says what `up` would install and from where, names what it
cannot know and why, and ends with exit 3; `up` still stops before touching anything, with one
line; a pinned version is checked as far as it is known (config included), exit 3 or 1.

Offline here is a proxy that refuses every connection (HTTPS_PROXY): the real default URLs stay
in place, as a newcomer without internet has them; the mirror (plain http) is not proxied."""

from __future__ import annotations

import json

from tests.e2e.conftest import EXAMPLE, NEW, assert_untouched, one_error_line

NO_ROUTE = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
CHANNEL = "https://update.k3s.io/v1-release/channels/stable"


def test_offline_the_examples_plan_says_what_is_known_and_up_stops_with_one_line(harmony, host):
    over_ssh = [host.target, "--ssh-key", str(harmony.ssh_key)]

    plan = harmony("plan", *over_ssh, "--json", cwd=EXAMPLE, env=NO_ROUTE)
    assert plan.returncode == 3, plan.stdout + plan.stderr
    said = json.loads(plan.stdout)
    assert (said["command"], said["cluster"], said["ok"], said["exit"]) == ("plan", "shop", False, 3)
    assert (said["runtime"], said["version"]) == ("k3s", None)
    unknown = {u["what"]: u["why"] for u in said["unknown"]}
    assert unknown.pop("VERSION: the stable channel's current k3s release").startswith(f"cannot reach {CHANNEL}: ")
    assert list(unknown) == ["what up's steps would change on each host (its files, config and service)"]
    (planned,) = said["hosts"]
    assert planned["status"] == "would change" and planned["installed"] is None
    binary = "https://github.com/k3s-io/k3s/releases/download/VERSION/k3s"  # the test host is x86_64
    assert planned["downloads"] == [binary]
    assert planned["reason"] == f"has no k3s: up would install k3s VERSION from {binary}"

    text = harmony("plan", *over_ssh, cwd=EXAMPLE, env=NO_ROUTE)
    assert text.returncode == 3, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert f"{planned['host']}: would change: has no k3s: up would install k3s VERSION from {binary}" in lines
    assert "release: k3s VERSION, run by k3s" in lines
    assert any(line.startswith(f"unknown: VERSION: the stable channel's current k3s release (cannot reach {CHANNEL}: ")
               for line in lines), lines
    assert ("workloads: the cluster's API does not answer yet: up would create every object of the 3 workload(s) "
            "(web, cache, status)") in lines
    assert lines[-1].startswith("1 host: 1 would change, 0 nothing to change, 0 would fail in ")

    up = harmony("up", *over_ssh, "--yes", cwd=EXAMPLE, env=NO_ROUTE)
    assert up.returncode == 2
    assert f"cannot reach the k3s channel server at {CHANNEL}: " in one_error_line(up)
    assert_untouched(host)

    # Installed, then checked offline against the version pinned: its checksums are not known,
    # all the rest is compared.
    assert harmony.up(host).returncode == 0
    no_site = [*over_ssh, "--version", NEW, "--release-url", "https://127.0.0.1:9/k3s", "--kubeconfig-server",
               host.api_url, "--json"]
    check = harmony("check", *no_site)
    assert check.returncode == 3, check.stdout + check.stderr
    said = json.loads(check.stdout)
    assert (said["drifted"], said["version"], said["hosts"][0]["status"]) == (False, NEW, "unknown")
    assert [u["what"] for u in said["unknown"]] == [f"the sha256 of k3s {NEW}'s downloads"]
    labelled = harmony("check", *no_site, "--set", 'k3s_node_labels={"site": "berlin"}')
    assert labelled.returncode == 1, labelled.stdout + labelled.stderr
    assert "would change: Write config.yaml" in json.loads(labelled.stdout)["hosts"][0]["differences"]
