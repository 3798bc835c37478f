"""Prepare: make the host ready for k3s. No service of the role it no longer has; the kernel
modules, kernel settings and SELinux policy k3s needs; k3s's ports open in its firewall. Nothing
where the host has them already: each step is declared only where the host's state shows work
for it, so the phase needs no `should_run` of its own (it always runs, and on a host ready for
k3s declares nothing, so that, as before, no report lists it there)."""

from __future__ import annotations


from harmony import operations, shell
from harmony.k3s import operations as k3s_operations
from harmony.k3s import firewall, paths, prepare
from harmony.facts import text_sha256
from harmony.k3s.hostrun import K3sHostRun
from harmony.k3s.service import Service
from harmony.phase import Phase


def run(node: K3sHostRun) -> None:
    remove_other_role(node)
    kernel(node)
    node.firewall_hook = open_ports(node)


def remove_other_role(node: K3sHostRun) -> None:
    """A host that changed role keeps no service of its old one (it would start again at boot)."""
    role, state = node.settings.role, node.state
    other = Service(next(r for r in paths.ROLES if r != role), state.init)
    files = [p for p in other.files if p in state.files]
    if state.unit(other.name).load_state != "loaded" and not files:
        return
    k3s_operations.stop_and_disable(name=f"Stop and disable {other.name} (the host is now a {role})",
                                service=other, current=state.unit(other.name))
    operations.remove(name=f"Remove {other.name}'s files", targets=files)
    if other.reload:
        operations.run(name="Reload systemd", command=other.reload)


def kernel(node: K3sHostRun) -> None:
    """Load the kernel modules and set the kernel settings k3s needs, and install the SELinux
    policy it needs, where they are missing."""
    state = node.state
    missing = prepare.missing_modules(state.modules)
    if missing:
        node.write(paths.MODULES_FILE, prepare.modules_conf(list(prepare.MODULES)), "644",
              "Load br_netfilter and overlay at boot")
        operations.run(name=f"Load the kernel modules {', '.join(missing)}",
                       command=_or_fail(("modprobe", "-a", *missing), f"cannot load the kernel modules "
                                        f"{' '.join(missing)} k3s needs: install them for this kernel"))
    if state.enforcing and not state.selinux_policy:  # preflight made sure harmony can install it
        repo = prepare.rpm_repo_path(state.os_family, state.os_version)
        node.write(paths.RPM_REPO, prepare.rpm_repo(repo), "644", "Add Rancher's RPM repository (k3s-selinux)")
        operations.run(name="Install the k3s-selinux policy", command=prepare.INSTALL_POLICY)
    wrong = prepare.wrong_sysctls(state.sysctls, state.modules)
    if wrong:
        node.write(paths.SYSCTL_FILE, prepare.sysctl_conf(prepare.SYSCTLS), "644", "Keep k3s's kernel settings")
        operations.run(name=f"Set {', '.join(sorted(wrong))}",
                       command=_or_fail(("sysctl", "-q", "-p", paths.SYSCTL_FILE),
                                        f"cannot set {', '.join(sorted(wrong))} (k3s needs them at 1)"))


def _or_fail(words: tuple[str, ...], why: str) -> str:
    """A command that fails the host saying `why` where it fails; each word, and `why`, quoted."""
    return f"{shell.command(*words)} || {{ {shell.command('echo', 'harmony: ' + why)} >&2; exit 1; }}"


def open_ports(node: K3sHostRun) -> bool:
    """Open k3s's ports in the host's active firewall, where they are not open; returns whether
    k3s's service must open them itself before it starts (nftables, whose rules harmony adds to
    the running ruleset, which is loaded anew at boot)."""
    state = node.state
    wanted = firewall.openings(node.settings.role, node.shape.ha, node.settings.extra_config)
    commands = firewall.open_commands(state.firewall, wanted)
    if commands:
        operations.run(name=f"Open k3s's ports in {state.firewall.kind}", command=" && ".join(commands))
    chains = firewall.blocking_chains(state.firewall)
    if chains:
        script = firewall.nft_script(wanted, chains)
        written = not node.settled(paths.FIREWALL_SCRIPT, text_sha256(script), "755", staged=False)
        if written:
            node.write(paths.FIREWALL_SCRIPT, script, "755", "Write k3s-firewall.sh")
        if written or firewall.nft_missing(state.firewall, wanted):
            operations.run(name="Open k3s's ports in nftables", command=paths.FIREWALL_SCRIPT)
    elif paths.FIREWALL_SCRIPT in state.files:
        operations.remove(name="Remove k3s-firewall.sh (no nftables chain drops)", targets=[paths.FIREWALL_SCRIPT])
    return bool(chains)


PHASE = Phase("prepare", run)
