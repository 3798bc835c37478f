"""The order of a cluster's operations, as the plain `pyinfra` command plans `deploys/k3s.py`.

pyinfra's `@fake` connector answers harmony's one host fact with a scripted state, so pyinfra's
own planner orders the real deploy's operations across hosts; `--dry --json` lists them in the
order they run. Nothing here proves a host's behaviour (the e2e suite does): only the order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.fakehosts import ROOT, inventory


def plan(tmp_path: Path, servers: list[str], agents: list[str], running: bool) -> list[dict]:
    """pyinfra's plan of `deploys/k3s.py` over fake hosts: [{name, hosts_with_change}], in order."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "pyinfra", "--dry", "--json",
                             str(inventory(tmp_path, servers, agents, running)), str(ROOT / "deploys" / "k3s.py")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["plan"]


def position(steps: list[dict], name: str, host: str) -> int:
    """Where the operation `name` (its start) runs on `host` in the plan."""
    found = [i for i, step in enumerate(steps) if step["name"].split(" | ")[-1].startswith(name)
             and f"@fake/{host}" in step["hosts_with_change"]]
    assert len(found) == 1, (name, host, [s["name"] for s in steps])
    return found[0]


@pytest.mark.parametrize("running", [False, True], ids=["install", "restart"])
def test_the_first_server_then_each_joining_server_then_the_agents(tmp_path, running):
    steps = plan(tmp_path, ["s1", "s2", "s3"], ["a1", "a2"], running)
    names = [step["name"] for step in steps]
    turn = "Restart k3s" if running else "Enable and start k3s"
    first, joining = position(steps, turn, "s1"), position(steps, turn, "s2")
    agents = position(steps, turn.replace("k3s", "k3s-agent"), "a1")
    waits = names.index("k3s up | Wait for the first server"), names.index("k3s up | Wait for the servers")
    assert first < waits[0] < joining < waits[1] < agents
    assert position(steps, turn, "s3") == joining  # one operation, run host by host (serial)
    assert position(steps, turn.replace("k3s", "k3s-agent"), "a2") == agents
    # Nothing of a later stage begins before the earlier stage's turn is done.
    assert position(steps, "Write config.yaml", "s2") > first
    assert position(steps, "Write config.yaml", "a1") > joining


def test_a_lone_server_has_no_waits_and_its_phases_run_in_lifecycle_order(tmp_path):
    steps = plan(tmp_path, ["s1"], [], running=False)
    names = [step["name"].split(" | ", 1)[1] for step in steps if "@fake/s1" in step["hosts_with_change"]]
    assert not any(name.startswith("Wait for") for name in names)
    phases = [name.split(" | ")[0] for name in names]
    assert sorted(set(phases), key=phases.index) == ["binary", "configure", "service", "start", "kubeconfig"]
    names = [name.split(" | ")[-1] for name in names]
    order = ["Install k3s", "Write config.yaml", "Write /etc/systemd/system/k3s.service", "Enable and start k3s",
             "Fetch the kubeconfig"]
    found = [next(i for i, name in enumerate(names) if name.startswith(step)) for step in order]
    assert found == sorted(found), names
