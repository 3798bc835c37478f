"""The k3s deploys: pyinfra @deploy functions, run once per host by pyinfra.

`up` converges a host on its spec (the phases of `harmony.k3s.lifecycle`), `down` removes every
trace of k3s, `kubeconfig` only fetches a server's kubeconfig to the controller. Each is a list
of operations decided from one fact (`K3sHost`), so a host that is already as wanted costs one
round trip and changes nothing.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from harmony import operations, releases
from harmony.images import shipping
from harmony.k3s import firewall, lifecycle, paths, prepare, resolve, rotation
from harmony.k3s import operations as k3s_operations, restore as k3s_restore, snapshot as k3s_snapshot
from harmony.k3s.hoststate import host_state
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.phases import p7_kubeconfig
from harmony.k3s.service import Service
from harmony.k3s.settings import from_data

@deploy("k3s up")
def up() -> None:
    lifecycle.up(K3sHostRun(host.name, from_data(host.data, host.name, host.groups), resolve.of_run()))


@deploy("k3s images")
def images() -> None:
    """The images the run ships (`harmony.images.shipping`), of this host's architecture, sent to
    it where its containerd lacks them; a host that holds them all is sent nothing."""
    state = host_state("Find the images")
    if state is None:
        return
    if not state.unit(paths.unit_name(from_data(host.data, host.name, host.groups).role)).active:
        operations.fail(name="Find the images", message="k3s is not running here: run harmony up first")
        return
    wanted = shipping.for_arch(host.data.get(shipping.DATA_KEY), releases.asset_for(state.arch).arch)
    for image in wanted:
        if image.reference not in state.images:
            k3s_operations.import_image(name=shipping.operation_name(image), image=image)


@deploy("k3s kubeconfig")
def kubeconfig() -> None:
    if from_data(host.data, host.name, host.groups).role != "server":
        operations.nothing(name="Find the kubeconfig", reason="an agent has no kubeconfig")
        return
    state = host_state("Find the kubeconfig")
    if state is None:
        return
    if paths.KUBECONFIG not in state.files:
        operations.fail(name="Find the kubeconfig", message=f"{paths.KUBECONFIG} not found: is k3s up?")
        return
    p7_kubeconfig.fetch(state)


@deploy("k3s certs")
def rotate() -> None:
    """`harmony certs rotate`: each node's certificates rotated in its turn (`harmony.k3s.rotation`)."""
    rotation.declare()


@deploy("k3s down")
def down() -> None:
    state = host_state("Check access")
    if state is None:
        return
    services = [Service(role, state.init) for role in paths.ROLES]
    for service in services:
        k3s_operations.stop_and_disable(name=f"Stop and disable {service.name}", service=service,
                                    current=state.unit(service.name))
    if paths.KILLALL_SCRIPT in state.files:
        operations.run(name="Stop what k3s started", command=paths.KILLALL_SCRIPT)
    closing = firewall.close_commands(state.firewall)
    if closing:
        operations.run(name=f"Remove k3s's rules from {state.firewall.kind}", command=" && ".join(closing))
    if state.selinux_policy and paths.RPM_REPO in state.files:  # harmony installed it
        operations.run(name="Remove the k3s-selinux policy", command=prepare.REMOVE_POLICY)
    links = [
        f"{paths.BIN_DIR}/{name}" for name, target in state.commands.items()
        if name in paths.LINKED_COMMANDS and target == paths.BINARY
    ]
    removed = sorted(state.files) + links + sorted(state.removable) + sorted(state.leftovers)
    emptied = [d for d, entries in state.parent_dirs.items()
               if all(f"{d}/{entry}" in removed for entry in entries)]
    operations.remove(name="Remove k3s files", targets=removed + emptied)
    if any(s.reload and s.file in state.files for s in services):
        operations.run(name="Reload systemd", command=services[0].reload)


@deploy("k3s snapshot")
def snapshot() -> None:
    k3s_snapshot.save()


@deploy("k3s restore")
def restore() -> None:
    k3s_restore.restore()
