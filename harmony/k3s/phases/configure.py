"""Configure: the files k3s starts from, staged for the node's turn. The token it presents,
config.yaml, registries.yaml, and the service's environment."""

from __future__ import annotations

from pyinfra import inventory
from pyinfra.api import deploy

from harmony import operations
from harmony.k3s.facts import HostState
from harmony.k3s import paths, render
from harmony.k3s.hoststate import state_of, token_source
from harmony.k3s.hostrun import K3sHostRun


@deploy("configure")
def run(node: K3sHostRun) -> None:
    settings, state, service = node.settings, node.state, node.service
    token(node)
    node.stage_file(paths.CONFIG, render.config_yaml(settings, state.hostname, node.shape, node.name, state.enforcing),
               "600", "Write config.yaml")
    if settings.registries:
        node.stage_file(paths.REGISTRIES, render.registries_yaml(settings), "600", "Write registries.yaml")
    elif settings.registries is not None and paths.REGISTRIES in state.files:
        node.removed.append(paths.REGISTRIES)
    node.stage_file(service.env_file, render.env_file(settings, service), "600", "Write the service environment")


def token(node: K3sHostRun) -> None:
    """Stage the token file this host presents, where k3s needs one (a first server that
    generates its own does not). A host joining with the cluster's token gets the first
    server's full token, which also pins the cluster's CA; an agent given a token of its own
    presents that."""
    settings = node.settings
    if settings.token and (node.first_server or settings.token != node.shape.token):
        node.stage_file(paths.TOKEN_FILE, settings.token + "\n", "600", "Write the token")
        return
    if node.first_server:
        return
    first = token_source(node.shape.servers, node.name)
    if first is None:  # where no server can give it, the token in place stays (a new host fails)
        if not node.file(paths.TOKEN_FILE):
            operations.fail(name="Write the join token", message=f"no server can give the join token: "
                            f"{state_of(inventory.get_host(node.shape.first_server))}")
        return
    first_state = state_of(first)
    source_file = first_state.files.get(paths.SERVER_TOKEN) if isinstance(first_state, HostState) else None
    operations.copy_secret(
        name="Write the join token",
        source=first,
        source_path=paths.SERVER_TOKEN,
        path=paths.TOKEN_FILE,
        source_file=source_file,
        **node.staging(paths.TOKEN_FILE, source_file.sha256 if source_file else None),
    )
