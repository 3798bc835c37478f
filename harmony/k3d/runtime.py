"""k3s in one host's Docker through k3d, as a runtime (`harmony.runtime.Runtime`): where Docker
is the runtime (macOS, Windows, Linux without an init system or without root), or by choice."""

from __future__ import annotations

from harmony.errors import BadInput
from harmony.runtime import GET_DOCKER, START_DOCKER, Api, Fit, Platform, Runtime, can_install_docker


class K3d(Runtime):
    name = "k3d"
    deploys = "harmony.k3d.deploy"
    image_deploy = "images"

    def check_data(self, host) -> None:
        from harmony.k3d.settings import checked

        checked(host.data, host.name)

    def hosts_problem(self, count: int) -> str | None:
        if count > 1:
            return "k3d runs a cluster in one host's Docker: give one host, or use k3s for an inventory of several"
        return None

    def settings(self, hosts: list):
        from harmony.k3d.settings import from_data

        (host,) = hosts
        return from_data(host.data, host.name)

    def fit(self, platform: Platform, settings) -> Fit:
        how = platform.os if platform.os in GET_DOCKER else "linux"
        if platform.engine.problem:
            return Fit(False, platform.engine.problem, asleep=platform.docker == "stopped")
        if platform.docker == "absent" and not (settings.install_docker and can_install_docker(platform)):
            return Fit(False, f"Docker is not installed: {GET_DOCKER[how]}")
        if platform.docker not in ("running", "absent"):
            return Fit(False, f"Docker is installed but its engine does not answer: {START_DOCKER[how]}", asleep=True)
        if platform.docker != "running":
            return Fit(True, "Docker will be installed")
        engine = platform.engine
        return Fit(True, f"Docker is running: {engine.title} at {engine.endpoint}" if engine.kind else
                   "Docker is running")

    def check_choice(self, hosts: list, settings, reason: str) -> None:
        if settings.airgap_dir:
            raise BadInput("an airgap bundle (--airgap, k3s_airgap_dir) installs k3s under a host's systemd or "
                           f"OpenRC; here k3d runs k3s in Docker ({reason}) and cannot use it: drop --airgap (k3d "
                           "pulls its images), or give --runtime k3s on a host with an init system")

    def resolve(self, hosts: list, settings, pin: bool, whole: bool, offline: bool = False):
        from harmony.k3d import resolve

        return resolve.resolve(settings, pin, offline)

    def api(self, hosts, settings, resolved, ok, server, fetched) -> Api:
        """The one host's kubeconfig, at its published API port. Agents added later are named by
        k3d's node create; the servers' names are known."""
        (host,) = hosts
        servers = {f"k3d-{settings.cluster}-server-{i}" for i in range(settings.servers)}
        address = "127.0.0.1" if host.name == "@local" else settings.k3s.server_address
        return Api(fetched(host) if host.name in ok else None, server, servers, settings.servers + settings.agents,
                   address)

    @property
    def status_fact(self) -> type:
        from harmony.k3d.facts import K3dStatus

        return K3dStatus

    def fact_arguments(self, settings) -> dict:
        found = {"cluster": settings.cluster, "health": True}  # what status says the cluster lost
        return {**found, "bin_dir": settings.bin_dir} if settings.bin_dir else found

    def running(self, fact: dict, cluster: str) -> bool:
        return bool((fact.get("clusters") or {}).get(cluster, {}).get("running"))

    def status_row(self, host, fact, nodes, cluster, settings) -> dict:
        from harmony.k3d import health

        read = fact or {}
        state = read.get("clusters", {}).get(cluster)
        ready = sorted(n.name for n in nodes.values() if n.ready)
        nodes.clear()  # the cluster's nodes are all this host's
        return {**{key: read.get(key) for key in ("docker", "engine", "system", "arch")}, "cluster": state,
                "nodes_ready": ready, **health.status(fact, state, len(ready))}

    def status_line(self, row: dict) -> str:
        from harmony.k3d import health

        cluster, engine, ready = row["cluster"], row.get("engine") or {}, len(row["nodes_ready"])
        at = f"{engine['title']} at {engine['endpoint']}" if engine.get("title") else f"Docker {row['docker']}"
        return f"k3d, {at}, " + (
            f"{cluster['servers']} server(s) and {cluster['agents']} agent(s), {cluster['running']} running, "
            f"{cluster['image']}, {ready} node(s) Ready{health.note(row)}" if cluster else "no cluster")

    def installed(self, row: dict) -> str:
        """The release of the cluster's k3s image (rancher/k3s:v1.31.4-k3s1: v1.31.4+k3s1)."""
        return row["cluster"]["image"].rpartition(":")[2].replace("-k3s", "+k3s") if row.get("cluster") else ""

    def downloads(self, settings, resolved, row) -> list[str]:
        """The host's k3d executable (where its system is one k3d has a release for), and the
        k3s image its nodes run."""
        from harmony import releases
        from harmony.k3d import hostrun, render
        from harmony.resolved import VERSION

        try:
            k3d = [releases.download_url(settings.release_url, settings.version,
                                         hostrun.asset(row.get("system") or "", row.get("arch") or "").name)]
        except BadInput:
            k3d = []
        return [*k3d, f"docker.io/{render.image(resolved.version or VERSION)}"]

    def ports(self, settings, result=None) -> tuple[str, ...]:
        """The mappings in effect: the data's and those harmony chose (`harmony.k3d.ports`), as
        the run's one host found them; the data's where no run did."""
        return next(iter(result.published.values()), settings.ports) if result else settings.ports


K3D = K3d()
