"""Each command's --help: its options under headings, its examples, and only options it uses.

"Uses" is checked from the code, not from the help's words: each command is run through its
real command line (Click's parsing and `build_request`) once as a baseline and once more with
each option it lists given a value other than its default, with the work it hands on (the
`Flow` and steps a verb performs, or what init, bundle, schema and lab call) recorded instead
of done. An option whose value reaches none of that changes nothing, and fails here. What the
test does not see: a value that reaches the Flow and that no step of the verb then reads.

The runs are in a child process: the command line imports pyinfra's CLI, which monkey-patches
the process with gevent (as tests/unit/test_project.py says)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harmony import cli
from harmony.verbs import command

SAMPLES = {  # a value other than the default, that the command line takes, by the name an option is passed as
    "ssh_user": "alice", "ssh_bastion": "jump.example", "ssh_host_keys": "strict", "parallel": "3",
    "fail_percent": "10", "sudo_password_env": "SUDO_FOR_TEST", "name": "shop",
    "kubeconfig_server": "https://10.0.0.1:6443", "data": "k3s_drain=true", "k3s_version": "v1.31.4+k3s1",
    "k3s_channel": "latest", "k3s_release_url": "https://mirror.example/k3s",
    "k3s_channel_url": "https://mirror.example/channels", "k3s_airgap_dir": "bundle", "k3s_token_file": "token",
    "k3s_token_env": "TOKEN_FOR_TEST", "k3s_cert_days": "10", "wait_timeout": "5", "within": "30", "to": "snaps",
    "arches": "arm64",
}
YES = ("up", "down", "remove", "certs rotate", "restore")  # they ask without --yes, and there is no terminal here
ARGUMENTS = {"bundle": ["out"], "remove": ["local", "h1"], "restore": ["snapshot.db"]}


def commands(group: click.Group = cli.main, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


def options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]


def test_every_command_is_a_verb_with_examples_and_every_option_has_a_heading():
    headed = {name for names in command.HEADINGS.values() for name in names}
    for path, cmd in commands():
        assert isinstance(cmd, command.Verb) and cmd.examples, path
        assert not [o.name for o in options(cmd) if o.name not in headed], path


@pytest.mark.parametrize("path", [path for path, _ in commands()])
def test_every_example_is_a_command_line_its_command_takes(path):
    cmd = dict(commands())[path]
    for line in cmd.examples:
        if line.startswith("#"):
            continue
        words = shlex.split(line.split(" > ")[0])
        assert words[:1 + len(path.split())] == ["harmony", *path.split()], line
        cmd.make_context(path, words[1 + len(path.split()):])  # raises on an option or argument it does not take


def test_help_lists_options_under_headings_in_order_then_examples():
    result = CliRunner().invoke(cli.main, ["kubeconfig", "--help"])
    text = result.output
    assert result.exit_code == 0
    headings = [h for h in command.HEADINGS if f"\n{h}:\n" in text]
    assert headings == ["Target: the project, its hosts and how to reach them", "Cluster", "Output and questions"]
    assert [text.index(f"\n{h}:\n") for h in headings] == sorted(text.index(f"\n{h}:\n") for h in headings)
    assert text.index("--wait-timeout") > text.index("\nCluster:\n") and "--install-docker" not in text
    assert text.rstrip().endswith("harmony kubeconfig root@10.0.0.11 --switch-context")
    assert "\nOptions:" not in text


class Recorder:
    """Stands in for the work a command hands on, and keeps what it was handed."""

    def __init__(self) -> None:
        self.calls: list = []

    def keep(self, what: str):
        def record(*args, **kwargs):
            self.calls.append((what, [self.seen(a) for a in args], {k: self.seen(v) for k, v in kwargs.items()}))
            return 0 if what != "bundle" else ["bundled"]
        return record

    @staticmethod
    def seen(value):
        """A value as the work reads it: a Flow's request (its question said, not a new function
        each run) and how it runs, not when it started; steps by name."""
        import dataclasses

        from harmony.steps import Flow

        if isinstance(value, Flow):
            request = dataclasses.replace(value.request, confirm=repr(value.request.confirm))
            return request, value.deploy, value.pin, value.whole, value.reads_workloads
        if isinstance(value, tuple) and value and callable(value[0]):
            return [step.__name__ for step in value]
        return value


def leave(code: int):
    """harmony's exit, without its freeze of the interpreter's objects (this process goes on)."""
    raise SystemExit(code)


def run(directory: Path, path: str, args: list[str]):
    """`harmony PATH ARGS` in this process, with the command's work recorded instead of done:
    its exit code, its output and what it handed on."""
    import contextlib
    from unittest import mock

    import harmony.lab
    import harmony.steps
    import harmony.steps.cluster
    from harmony import scaffold, snapshots
    from harmony.k3s import bundle
    from harmony.verbs import certs, check, down, kubeconfig, plan, remove, restore, snapshot, status, up

    recorder = Recorder()
    stand_ins = [(command, "_patch_gevent", lambda: None), (snapshots, "read", lambda file: (file, {})),
                 (harmony.steps, "perform", recorder.keep("perform")),  # lab status imports it when it runs
                 (up, "run", recorder.keep("up.run")), (scaffold, "init", recorder.keep("init")),
                 (bundle, "bundle", recorder.keep("bundle")),
                 (harmony.lab, "inventory", lambda: directory / "vagrant.py"),
                 (harmony.lab, "vagrantfile_dir", lambda: directory), (harmony.lab, "start", recorder.keep("vagrant up")),
                 (harmony.lab, "vagrant", recorder.keep("vagrant")),
                 (harmony.steps.cluster, "forget_cluster", recorder.keep("forget"))]
    stand_ins += [(module, "perform", recorder.keep("perform"))
                  for module in (certs, check, down, kubeconfig, plan, remove, restore, snapshot, status)]
    with contextlib.ExitStack() as stack:
        for owner, name, value in stand_ins:
            stack.enter_context(mock.patch.object(owner, name, value))
        stack.enter_context(mock.patch.object(command, "_exit", side_effect=leave))
        result = CliRunner().invoke(cli.main, [*path.split(), *ARGUMENTS.get(path, []), *args])
    return result.exit_code, result.output, recorder.calls


def given(option: click.Option, directory: Path) -> list[str]:
    """The option with a value other than its default (a file it must find, made)."""
    flag = option.opts[-1] if option.name != "k3s_version" else "--k3s-version"
    if option.is_flag or option.count:
        return [flag]
    if isinstance(option.type, click.Choice):
        default = option.default if option.multiple else [option.default]
        return [flag, next(c for c in option.type.choices if c not in default)]
    if option.name in ("ssh_key", "ssh_config", "project_file"):
        path = directory / f"{option.name}.file"
        path.write_text("cluster:\n  name: other\n" if option.name == "project_file" else "Host *\n")
        return [flag, str(path)]
    return [flag, SAMPLES[option.name]]


def unused_options(path: str, directory: Path) -> list[str]:
    """The options `harmony PATH` lists whose value changes nothing it hands on (run in the child)."""
    cmd = dict(commands())[path]
    base = ["--yes"] if path in YES else []
    code, base_output, baseline = run(directory, path, base)
    assert code == 0 and (baseline or path == "schema"), (path, base_output)  # schema's work is its output
    unused = []
    for option in options(cmd):
        if option.name == "yes":  # without it the command stops, not asking without a terminal
            code, output, calls = run(directory, path, [])
            assert code == 2 and not calls and "not asking without a terminal" in output, (path, output)
            continue
        args = given(option, directory)
        code, output, calls = run(directory, path, [*base, *args])
        assert code == 0 and (calls or path == "schema"), (path, args, output)
        if (calls, output) == (baseline, base_output):
            unused.append(option.opts[-1])
    return unused


def test_every_option_a_command_lists_changes_what_it_does(tmp_path):
    (tmp_path / "harmony.yaml").write_text("cluster:\n  name: shop\n")
    (tmp_path / "vagrant.py").write_text("servers = ['s1']\n")
    script = ("import json, sys; from pathlib import Path; from tests.unit import test_help as t; "
              "print(json.dumps({p: t.unused_options(p, Path.cwd()) for p, _ in t.commands()}))")
    env = {**os.environ, "HOME": str(tmp_path), "SUDO_FOR_TEST": "secret",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert len(found) == len(list(commands()))
    assert {path: unused for path, unused in found.items() if unused} == {}


def test_harmony_version_is_harmonys_and_names_the_option_that_pins_k3s():
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("harmony, version ") and "--k3s-version" in result.output.splitlines()[1]


@pytest.mark.parametrize("path", ["up", "plan", "check", "init", "bundle", "lab up"])
def test_k3s_version_is_spelled_out_and_version_still_pins_it(path):
    cmd = dict(commands())[path]
    for spelling in ("--k3s-version", "--version"):
        args = [*ARGUMENTS.get(path, []), spelling, "v1.31.4+k3s1"]
        assert cmd.make_context(path, args).params["k3s_version"] == "v1.31.4+k3s1"
    assert "--k3s-version, --version vX.Y.Z+k3sN" in CliRunner().invoke(cli.main, [*path.split(), "--help"]).output


def test_a_no_to_the_question_ends_the_command_as_harmony_reports_it(monkeypatch):
    from harmony.errors import HarmonyError

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(click.termui, "visible_prompt_func", lambda prompt: "n")
    with pytest.raises(HarmonyError, match="^not confirmed: nothing was changed$") as raised:
        command.ask("Apply these changes?")
    assert raised.value.exit_code == 1
