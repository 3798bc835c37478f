"""The runtimes harmony has, in the order one is preferred where none is asked for."""

from __future__ import annotations

from harmony import shown
from harmony.errors import BadInput
from harmony.k3d.runtime import K3D
from harmony.k3s.runtime import K3S
from harmony.runtime import Runtime

ALL: tuple[Runtime, ...] = (K3S, K3D)


def named(name: object) -> Runtime:
    """The runtime of this name (--runtime, harmony_runtime), or BadInput listing them."""
    for runtime in ALL:
        if runtime.name == name:
            return runtime
    raise BadInput(f"unknown runtime {shown.value(name)}: use {' or '.join(r.name for r in ALL)}")
