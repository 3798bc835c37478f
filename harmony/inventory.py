"""The target's inventory, loaded on the controller before pyinfra runs: to check every host's
data (bad input stops the run before any host is touched; each runtime checks its own keys,
`harmony.runtime.Runtime.check_data`) and to know the cluster's shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from harmony import datakeys, targets
from harmony.errors import BadInput
from harmony.targets import Target


@dataclass(frozen=True)
class Host:
    name: str
    data: dict = field(default_factory=dict)  # all its data: each runtime reads its settings from it
    groups: tuple[str, ...] = ()  # its inventory groups, which may give its role


def load(target: Target, override_data: dict) -> list[Host]:
    """The target's hosts with their settings, the run's overrides applied as pyinfra will."""
    from pyinfra.api import State
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_state
    from click import ClickException  # pyinfra's CLI wraps errors in user code in these

    try:
        with ctx_state.use(State()):  # pyinfra executes inventory files inside a state
            inventory = targets.make_inventory(target, override_data)
    except (PyinfraError, ClickException, SyntaxError) as error:
        cause = getattr(error, "exception", None) or error  # the error in the user's file
        text = cause.message if isinstance(cause, ClickException) else str(cause)
        message = f"{type(cause).__name__}: {text.strip().splitlines()[0] if text.strip() else ''}"
        raise BadInput(f"cannot load {target.description}: {message}") from None
    hosts = []
    for host in inventory:
        datakeys.check_data(host.data.dict(), f"host {host.name}")
        hosts.append(Host(host.name, host.data.dict(), tuple(host.groups)))
    if not hosts:
        raise BadInput(f"{target.description} lists no hosts")
    return hosts
