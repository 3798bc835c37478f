"""Configure: the files k3s starts from. The token it presents, config.yaml (the one k3s runs on
kept while a new one restarts it), registries.yaml, and the service's environment."""

from __future__ import annotations

from pyinfra import inventory
from pyinfra.api import deploy

from harmony import operations
from harmony.k3s.facts import HostState
from harmony.k3s import paths, render
from harmony.k3s.hoststate import state_of, token_source
from harmony.k3s.node import Node


@deploy("configure")
def run(node: Node) -> None:
    settings, state, service = node.settings, node.state, node.service
    node.restarts.append(token(node))
    # Where a new config.yaml restarts k3s, the one k3s runs on is kept: if k3s fails on the new
    # one, the restart starts it on that again.
    node.kept = bool(state.unit(service.name).active and paths.CONFIG in state.files)
    node.config = operations.file(
        name="Write config.yaml", path=paths.CONFIG, mode="600",
        content=render.config_yaml(settings, state.hostname, node.shape, node.name, state.enforcing),
        current=node.file(paths.CONFIG), keep=paths.PREVIOUS_CONFIG if node.kept else None)
    node.restarts.append(node.config)
    if settings.registries:
        node.restarts.append(node.write(paths.REGISTRIES, render.registries_yaml(settings), "600",
                                   "Write registries.yaml"))
    elif settings.registries is not None and paths.REGISTRIES in state.files:
        node.restarts.append(operations.remove(name="Remove registries.yaml", targets=[paths.REGISTRIES]))
    node.restarts.append(node.write(service.env_file, render.env_file(settings, service), "600",
                               "Write the service environment"))


def token(node: Node):
    """The token file this host presents, or None where k3s needs none (a first server that
    generates its own). A host joining with the cluster's token gets the first server's full
    token, which also pins the cluster's CA; an agent given a token of its own presents that."""
    settings = node.settings
    if settings.token and (node.first_server or settings.token != node.shape.token):
        return operations.file(name="Write the token", path=paths.TOKEN_FILE, content=settings.token + "\n",
                               mode="600", current=node.file(paths.TOKEN_FILE))
    if node.first_server:
        return None
    first = token_source(node.shape.servers, node.name)
    if first is None:  # where no server can give it, the token in place stays (a new host fails)
        if node.file(paths.TOKEN_FILE):
            return None
        return operations.fail(name="Write the join token", message=f"no server can give the join token: "
                               f"{state_of(inventory.get_host(node.shape.first_server))}")
    first_state = state_of(first)
    return operations.copy_secret(
        name="Write the join token",
        source=first,
        source_path=paths.SERVER_TOKEN,
        path=paths.TOKEN_FILE,
        source_file=first_state.files.get(paths.SERVER_TOKEN) if isinstance(first_state, HostState) else None,
        current=node.file(paths.TOKEN_FILE),
    )
