"""harmony.yaml: found as git finds its directory, checked against its schema with the line of
each error named, ${VAR} expanded, turned into the data keys and target the command line would
give; and `harmony init`'s file, which must pass the same check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from harmony import cli, project, scaffold, targets
from harmony.errors import BadInput


def write(directory: Path, text: str) -> Path:
    path = directory / project.FILENAME
    path.write_text(text)
    return path


def error_of(path: Path, environ: dict | None = None) -> str:
    with pytest.raises(BadInput) as caught:
        project.load(path, environ or {})
    return str(caught.value)


def test_the_schema_is_a_valid_json_schema():
    Draft202012Validator.check_schema(project.schema())


def test_found_from_a_subdirectory_up_to_the_repository_root(tmp_path):
    write(tmp_path, "cluster: {name: outside}\n")  # above the repository: not its file
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert project.find(repo / "a" / "b") is None
    path = write(repo, "cluster: {name: inside}\n")
    assert project.find(repo / "a" / "b") == path
    assert project.find(repo) == path


def test_the_cluster_becomes_data_keys_and_paths_are_the_files(tmp_path):
    path = write(tmp_path, """
cluster:
  name: shop
  runtime: auto
  version: v1.31.4+k3s1
  allow_http: true
  k3s: {drain: true, airgap_dir: bundle, token: "${TOKEN}", config: {disable: [traefik]}}
  k3d: {agents: 2, ports: ["8080:80@loadbalancer"]}
  wait_timeout: 60
target: {servers: [root@10.0.0.1], agents: ["10.0.0.2:2222"]}
ssh: {user: ubuntu, key: keys/id}
""")
    loaded = project.load(path, {"TOKEN": "s3cret"})
    assert loaded.data == {
        "harmony_cluster": "shop", "k3s_version": "v1.31.4+k3s1", "harmony_allow_http": True,
        "k3s_drain": True, "k3s_airgap_dir": str(tmp_path / "bundle"), "k3s_token": "s3cret",
        "k3s_config": {"disable": ["traefik"]}, "k3d_agents": 2, "k3d_ports": ["8080:80@loadbalancer"],
    }  # runtime auto: no harmony_runtime, so the host's facts decide
    assert loaded.wait_timeout == 60 and loaded.ssh == {"user": "ubuntu", "key": str(tmp_path / "keys/id")}
    target = loaded.target_of("ubuntu")
    assert target.groups == {
        "k3s_servers": [("10.0.0.1", {"ssh_hostname": "10.0.0.1", "_sudo": False, "ssh_user": "root"})],
        "k3s_agents": [("10.0.0.2:2222", {"ssh_hostname": "10.0.0.2", "_sudo": True, "ssh_port": 2222,
                                          "ssh_user": "ubuntu"})],
    }


def test_an_inventory_target_is_relative_to_the_file(tmp_path):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "edge.py").write_text("hosts = ['a']\n")
    loaded = project.load(write(tmp_path, "target: edge\n"))
    assert loaded.target_of(None).inventory == str(tmp_path / "inventories" / "edge.py")


@pytest.mark.parametrize("text, expected", [
    ("cluster:\n  name: x\n  versoin: v1.31.4+k3s1\n", ":3: cluster: unknown key 'versoin': did you mean 'version'?"),
    ("targets: local\n", ":1: unknown key 'targets': did you mean 'target'?"),
    ("cluster:\n  k3s:\n    drain: yes please\n", ":3: cluster.k3s.drain: must be true or false"),
    ("cluster:\n  version: 1.31\n", ":2: cluster.version: must be a string"),
    ("cluster:\n  version: v1.31\n", ":2: cluster.version: must look like v1.31.4+k3s1"),
    ("cluster:\n  runtime: docker\n", ":2: cluster.runtime: must be one of auto, k3s, k3d"),
    ("cluster:\n  k3d: {api_port: 70000}\n", ":2: cluster.k3d.api_port: must be at most 65535"),
    ("target: {servers: [a], agnets: [b]}\n", ":1: target: unknown key 'agnets': did you mean 'agents'?"),
    ("target:\n  - good\n  - bad host!\n", ":3: target[1]: must look like root@10.0.0.5:22"),
    ("target: 5\n", ":1: target: is not valid here: Where the cluster runs"),
    ("workloads:\n  - name: web\n", ":2: workloads[0]: give one of manifests, kustomize or helm"),
    ("workloads:\n  - name: web\n    manifest: k8s/\n", ":3: workloads[0]: unknown key 'manifest': did you mean 'manifests'?"),
    ("workloads:\n  - name: web\n    manifests: a\n    kustomize: b\n",
     ":2: workloads[0]: give one of manifests, kustomize or helm, not manifests and kustomize"),
    ("workloads:\n  - manifests: a\n", ":2: workloads[0]: 'name' is missing: add it"),
    ("workloads:\n  - {name: a, manifests: x}\n  - {name: a, kustomize: y}\n",
     ":3: workloads[1].name: a second workload named 'a': give each its own name"),
    ("workloads:\n  - name: web\n    helm: {chart: ./c, valuse: {}}\n",
     ":3: workloads[0].helm: unknown key 'valuse': did you mean 'values'?"),
    ("cluster:\n  name: a\n  name: b\n", ":3: cluster: 'name' is given twice (first on line 2): keep one"),
    ("cluster:\n  name: [a\n", ":3: not valid YAML ("),  # the problem in the words of PyYAML's C or Python parser
    ("- a list\n", ":1: must be a mapping (key: value)"),
    ("cluster:\n  version: 1.31\n", ":2: cluster.version: must be a string: YAML reads 1.31 as a number, so put it "
                                     "in quotes"),
    ('cluster:\n  version: "1.31"\n', ":2: cluster.version: must look like v1.31.4+k3s1; for the newest v1.31 "
                                       "release, ask for its channel: --channel v1.31 (cluster.channel: v1.31)"),
])
def test_an_error_names_the_file_the_line_and_the_fix(tmp_path, text, expected):
    path = write(tmp_path, text)
    assert error_of(path).startswith(f"{path}{expected}")


def test_the_first_error_by_line_is_the_one_given(tmp_path):
    path = write(tmp_path, "cluster:\n  runtime: docker\n  versoin: x\n")
    assert error_of(path).startswith(f"{path}:2: cluster.runtime")


def test_variables_come_from_the_environment_and_never_show_in_an_error(tmp_path):
    path = write(tmp_path, 'cluster:\n  k3s:\n    token: "${TOKEN}"\n    token_env: "${NAME}"\n  name: "$${x}"\n')
    with pytest.raises(BadInput, match=r":3: cluster.k3s.token: the environment variable TOKEN is not set"):
        project.load(path, {})
    message = error_of(path, {"TOKEN": "s3cret", "NAME": "not a name!"})
    assert ":4: cluster.k3s.token_env: must be an environment variable's name: letters, digits and '_', not " \
           "starting with a digit" in message and "not a name" not in message
    with pytest.raises(BadInput, match=r"cluster.name: must be letters, digits, '_', '.' and '-' only, like demo"):  # $$ is a literal $
        project.load(path, {"TOKEN": "s3cret", "NAME": "N"})
    bad = write(tmp_path, 'cluster:\n  name: "${1x}"\n')
    assert "'${1x}' is not a variable: write ${NAME}" in error_of(bad)


def test_options_win_over_the_file_which_wins_over_the_defaults(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, "cluster: {name: shop, version: v1.31.4+k3s1, wait_timeout: 60, k3s: {drain: true}}\n"
                    "target: root@10.0.0.1\n")
    # In a child process: the CLI's requests import pyinfra's CLI, which monkey-patches the
    # interpreter with gevent.
    script = """
import json
from harmony.verbs import command
base = dict(ssh_user=None, ssh_key=None, sudo_password_env=None, name=None, kubeconfig_server=None,
            verbose=0, runtime=None, data=())
requests = [command.build_request(None, **base),
            command.build_request("local", **{**base, "data": ("k3s_drain=false",)}, k3s_version="v1.30.8+k3s1",
                              wait_timeout=5),
            command.build_request("local", **base, use_project=False)]
print(json.dumps([[r.target.inventory, r.wait_timeout, r.release, r.options.data.get("harmony_cluster"),
                   r.options.data.get("k3s_drain"), r.project is not None] for r in requests]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["10.0.0.1", 60, {}, "shop", True, True],  # the file's
        # The options' (the release is applied over the data by the command), the rest the file's.
        ["@local", 5, {"k3s_version": "v1.30.8+k3s1"}, "shop", False, True],
        ["@local", 180.0, {}, None, None, False],  # the lab reads no project file
    ]


def test_a_file_named_with_dash_f_must_exist(tmp_path):
    with pytest.raises(BadInput, match="--file nowhere.yaml: no such file"):
        project.find_and_load("nowhere.yaml")


def test_hosts_listed_twice_are_refused():
    with pytest.raises(BadInput, match="host 10.0.0.1 is listed twice"):
        targets.of_hosts(["root@10.0.0.1"], ["10.0.0.1"])


def repository(tmp_path: Path) -> Path:
    for directory in ("k8s", "charts/web/templates", "charts/web/charts/sub", "deploy/overlays/prod", "docs"):
        (tmp_path / directory).mkdir(parents=True)
    for file in ("k8s/app.yaml", "charts/web/Chart.yaml", "charts/web/charts/sub/Chart.yaml",
                 "deploy/overlays/prod/kustomization.yaml", "deploy/base.yaml", "docs/notes.yaml"):
        (tmp_path / file).write_text("{}\n")
    for directory in ("services/api", "services/Worker_2", "node_modules/x"):
        (tmp_path / directory).mkdir(parents=True)
    for file in ("Dockerfile", "services/api/Dockerfile", "services/Worker_2/Containerfile", "node_modules/x/Dockerfile"):
        (tmp_path / file).write_text("FROM scratch\n")
    return tmp_path


def test_init_lists_the_workloads_it_finds_commented_out(tmp_path):
    path = scaffold.init(repository(tmp_path), target="root@10.0.0.1:22", version="v1.31.4+k3s1")
    text = path.read_text()
    loaded = project.load(path)
    assert loaded.workloads == () and loaded.target == "root@10.0.0.1:22"
    assert loaded.data == {"harmony_cluster": scaffold.cluster_name(tmp_path.name), "k3s_version": "v1.31.4+k3s1"}
    assert f"\nname: {loaded.name} " in text and loaded.name == project.default_name(tmp_path.name)  # kept if moved
    # Uncommented, the images and workloads it lists are a valid file too, in the order found.
    body = "\n".join(line[2:] for line in text.splitlines()
                     if line.startswith(("# images", "# workloads", "#   ", "#     ")))
    uncommented = project.parse(text + body + "\n", path)
    assert [dict(i) for i in uncommented.images] == [
        {"name": loaded.name, "context": "./"},
        {"name": "worker-2", "context": "./services/Worker_2/", "dockerfile": "Containerfile"},  # not node_modules'
        {"name": "api", "context": "./services/api/"},
    ]
    assert [dict(w) for w in uncommented.workloads] == [
        {"name": "web", "namespace": "web", "helm": {"chart": "./charts/web/"}},  # not its subchart
        {"name": "prod", "kustomize": "deploy/overlays/prod/"},
        {"name": "k8s", "manifests": "k8s/"},  # deploy/ holds an overlay, docs/ is not a workload dir
    ]


def test_init_proposes_an_overlay_not_its_base_namespaces_first_and_a_namespace_for_a_chart(tmp_path):
    example = Path(__file__).parents[2] / "examples" / "shop"
    shutil.copytree(example, tmp_path / "shop", ignore=shutil.ignore_patterns("harmony.yaml"))
    assert scaffold.find_workloads(tmp_path / "shop") == [
        {"name": "k8s", "manifests": "k8s/"},  # it makes the namespace shop
        {"name": "chart", "namespace": "shop", "helm": {"chart": "./chart/"}},
        {"name": "dev", "kustomize": "cache/overlays/dev/"},  # it includes cache/base/: proposing both applies redis twice
    ]


def test_a_project_is_named_by_its_file_else_by_its_directory(tmp_path):
    assert project.default_name("My Shop_v2") == "my-shop-v2" and project.default_name("___") == "project"
    root = tmp_path / "Shop Front"
    root.mkdir()
    assert project.load(write(root, "cluster: {name: mine}\n")).name == "shop-front"
    assert project.load(write(root, "name: storefront\n")).name == "storefront"
    with pytest.raises(BadInput, match=r"harmony.yaml:1: name: must be lowercase letters, digits and '-' \(at most 40\), "
                                       r"starting and ending with a letter or digit, like shop"):
        project.load(write(root, "name: Store Front\n"))


def test_init_takes_its_target_as_every_other_command_does(tmp_path):
    def init(*args: str) -> subprocess.CompletedProcess:  # a process: a command patches its own for gevent
        return subprocess.run([sys.executable, "-m", "harmony", "init", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)

    written = init("root@10.0.0.5")
    assert written.returncode == 0, written.stderr
    assert project.load(tmp_path / "harmony.yaml").target == "root@10.0.0.5"
    twice = init("root@10.0.0.5", "--target", "local", "--force")
    assert twice.returncode == 2 and "give the target once: harmony init TARGET" in twice.stderr


def test_init_keeps_an_existing_file_unless_forced(tmp_path):
    path = write(tmp_path, "cluster: {name: mine}\n")
    with pytest.raises(BadInput, match="exists: edit it, or add --force"):
        scaffold.init(tmp_path)
    assert path.read_text() == "cluster: {name: mine}\n"
    scaffold.init(tmp_path, force=True, channel="v1.31", runtime="k3d")
    assert project.load(path).data["k3s_channel"] == "v1.31"
    assert project.load(path).data["harmony_runtime"] == "k3d"


def test_init_refuses_options_that_make_a_bad_file_and_writes_nothing(tmp_path):
    with pytest.raises(BadInput, match=r"cluster.name: must be .*, like demo \(from the options given; nothing written\)"):
        scaffold.init(tmp_path, name="My App")
    with pytest.raises(BadInput, match="--version or --channel, not both"):
        scaffold.init(tmp_path, version="v1.31.4+k3s1", channel="stable")
    with pytest.raises(BadInput, match=r"for the newest v1.31 release, ask for its channel: --channel v1.31"):
        scaffold.init(tmp_path, version="1.31")  # written as typed, and read back as a string
    assert list(tmp_path.iterdir()) == []


def test_init_writes_every_value_as_the_string_it_was_given():
    for value in ("1.31", "true", "null", "0x10", "demo"):
        assert yaml.safe_load(f"k: {scaffold._scalar(value)}") == {"k": value}


def test_cluster_names_from_directories():
    assert scaffold.cluster_name("My_App.v2") == "my-app-v2"
    assert scaffold.cluster_name("___") == "harmony"
    assert len(scaffold.cluster_name("x" * 50)) == 32


def test_the_schema_printed_is_the_one_shipped():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.main, ["schema"])
    assert json.loads(result.output) == project.schema()
    assert yaml.safe_load(result.output)["title"] == "harmony.yaml"


def test_every_pattern_of_the_schema_is_said_in_words_or_by_an_example():
    def patterns(node):
        if isinstance(node, dict):
            if "pattern" in node:
                yield node["pattern"], node.get("examples")
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    unsaid = [rule for rule, examples in patterns(project.schema()) if rule not in project.ALLOWED and not examples]
    assert unsaid == []
