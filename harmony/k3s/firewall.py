"""k3s's ports in a host's active firewall: ufw, firewalld, or an nftables ruleset that drops what
it does not allow. The `K3sHost` fact says which one is active and what it allows already; where
none is, or it allows all k3s needs, nothing is done (k3s-ansible #234, #459).

What k3s needs open (its docs' inbound rules): the API (6443/tcp) on servers, etcd (2379-2380/tcp)
on HA servers, the kubelet (10250/tcp) and flannel's VXLAN (8472/udp) on every node, and traffic
from the pod and service networks (10.42.0.0/16, 10.43.0.0/16, or the cluster's own
`cluster-cidr` and `service-cidr`). Every rule harmony adds carries the comment `k3s (harmony)`,
so that it can tell its rules from the user's, and remove them again on `down`.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

from harmony import shell

COMMENT = "k3s (harmony)"


@dataclass(frozen=True)
class Openings:
    """What one node needs open."""

    tcp: tuple[str, ...]  # ports or ranges: "6443", "2379-2380"
    udp: tuple[str, ...]
    sources: tuple[str, ...]  # networks whose traffic is let in


def openings(role: str, ha: bool, config: dict) -> Openings:
    """A node's openings, from its role, whether the servers run embedded etcd, and its k3s config."""
    tcp = ["10250"]
    if role == "server":
        tcp.insert(0, str(config.get("https-listen-port", 6443)))
        if ha:
            tcp.append("2379-2380")
    sources = [cidr.strip() for key, default in (("cluster-cidr", "10.42.0.0/16"), ("service-cidr", "10.43.0.0/16"))
               for cidr in str(config.get(key, default)).split(",") if cidr.strip()]
    return Openings(tuple(tcp), ("8472",), tuple(sources))


@dataclass
class Firewall:
    """A host's active firewall, as the fact reports it."""

    kind: str = ""  # ufw | firewalld | nftables; "" where none is active
    rules: set[str] = field(default_factory=set)  # ufw: `ufw show added` lines; firewalld: "port P", "source S"
    chains: dict[str, NftChain] = field(default_factory=dict)  # nftables: base input chains, by "family table name"


@dataclass
class NftChain:
    policy: str = "accept"
    last_rule: str = ""  # without counters, comments and handle
    marked: dict[str, str] = field(default_factory=dict)  # harmony's rules: handle -> comment

    @property
    def blocks(self) -> bool:
        """Whether the chain drops what no rule allows: by policy, or by a final catch-all rule."""
        return self.policy == "drop" or self.last_rule in ("drop", "reject") or self.last_rule.startswith("reject with")


# ---------------------------------------------------------------- ufw


def ufw_rules(wanted: Openings) -> list[str]:
    """The rules, as `ufw show added` prints them (so the fact's lines compare as they are); each
    line is also the command that adds it."""
    comment = f"comment '{COMMENT}'"
    return ([f"ufw allow {port.replace('-', ':')}/tcp {comment}" for port in wanted.tcp]
            + [f"ufw allow {port.replace('-', ':')}/udp {comment}" for port in wanted.udp]
            + [f"ufw allow from {source} {comment}" for source in wanted.sources])


def ufw_delete(rule: str) -> str:
    """The command that deletes a rule `ufw show added` printed (as shell words, which ufw
    prints them as), each word quoted again: the host's text is never run as it is."""
    return shell.command("ufw", "delete", *shlex.split(rule.removeprefix("ufw ").split(" comment ", 1)[0]))


# ---------------------------------------------------------------- firewalld


def firewalld_rules(wanted: Openings) -> dict[str, tuple[str, ...]]:
    """Each rule as the fact names it, and the options that add it (the ports in the default
    zone, the networks as sources of the trusted zone, as k3s's docs do)."""
    rules = {f"port {p}/tcp": (f"--add-port={p}/tcp",) for p in wanted.tcp}
    rules |= {f"port {p}/udp": (f"--add-port={p}/udp",) for p in wanted.udp}
    rules |= {f"source {s}": ("--zone=trusted", f"--add-source={s}") for s in wanted.sources}
    return rules


# ---------------------------------------------------------------- nftables


def _nft_accepts(wanted: Openings, family: str) -> tuple[list[str], str]:
    """harmony's rules for a chain of `family` (inet, ip or ip6), and the comment they carry: a
    tag with a hash of them all, so a chain holding exactly these is recognised, and any other
    set is replaced."""
    rules = [f"tcp dport {{ {', '.join(wanted.tcp)} }} accept", f"udp dport {{ {', '.join(wanted.udp)} }} accept"]
    for version, match in ((4, "ip"), (6, "ip6")):
        sources = [s for s in wanted.sources if (":" in s) == (version == 6)]
        if sources and family in ("inet", match):
            rules.append(f"{match} saddr {{ {', '.join(sources)} }} accept")
    return rules, f"{COMMENT} {hashlib.sha256(chr(10).join(rules).encode()).hexdigest()[:8]}"


def nft_rules(wanted: Openings, family: str) -> list[str]:
    """harmony's rules for a chain of `family`, with their comment."""
    rules, comment = _nft_accepts(wanted, family)
    return [f'{rule} comment "{comment}"' for rule in rules]


def nft_script(wanted: Openings, chains: list[str]) -> str:
    """A script that puts harmony's rules, and only them, at the top of each of `chains`: run
    by harmony, and by k3s's service before k3s starts (the ruleset is loaded anew at boot)."""
    lines = [shell.command("open_chain", *chain.split(), *nft_rules(wanted, chain.split()[0])) for chain in chains]
    return f"""#!/bin/sh
# Managed by harmony: opens k3s's ports in the nftables chains that drop what they do not allow.
# Run before k3s starts, and by `harmony up`; safe to run again.
set -e
open_chain() {{  # family table chain rule...
    family=$1 table=$2 chain=$3; shift 3
    nft list chain "$family" "$table" "$chain" >/dev/null 2>&1 || return 0
    for handle in $(nft -a list chain "$family" "$table" "$chain" \\
            | sed -n 's/.*comment "{COMMENT} [0-9a-f]*" # handle \\([0-9]*\\)$/\\1/p'); do
        nft delete rule "$family" "$table" "$chain" handle "$handle"
    done
    for rule in "$@"; do nft insert rule "$family" "$table" "$chain" "$rule"; done
}}
{chr(10).join(lines)}
"""


def nft_missing(firewall: Firewall, wanted: Openings) -> list[str]:
    """The blocking chains that lack harmony's current rules (or hold others of harmony's)."""
    missing = []
    for name, chain in sorted(firewall.chains.items()):
        rules, comment = _nft_accepts(wanted, name.split()[0])
        if chain.blocks and sorted(chain.marked.values()) != [comment] * len(rules):
            missing.append(name)
    return missing


def blocking_chains(firewall: Firewall) -> list[str]:
    return sorted(name for name, chain in firewall.chains.items() if chain.blocks)


# ---------------------------------------------------------------- what the deploys run


def open_commands(firewall: Firewall, wanted: Openings) -> list[str]:
    """ufw's or firewalld's commands that add the rules k3s lacks: none where it has them (for
    nftables, see `nft_script`)."""
    if firewall.kind == "ufw":
        return [f"{shell.command(*shlex.split(rule))} >/dev/null" for rule in ufw_rules(wanted) if rule not in firewall.rules]
    if firewall.kind == "firewalld":
        missing = [f"{shell.command('firewall-cmd', '--permanent', *options)} >/dev/null"
                   for name, options in firewalld_rules(wanted).items() if name not in firewall.rules]
        return missing + ["firewall-cmd --reload >/dev/null"] if missing else []
    return []


def close_commands(firewall: Firewall) -> list[str]:
    """Commands that remove harmony's rules; firewalld's cannot be told from the user's, and stay."""
    ufw = [f"{ufw_delete(rule)} >/dev/null" for rule in sorted(firewall.rules)
           if firewall.kind == "ufw" and rule.endswith(f"comment '{COMMENT}'")]
    nft = [shell.command("nft", "delete", "rule", *name.split(), "handle", handle)
           for name, chain in sorted(firewall.chains.items()) for handle in chain.marked]
    return ufw + nft
