"""`harmony certs rotate` on a k3s host: its phases, and which nodes it rotates.

k3s renews a leaf certificate by itself only when it starts within the renewal window (90 days
of expiry, 120 from the May 2025 releases: `harmony.k3s.runtime.renew_days`), and never one
further from it. `k3s certificate rotate` (k3s stopped) backs up server/tls and removes the
leaf certificates of every service of the node, so that the next start issues them all again,
whatever their expiry; an agent's come from its server at every start, which is why the
servers go first. So a node's turn is: stop k3s, `k3s certificate rotate`, start it, and wait
until its node is Ready in the API, one node at a time in the upgrades' order (the first
server, the other servers, the agents), each turn refused where the hosts left out of the run
would cost etcd its quorum, and the rollout stopped at the first failure
(`harmony.k3s.operations.restart`, `harmony.k3s.quorum`). A server's new kubeconfig (its admin
client certificate is new) is fetched to the controller, which merges it.

Where `--within N` is given, a node is rotated only if its earliest certificate expires within
N days (or its certificates could not be read), as the host fact reads them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from pyinfra import host

from harmony import operations, shell
from harmony.k3s import lifecycle, operations as k3s_operations, paths, resolve
from harmony.k3s.facts import certificates_summary
from harmony.k3s.hoststate import CERTS_KEY, host_state
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.phases import p6_start
from harmony.k3s.settings import from_data
from harmony.phase import Phase

CHECK = "Check that k3s runs here"


@dataclass
class NodeRotation:
    """One host's run of `certs rotate`: its k3s run (settings, state), and why it is rotated."""

    node: K3sHostRun
    within: int | None  # rotate only where the earliest certificate expires within this many days
    why: str = ""  # why its certificates are rotated; "" where they are kept


def reason(certificates: dict, within: int | None) -> str:
    """Why a node's certificates are rotated, from the fact's summary of them
    (`harmony.k3s.facts.certificates_summary`), or "" where they are kept: every node without
    `within`; with it, one whose earliest expires within `within` days, or whose expiry could
    not be read."""
    days = certificates.get("days_left")
    if days is None:
        return "their expiry could not be read"
    name = certificates["file"].rsplit("/", 1)[-1]
    earliest = f"{name} expired {-days} days ago" if days < 0 else f"{name} expires in {days} days"
    if within is None:
        return f"earliest: {earliest}"
    return f"{earliest}, within {within}" if days < within else ""


def preflight(rotation: NodeRotation) -> None:
    """The host's state, read under its run lock; k3s must be running here (else the host is
    left out: a stopped node is no node to rotate, and a server that is out counts against
    quorum), and the node is chosen."""
    node = rotation.node
    state = host_state(CHECK)
    if state is None:
        node.refused = True
        return
    node.state = state
    unit = state.unit(node.service.name)
    if not unit.active:
        installed = unit.load_state == "loaded"
        operations.fail(name=CHECK, message=f"{node.service.name} is {'not running' if installed else 'not installed'} "
                                            "here: run harmony up first")
        node.refused = True
        return
    rotation.why = reason(certificates_summary(state, time.time()), rotation.within)


def rotate(rotation: NodeRotation) -> None:
    """The node's turn: k3s stopped, its certificates rotated, started, its node Ready before
    the next node's turn; then a server's kubeconfig fetched anew."""
    node = rotation.node
    service = node.service
    turn = replace(p6_start.turn(node), version=node.state.k3s_version)  # Ready on the version it runs
    k3s_operations.restart(name=f"Rotate the certificates and restart {service.name} ({rotation.why})",
                           service=service, timeout=node.settings.start_timeout, turn=turn, swap=None,
                           before=stopped_and_rotated(service), _serial=True)
    if node.settings.role == "server":
        operations.fetch_kubeconfig(paths.KUBECONFIG, None)  # changed by the start: fetched whatever the copy


def stopped_and_rotated(service) -> str:
    """Stop k3s and rotate its certificates; where the rotation fails, start k3s again on the
    certificates it had (the command removes them only once their backup is made) and fail."""
    rotate_command = shell.command(paths.BINARY, "certificate", "rotate")
    said = shell.command("echo", f"harmony: k3s certificate rotate failed; {service.name} was started again "
                                 "on its certificates")
    return (f"{service.control('stop')} && {{ {rotate_command} || {{ code=$?; {said} >&2; "
            f"{service.control('start')}; exit $code; }}; }}")


PREFLIGHT = Phase("preflight", preflight)
ROTATE = Phase("rotate", rotate, lambda rotation: bool(rotation.why))


def declare() -> None:
    """This host's operations for `certs rotate`: the preflight on every host at once, then the
    rotation in its stage's turn (`harmony.k3s.lifecycle.STAGES`: the first server, the other
    servers, the agents; one host at a time)."""
    rotation = NodeRotation(K3sHostRun(host.name, from_data(host.data, host.name, host.groups), resolve.of_run()),
                            (host.data.get(CERTS_KEY) or {}).get("within"))
    PREFLIGHT.declare(rotation)
    for stage in host.loop(lifecycle.STAGES):
        if stage == rotation.node.stage and not rotation.node.refused:
            ROTATE.declare(rotation)
