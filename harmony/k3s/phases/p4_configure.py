"""Configure: the files k3s starts from, staged for the node's turn. The token it presents,
config.yaml, registries.yaml, and the service's environment. Passed where each is in place as
rendered, nothing is staged, and no file is to go."""

from __future__ import annotations

from pyinfra import inventory
from pyinfra.api import Host

from harmony import operations
from harmony.facts import FileState, text_sha256
from harmony.k3s.facts import HostState
from harmony.k3s import paths, render
from harmony.k3s.hoststate import state_of, token_source
from harmony.k3s.hostrun import K3sHostRun
from harmony.phase import Phase


def should_run(node: K3sHostRun) -> bool:
    if drops_registries(node) or any(not node.settled(path, text_sha256(content), "600")
                                     for path, content, _ in files(node)):
        return True
    if not joins(node):
        return False
    source, source_file = join_token_source(node)
    if source is None:
        return not node.file(paths.TOKEN_FILE)  # (fails the host)
    return not (source_file and node.settled(paths.TOKEN_FILE, source_file.sha256, "600"))


def run(node: K3sHostRun) -> None:
    if joins(node):
        join_token(node)
    for path, content, name in files(node):
        node.stage_file(path, content, "600", name)
    if drops_registries(node):
        node.removed.append(paths.REGISTRIES)


def files(node: K3sHostRun) -> list[tuple[str, str, str]]:
    """The files this phase stages, as (path, content, the step's name), in order."""
    settings, state, service = node.settings, node.state, node.service
    token = own_token(node)
    token_file = [(paths.TOKEN_FILE, token, "Write the token")] if token is not None else []
    registries = [(paths.REGISTRIES, render.registries_yaml(settings), "Write registries.yaml")] \
        if settings.registries else []
    config = render.config_yaml(settings, state.hostname, node.shape, node.name, state.enforcing)
    return [*token_file, (paths.CONFIG, config, "Write config.yaml"), *registries,
            (service.env_file, render.env_file(settings, service), "Write the service environment")]


def drops_registries(node: K3sHostRun) -> bool:
    """registries.yaml is to go: the settings say no registries (not merely none given)."""
    registries = node.settings.registries
    return registries is not None and not registries and paths.REGISTRIES in node.state.files


def own_token(node: K3sHostRun) -> str | None:
    """The token file this host presents where it is given a token of its own (a first server
    given one, or an agent given another than the cluster's), else None: a first server that
    generates its own needs none, and a host joining with the cluster's token presents the first
    server's full one, which also pins the cluster's CA (`join_token`)."""
    settings = node.settings
    if settings.token and (node.first_server or settings.token != node.shape.token):
        return settings.token + "\n"
    return None


def joins(node: K3sHostRun) -> bool:
    """Whether this host presents the first server's full token: it joins with the cluster's."""
    return own_token(node) is None and not node.first_server


def join_token_source(node: K3sHostRun) -> tuple[Host | None, FileState | None]:
    """The server a joining host reads the cluster's full token from (None where none can give
    it), and its token file as its state shows it (None where not known)."""
    source = token_source(node.shape.servers, node.name)
    if source is None:
        return None, None
    found = state_of(source)
    return source, found.files.get(paths.SERVER_TOKEN) if isinstance(found, HostState) else None


def join_token(node: K3sHostRun) -> None:
    """Stage the first server's full token, where it differs; where no server can give it, the
    token in place stays (and a new host fails)."""
    source, source_file = join_token_source(node)
    if source is None:
        if not node.file(paths.TOKEN_FILE):
            operations.fail(name="Write the join token", message=f"no server can give the join token: "
                            f"{state_of(inventory.get_host(node.shape.first_server))}")
        return
    operations.copy_secret(
        name="Write the join token",
        source=source,
        source_path=paths.SERVER_TOKEN,
        path=paths.TOKEN_FILE,
        source_file=source_file,
        **node.staging(paths.TOKEN_FILE, source_file.sha256 if source_file else None),
    )


PHASE = Phase("configure", run, should_run)
