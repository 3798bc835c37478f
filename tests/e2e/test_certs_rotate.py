"""`harmony certs rotate` on a cluster of two servers and an agent whose certificates expire in
20 days: node by node (servers first), the API answering throughout, every certificate new
afterwards and the merged kubeconfig working; `--within` leaving fresh ones alone; a failed
turn stopping the rollout there; a server's turn refused where the other server is out of the
run (etcd's quorum). One cluster for all of it."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request

from tests.e2e.conftest import write_inventory

AGENT_UNIT = "k3s-agent"
CERTS = "find /var/lib/rancher/k3s/server/tls /var/lib/rancher/k3s/agent -maxdepth 2 -name '*.crt' " \
        "! -name '*-ca.crt' ! -path '*/tls-*' -exec sha256sum {} + 2>/dev/null; true"


class ApiWatch:
    """Asks every server's API /ping (no credentials) while a run goes on: each sample, which answered."""

    def __init__(self, urls: list[str]) -> None:
        self.urls, self.samples = urls, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._context = ssl.create_default_context()
        self._context.check_hostname, self._context.verify_mode = False, ssl.CERT_NONE

    def _answers(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(f"{url}/ping", context=self._context, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append([url for url in self.urls if self._answers(url)])
            self._stop.wait(0.2)

    def __enter__(self) -> ApiWatch:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def certificates(host) -> dict[str, str]:
    """Each leaf certificate file of the node, by path: its sha256."""
    return {path: digest for digest, path in (line.split() for line in host.sh(CERTS).splitlines())}


def test_certs_rotate_rolls_node_by_node_with_the_api_answering_and_keeps_quorum(harmony, start_host, tmp_path):
    s1, s2, a1 = start_host(), start_host(), start_host()
    for server in (s1, s2):  # new leaf certificates valid 20 days (the agent's come from its server)
        server.write("/etc/default/k3s", "CATTLE_NEW_SIGNED_CERT_EXPIRATION_DAYS=20\n")
    inventory = write_inventory(tmp_path / "edge.py",
                                servers={"s1": (s1, {"k3s_node_name": "s1"}), "s2": (s2, {"k3s_node_name": "s2"})},
                                agents={"a1": (a1, {"k3s_node_name": "a1"})})
    assert harmony.up_cluster(inventory, s1).returncode == 0
    args = (str(inventory), "--ssh-user", "root", "--ssh-key", str(harmony.ssh_key), "--kubeconfig-server", s1.api_url)

    check = harmony("check", *args, *harmony.release_args())
    assert check.returncode == 1, check.stdout + check.stderr
    for name in ("s1", "s2", "a1"):
        line = next(line for line in check.stdout.splitlines() if line.startswith(f"{name}: "))
        assert "within 30 days" in line and "harmony certs rotate" in line, line
    assert harmony("certs", "rotate", *args).returncode == 2  # no terminal to ask: --yes

    plan = harmony("certs", "rotate", *args, "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for name in ("s1", "s2", "a1"):
        line = next(line for line in plan.stdout.splitlines() if line.startswith(f"{name}: "))
        assert "would change" in line and "Rotate the certificates and restart k3s" in line, line
        assert "client-admin.crt expires in 19 days" in line or "expires in 20 days" in line or \
            "expires in 19 days" in line, line
    assert not s1.exists("/var/lib/rancher/k3s/server/tls-*")

    before = {h.name: (certificates(h), h.started_at(u)) for h, u in ((s1, "k3s"), (s2, "k3s"), (a1, AGENT_UNIT))}
    old_config = harmony.kubeconfig.read_text()
    for server in (s1, s2):
        server.sh("rm /etc/default/k3s")  # rotated certificates get k3s's 365 days
    with ApiWatch([s1.api_url, s2.api_url]) as watch:
        rotated = harmony("certs", "rotate", *args, "--yes", "--json")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    report = json.loads(rotated.stdout)
    assert report["summary"]["rotated"] == 3, report
    assert len(watch.samples) > 5 and all(watch.samples), watch.samples  # at every sample a server answered
    assert any(len(sample) < 2 for sample in watch.samples)  # and each server was down in its turn
    started = {h.name: h.started_at(u) for h, u in ((s1, "k3s"), (s2, "k3s"), (a1, AGENT_UNIT))}
    assert before[s1.name][1] < started[s1.name] < started[s2.name] < started[a1.name]
    for host in (s1, s2, a1):
        old, new = before[host.name][0], certificates(host)
        assert set(new) == set(old) and all(new[path] != old[path] for path in old), (host.name, old, new)
    assert s1.sh("ls -d /var/lib/rancher/k3s/server/tls-*")  # k3s's backup
    status = json.loads(harmony("status", *args, "--json").stdout)
    assert all(row["certificates"]["days_left"] >= 364 for row in status["hosts"]), status
    check = harmony("check", *args, *harmony.release_args())
    assert check.returncode == 0, check.stdout + check.stderr
    assert harmony.kubeconfig.read_text() != old_config  # the new admin client certificate, merged
    nodes = harmony.kubectl("--context", "harmony", "get", "nodes", "-o", "name")
    assert nodes.returncode == 0 and nodes.stdout.split() == ["node/a1", "node/s1", "node/s2"], nodes

    again = harmony("certs", "rotate", *args, "--within", "30", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 hosts: 0 rotated, 3 unchanged, 0 failed" in again.stdout, again.stdout
    assert {h.name: h.started_at(u) for h, u in ((s1, "k3s"), (s2, "k3s"), (a1, AGENT_UNIT))} == started

    # s2's k3s will not start again (a setting it refuses): the rollout stops there, a1 is not touched
    s2.sh("mkdir -p /etc/rancher/k3s/config.yaml.d")
    s2.write("/etc/rancher/k3s/config.yaml.d/90-broken.yaml", "no-such-flag: true\n")
    stopped = harmony("certs", "rotate", *args, "--yes")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    lines = {line.split(": ", 1)[0]: line for line in stopped.stdout.splitlines() if ": " in line}
    assert lines["s1"].startswith("s1: rotated: "), lines
    assert "flag provided but not defined: -no-such-flag" in lines["s2"], lines
    assert "not restarted: the rollout stopped at s2, which failed" in lines["a1"], lines
    assert a1.started_at(AGENT_UNIT) == started[a1.name] and s1.started_at() > started[s1.name]
    started[s1.name] = s1.started_at()

    s2.kill()  # out of the run: restarting s1 would leave no etcd quorum
    refused = harmony("certs", "rotate", *args, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    line = next(line for line in refused.stdout.splitlines() if line.startswith("s1: "))
    assert "1 of 2 servers (s2) is unreachable; restarting s1 would leave 0 of 2 up, under etcd's quorum of 2" in line
    assert s1.started_at() == started[s1.name]
