"""Who may restart in a rolling restart when some hosts are out of the run: a pure decision.

A host is *out* when harmony could not connect to it, or it failed its preflight (its state
could not be read, or a check refused it) before anything on it changed: it is reported with its
reason and left out of the rollout, and the others go on. A host that failed *in* the rollout (a
change or a restart failed) stops every later restart: a bad change should not spread.

Two rules guard what the hosts left out may still be running:
- **etcd's quorum.** In an HA cluster (embedded etcd, n servers), a server that is out and not
  known to run k3s counts as lost. With u lost, restarting one more server leaves n-u-1 up, which
  must still be a quorum (n // 2 + 1); otherwise that server is not restarted. With none lost, a
  rolling restart goes on as always (two servers lose quorum for each restart, as they always do).
- **Version skew.** An agent must never run a newer k3s than its servers: an agent whose restart
  would change its version waits while a server is out or was not restarted.
And a restart is followed through the API with a server's admin kubeconfig: where every server
is out, there is none to read, and nothing restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def quorum(members: int) -> int:
    """etcd's quorum for a cluster of `members`: a majority."""
    return members // 2 + 1


@dataclass(frozen=True)
class Rollout:
    """What a rolling restart knows when a host's turn comes."""

    servers: tuple[str, ...]  # the cluster's servers, in inventory order
    out: dict[str, str] = field(default_factory=dict)  # hosts left out of the run: why ("unreachable")
    lost: frozenset[str] = frozenset()  # servers out and not known to run k3s
    current: frozenset[str] = frozenset()  # servers out but known to run the run's version
    stopped_at: tuple[str, ...] = ()  # hosts that failed in the rollout
    not_restarted: frozenset[str] = frozenset()  # hosts whose restart this run refused

    def api_server(self) -> str | None:
        """The server whose admin kubeconfig follows the restarts: the first one not out."""
        return next((s for s in self.servers if s not in self.out), None)


def refusal(rollout: Rollout, host: str, upgrade: bool) -> str | None:
    """Why `host` must not restart now (a line), or None where it may. `upgrade`: the restart
    changes the k3s version it runs."""
    if rollout.stopped_at:
        return f"not restarted: the rollout stopped at {', '.join(rollout.stopped_at)}, which failed"
    if rollout.api_server() is None:
        return (f"not restarted: no server is reachable to follow it through the API "
                f"({_why(rollout, rollout.servers)})")
    if host in rollout.servers:
        return _quorum_refusal(rollout, host)
    behind = [s for s in rollout.servers if s not in rollout.current
              and (s in rollout.out or s in rollout.not_restarted)]
    if upgrade and behind:
        return (f"not restarted onto a new k3s: {_servers(behind)} {_is(behind)} not upgraded "
                f"({_why(rollout, behind)}), and an agent must not run newer than its servers")
    return None


def servers_held(rollout: Rollout) -> bool:
    """Whether the servers' restarts are refused for etcd's quorum (the same for each server)."""
    return _quorum_refusal(rollout, "") is not None


def _quorum_refusal(rollout: Rollout, server: str) -> str | None:
    members, lost = len(rollout.servers), [s for s in rollout.servers if s in rollout.lost]
    left = members - len(lost) - 1
    if members < 2 or not lost or left >= quorum(members):
        return None
    return (f"not restarted: {len(lost)} of {members} servers ({', '.join(lost)}) {_is(lost)} "
            f"{_word(rollout, lost)}; restarting {server} would leave {left} of {members} up, "
            f"under etcd's quorum of {quorum(members)}")


def etcd_refusal(server: str, members: dict[str, str]) -> str | None:
    """Why restarting `server` now would take etcd below its quorum (a line), or None where it may
    restart. `members`: each etcd member's node, with why it is not a healthy voter ("" where it
    is), as k3s's etcd controller last found it (the API's EtcdIsVoter condition). This catches
    what the hosts out of the run cannot tell: a server harmony reaches whose k3s is stopped or
    whose member fell behind. A server that is itself unhealthy may restart: it takes nothing
    from the quorum."""
    members = dict(members)
    if members.pop(server, "unhealthy"):
        return None
    sick = sorted(name for name, why in members.items() if why)
    total, left = len(members) + 1, len(members) - len(sick)
    if not sick or left >= quorum(total):
        return None
    return (f"not restarted: the etcd member{'s' if len(sick) > 1 else ''} of "
            f"{', '.join(f'{name} ({members[name]})' for name in sick)} {_is(sick)} not healthy; "
            f"restarting {server} would leave {left} of {total} members up, under etcd's quorum of "
            f"{quorum(total)}: start k3s on {', '.join(sick)} first")


def _servers(names: list[str]) -> str:
    return f"server{'s' if len(names) > 1 else ''} {', '.join(names)}"


def _is(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _word(rollout: Rollout, names: list[str]) -> str:
    """How the lost servers are out: all unreachable, or some for another reason."""
    return "unreachable" if all(rollout.out.get(s, "").startswith("unreachable") for s in names) else "out"


def _why(rollout: Rollout, names) -> str:
    return "; ".join(f"{s}: {rollout.out.get(s) or 'not restarted'}" for s in names)
