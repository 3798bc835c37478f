"""The macOS and Windows workflow (`.github/workflows/desktop.yml`), which cannot run here: it
parses, its unit jobs run the unit suite on both systems with the command README.md gives for
trying it by hand, and its k3d job brings a cluster up and down on the runner that has an engine."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "desktop.yml"
UNIT = "-m pytest -q -p no:cacheprovider -n 2 tests/unit"  # after the interpreter


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_it_parses_and_runs_on_pushes_and_pull_requests():
    loaded = workflow()
    triggers = loaded.get("on", loaded.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert set(loaded["jobs"]) == {"unit", "k3d-colima"}
    assert all(job.get("timeout-minutes") for job in loaded["jobs"].values())


def test_the_unit_job_runs_the_readmes_command_on_macos_and_windows():
    unit = workflow()["jobs"]["unit"]
    systems = unit["strategy"]["matrix"]["os"]
    assert any(s.startswith("macos") for s in systems) and any(s.startswith("windows") for s in systems)
    assert f"python {UNIT}" in runs(unit)
    readme = (ROOT / "README.md").read_text()
    assert f".venv/bin/python {UNIT}" in readme and f".venv\\Scripts\\python {UNIT}" in readme


def test_the_k3d_job_brings_a_cluster_up_and_down_where_the_runner_can_start_an_engine():
    job = workflow()["jobs"]["k3d-colima"]
    assert job["runs-on"] == "macos-13"  # Intel: arm64 macOS runners cannot start a VM
    script = "\n".join(runs(job))
    assert "colima start" in script
    assert script.index("harmony up --yes") < script.index("harmony down --yes")
    (down,) = [s for s in job["steps"] if s.get("run") == "harmony down --yes"]
    assert down["if"] == "always()"  # the cluster goes even where a step before failed
