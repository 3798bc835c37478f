"""Each verb's steps, in the order they run, and the command line that lists the verbs light
enough to answer `harmony --help` at once."""

from __future__ import annotations

import subprocess
import sys

from harmony import cli
from harmony.verbs import certs, check, down, kubeconfig, plan, remove, status, up


def names(steps) -> list[str]:
    return [f"{step.__module__.rsplit('.', 1)[-1]}.{step.__name__}" for step in steps]


def test_each_verb_lists_its_steps_in_order():
    prepared = ["prepare.check_input", "prepare.choose_runtime", "prepare.resolve"]
    assert names(up.STEPS) == ["prepare.check_input", "prepare.choose_runtime", "images.check_builds",
                               "prepare.resolve", "removal.plan_pruning", "hosts.confirm", "hosts.run_hosts",
                               "cluster.wait_for_nodes", "cluster.claim_nodes", "up.say_nodes", "hosts.require_every_host",
                                   "removal.prune",
                               "images.ship_images", "up.apply_workloads"]
    assert names(plan.STEPS) == ["prepare.check_input", "prepare.choose_runtime", "images.check_builds",
                                 "prepare.resolve_known", "removal.plan_pruning", "known.plan_hosts",
                                 "plan.plan_workloads", "plan.fail_where_up_would"]
    assert names(check.STEPS) == ["prepare.check_input", "prepare.choose_runtime", "images.check_builds",
                                  "prepare.resolve_known", "known.dry_run", "check.compare"]
    assert names(status.STEPS) == [*prepared, "status.report_status"]
    assert names(down.STEPS) == [*prepared, "down.keep_for_other_projects", "hosts.run_hosts",
                                 "hosts.require_every_host", "cluster.forget"]
    assert names(remove.STEPS) == ["prepare.check_input", "removal.check_named", "prepare.choose_runtime",
                                   "prepare.resolve", "removal.plan_removal", "removal.remove"]
    assert names(kubeconfig.STEPS) == [*prepared, "hosts.run_hosts", "cluster.wait_for_nodes",
                                       "kubeconfig.say_merged"]
    assert names(certs.STEPS) == ["prepare.check_input", "prepare.choose_runtime", "certs.only_k3s", "prepare.resolve",
                                  "hosts.confirm", "hosts.run_hosts", "cluster.wait_for_nodes", "up.say_nodes",
                                  "hosts.require_every_host"]
    assert names(certs.DRY_STEPS) == [*names(certs.STEPS)[:4], "hosts.plan_hosts"]


def test_every_verb_module_is_a_command():
    from pathlib import Path

    modules = {p.stem for p in (Path(cli.__file__).parent / "verbs").glob("*.py")} - {"__init__", "command"}
    assert set(cli.main.commands) == modules


def test_the_command_line_imports_neither_pyinfra_nor_the_kubernetes_client_to_list_the_verbs():
    heavy = ("pyinfra", "kubernetes", "yaml", "httpx", "gevent")
    script = f"import sys, harmony.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_list_of_commands_cuts_no_description_short():
    from click.testing import CliRunner

    listed = CliRunner().invoke(cli.main, ["--help"]).output.split("Commands:", 1)[1]
    assert "..." not in listed and len(listed.strip().splitlines()) == len(cli.main.commands), listed
