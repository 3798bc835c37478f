"""One run at a time applies a cluster's workloads: a Lease (coordination.k8s.io/v1, the
object Kubernetes' own controllers elect leaders with) named harmony-workloads in kube-system.

The workloads are applied from the controller after the hosts' run. The hosts' run lock
(harmony.runlock) happens to outlast it (pyinfra closes no SSH connection before harmony exits),
but runs that share a cluster need not share a host, and two `up`s could otherwise apply, prune
and wait at the same time. The Lease is taken before the first write and held until the last wait ends:
created if there is none, taken over (a replace guarded by its resourceVersion, so two runs
never both win) when its holder stopped renewing it for `DURATION` seconds (a run that was
killed), and renewed at the run's checkpoints. Another run waits for it up to the lock wait
(harmony_lock_wait), then fails naming the holder. A run that finds its Lease taken over (it was
stopped for longer than `DURATION`) stops rather than write on.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

from harmony.errors import RunFailed

NAME, NAMESPACE = "harmony-workloads", "kube-system"
DURATION = 30  # seconds a holder that stops renewing keeps it
RENEW_SECONDS = 10
POLL_SECONDS = 1
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def holder_identity() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} run {uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def held(cluster, wait: float, check=lambda doing: None):
    """Hold the Lease for the block; yields `renew()`, to call between requests."""
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

    leases = cluster.required("coordination.k8s.io/v1", "Lease")
    me, deadline, live = holder_identity(), time.monotonic() + wait, None
    while live is None:
        current = cluster.get(leases, NAME, NAMESPACE)
        try:
            if current is None:
                live = leases.create(body=_body(me, None), namespace=NAMESPACE).to_dict()
            elif _expired(current):
                live = leases.replace(body=_body(me, current), name=NAME, namespace=NAMESPACE).to_dict()
        except ConflictError:  # another run created or took it first
            pass
        if live is None:
            spec = (current or {}).get("spec") or {}
            if time.monotonic() >= deadline:
                raise RunFailed(f"another harmony run ({spec.get('holderIdentity', 'unknown')}) has been applying "
                                f"this cluster's workloads since {spec.get('acquireTime', '?')}: waited {wait:g} s "
                                f"for it (harmony_lock_wait); try again when it ends")
            check("waiting for another run's hold on the workloads")
            time.sleep(POLL_SECONDS)
    renewed = time.monotonic()

    def renew() -> None:
        nonlocal live, renewed
        if time.monotonic() - renewed < RENEW_SECONDS:
            return
        try:
            live = leases.replace(body=_body(me, live, renew=True), name=NAME, namespace=NAMESPACE).to_dict()
        except (ConflictError, NotFoundError):
            raise RunFailed("this run's hold on the workloads lapsed (it was stopped for over "
                            f"{DURATION} s) and another run may be applying them: run up again") from None
        renewed = time.monotonic()

    try:
        yield renew
    finally:
        with contextlib.suppress(ConflictError, NotFoundError):
            leases.delete(name=NAME, namespace=NAMESPACE,
                          body={"preconditions": {"resourceVersion": live["metadata"]["resourceVersion"]}})


def _body(me: str, current: dict | None, renew: bool = False) -> dict:
    now = datetime.now(timezone.utc).strftime(MICRO_TIME)
    spec = {"holderIdentity": me, "leaseDurationSeconds": DURATION, "renewTime": now,
            "acquireTime": current["spec"]["acquireTime"] if renew else now}
    metadata = {"name": NAME, "namespace": NAMESPACE}
    if current:
        metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def _expired(lease: dict) -> bool:
    spec = lease.get("spec") or {}
    try:
        renewed = datetime.strptime(spec.get("renewTime", ""), MICRO_TIME).replace(tzinfo=timezone.utc)
    except ValueError:
        return True
    return datetime.now(timezone.utc) > renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or DURATION))
