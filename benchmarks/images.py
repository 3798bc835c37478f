"""The images benchmark: build, ship and roll-out time of a project's own image (issue #25).

    .venv/bin/python -m benchmarks.images [--repeat 3] [--payload-mb 0,50,500] [--runtimes k3s,k3d]
                                          [--out benchmarks/results]

Per runtime, one cluster, made once by a warm-up `harmony up` of the project with no images and
no workloads (timed, reported apart: the cluster's install is not what this measures):

- k3s: one systemd test host reached over SSH, marked as reaching no registry, running the
  stand-in k3s from the test mirror (as tests/e2e/test_own_images.py);
- k3d: a stand-in k3d cluster on this machine's Docker, a server and an agent, reaching no
  registry (as tests/e2e/test_k3d_own_images.py; this machine has no systemd).

Then, per payload size P (MB), the project's harmony.yaml names one image, built by the Docker
engine here `FROM` an image holding P MB of random bytes (incompressible: the worst case for
the gzip transfer) in one layer on top of the tiny local base (tests/localimages.py), and adding
one small file of its own (index.html, the "code"; P = 0: the tiny base and that one file). The
payload layer is built once beforehand, as a project's dependency layer sits in the builder's
cache: the build context holds only the code, so a build does not re-send P MB to the engine.
One Deployment runs the image. Timed, each `harmony up --yes --json`:

- first up: the first up naming this image (the cluster already up): build, send, apply, roll;
- unchanged up, `--repeat` times: checked to send 0 bytes and change no object;
- one-line change, `--repeat` times (each a new edit of index.html): checked to send bytes and to
  roll the Deployment to the new tag.

For each: the up's wall time, its JSON's `build_seconds` (build, tag and `docker save`) and
`images_sent_bytes`, and, where the Deployment rolls, the seconds from the up's start until the
API server, asked every 0.1 s, first shows the Deployment's template on the new image ("applied
seen": harmony has built, sent and applied) and the Deployment complete on it ("rollout seen"),
and the difference ("apply to rolled").
The up waits for the rollout itself, so its wall time includes it; the rest of the wall time is
harmony's report and exit. A rollout completing less than a question's interval before the up
ends is counted at the up's end (the resolution is about 0.1 s plus a request).

Then "import path alone" for each non-zero payload: a fresh image of P MB (a new random payload,
so nothing of it is on the node), sent as harmony sends it, step by step, timed apart:
`docker save`, gzip (level 1, as harmony), the transfer (k3s: SFTP over SSH with paramiko, as
pyinfra; k3d: the copy to the staging directory on this machine), sha256 + gunzip on the host,
the import (`k3s ctr -n k8s.io images import` on the host; `k3d image import --mode direct`).
A registry push is not measured: harmony has no push path. What a push of the changed layer
alone would send is the changed layer's size (`docker history`), reported per payload.

Both runtimes are stand-ins: their containerd import and kubelet are the test stand-ins'
(Python), so import and rollout times are the stand-ins', not real containerd's.

Prints min / median / max per measure, writes images.json, images.csv and images.md to `--out`,
with the machine's 1-minute load average sampled during the run (other work on the machine
shows there). Stops, with the evidence, if harmony misbehaves (an unchanged up that sends bytes
or changes an object, a change that does not roll). Every container, cluster and image it
creates is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

from benchmarks.fleet import machine
from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import NEW, Harmony, start_mirror
from tests.e2e.test_k3d import free_port
from tests.e2e.test_own_images import K3S_IMAGES, NO_REGISTRY
from tests.localimages import tiny_base_image
from tests.standin.mirror import standin_binary

NO_REGISTRY_ENV = {"STANDIN_K3D_NO_REGISTRY": "1"}  # the stand-in k3d's nodes then reach no registry
UP_TIMEOUT = 1200  # seconds for one `harmony up`
STEP_TIMEOUT = 900  # seconds for one step of the import path alone
POLL = 0.1  # seconds between the rollout watcher's questions
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: {image}, ports: [{{containerPort: 8080}}]}}]}}
"""


class Misbehaved(SystemExit):
    """harmony did not do what it should: stop, with the evidence."""


def docker(*args: str, timeout: float = 600, input: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, input=input)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}... failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def payload_image(prefix: str, base: str, mb: int, work: Path, tag: str) -> str:
    """An image FROM `base` with one layer of `mb` MB of random bytes (built here, once)."""
    name = f"{prefix}-{tag}:1"
    context = work / f"ctx-{tag}"
    context.mkdir()
    with open(context / "payload.bin", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY payload.bin /payload.bin\n")
    docker("build", "-q", "-t", name, str(context))
    shutil.rmtree(context)
    return name


def layer_sizes(image: str) -> list[int]:
    """The image's layers' sizes in bytes, the newest first (`docker history`)."""
    return [int(s) for s in docker("history", "--human=false", "--format", "{{.Size}}", image).split()]


class Cluster:
    """One runtime's cluster and the project directory whose harmony.yaml the benchmark rewrites."""

    def __init__(self, runtime: str, work: Path, harmony: Harmony, prefix: str) -> None:
        self.runtime, self.work, self.harmony, self.prefix = runtime, work, harmony, prefix
        self.root = work / f"project-{runtime}"
        (self.root / ".git").mkdir(parents=True)
        (self.root / "web").mkdir()
        (self.root / "k8s").mkdir()
        self.host: test_hosts.Host | None = None
        self.k3d_name: str | None = None
        self.env = NO_REGISTRY_ENV if runtime == "k3d" else {}
        if runtime == "k3s":
            self.host = test_hosts.start(harmony.ssh_key.with_suffix(".pub").read_text(), prefix="benchimg")
            self.host.sh(f"touch {NO_REGISTRY}")
            # As an airgapped host must, it holds k3s's own images (a token file at the stand-in's mirror).
            self.host.sh(f"mkdir -p {K3S_IMAGES} && : > {K3S_IMAGES}/k3s-airgap-images-amd64.tar.zst")
            self.context = "bench"
            self.cluster = {"name": "bench", "runtime": "k3s", "version": NEW, "kubeconfig_server": self.host.api_url,
                            "allow_http": True, "k3s": {"release_url": harmony.mirror.release_url}}
            self.extra = {"target": self.host.target, "ssh": {"key": str(harmony.ssh_key)}}
        else:
            test_hosts.k3s_image(NEW, standin_binary(NEW))
            self.k3d_name = self.context = f"hb{uuid.uuid4().hex[:8]}"
            self.bin_dir = work / f"bin-{runtime}"
            self.cluster = {"name": self.k3d_name, "runtime": "k3d", "version": NEW, "allow_http": True,
                            "k3d": {"release_url": harmony.mirror.k3d_release_url, "bin_dir": str(self.bin_dir),
                                    "api_port": free_port(), "agents": 1}}
            self.extra = {}

    def close(self) -> None:
        if self.host:
            self.host.remove()
        if self.k3d_name:
            test_hosts.remove_k3d_cluster(self.k3d_name)

    def write(self, image: str | None, base: str | None = None) -> None:
        """harmony.yaml with no images and no workloads (image None), or building `image` FROM
        `base` and running it in Deployment web."""
        spec = {"cluster": self.cluster, **self.extra}
        if image:
            (self.root / "web" / "Dockerfile").write_text(f"FROM {base}\nCOPY index.html /srv/index.html\n")
            (self.root / "web" / "index.html").write_text("<h1>hello</h1>\n")
            (self.root / "k8s" / "web.yaml").write_text(DEPLOYMENT.format(image=image))
            spec |= {"images": [{"name": image, "context": "web"}], "workloads": [{"name": "web", "manifests": "k8s/"}]}
        (self.root / "harmony.yaml").write_text(yaml.safe_dump(spec))

    def deployment(self) -> dict | None:
        done = self.harmony.kubectl("--context", self.context, "get", "deployment", "web", "-o", "json")
        return json.loads(done.stdout) if done.returncode == 0 else None

    def api(self):
        """A function asking the API server for Deployment web (None while there is none), by the
        kubeconfig's client certificate: cheaper than a kubectl per question, so it can ask often."""
        import base64
        import ssl
        import urllib.error
        import urllib.request

        config = yaml.safe_load(self.harmony.kubeconfig.read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == self.context)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        files = self.work / f"client-{self.runtime}"
        files.mkdir(exist_ok=True)
        for name, key in (("ca", "certificate-authority-data"),):
            (files / name).write_bytes(base64.b64decode(cluster[key]))
        for name, key in (("cert", "client-certificate-data"), ("key", "client-key-data")):
            (files / name).write_bytes(base64.b64decode(user[key]))
        tls = ssl.create_default_context(cafile=str(files / "ca"))
        tls.check_hostname = False
        tls.load_cert_chain(str(files / "cert"), str(files / "key"))
        url = cluster["server"].rstrip("/") + "/apis/apps/v1/namespaces/default/deployments/web"

        def get() -> dict | None:
            try:
                with urllib.request.urlopen(url, context=tls, timeout=10) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return None
                raise
        return get

    def up(self, watch_from: str | None = None) -> tuple[dict, float, tuple[float, float] | None]:
        """`harmony up --yes --json`: its report, wall seconds, and with `watch_from` (the image
        the Deployment ran before, "" for none), the seconds until the Deployment was first seen
        on another image (applied), and complete on it."""
        seen: list[float] = []
        applied: list[float] = []
        stop = threading.Event()
        ask = self.api() if watch_from is not None else None
        start = time.monotonic()

        def watch() -> None:
            while not stop.is_set():
                try:
                    found = ask()
                except OSError:  # the API busy or restarting: ask again
                    found = None
                if found and template_image(found) != watch_from:
                    if not applied:
                        applied.append(time.monotonic() - start)
                    if complete(found):
                        seen.append(time.monotonic() - start)
                        return
                stop.wait(POLL)

        watcher = threading.Thread(target=watch, daemon=True)
        if watch_from is not None:
            watcher.start()
        try:
            done = self.harmony("up", "--yes", "--json", cwd=self.root, timeout=UP_TIMEOUT, env=self.env)
        finally:
            wall = time.monotonic() - start
            stop.set()
            if watcher.is_alive():
                watcher.join(timeout=70)
        if watch_from is not None and (not seen or seen[0] > wall):
            # Between two questions when the up ended: the up waited for the rollout, so it was
            # complete by the up's end (checked by the caller): the up's wall time bounds it.
            seen[:] = [wall]
        if watch_from is not None and (not applied or applied[0] > seen[0]):
            applied[:] = seen[:1]
        if done.returncode != 0:
            raise Misbehaved(f"{self.runtime}: harmony up failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
                             f"{done.stderr[-4000:]}")
        return json.loads(done.stdout), wall, ((applied[0], seen[0]) if seen else None)


def template_image(deployment: dict) -> str:
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def complete(deployment: dict) -> bool:
    """As `kubectl rollout status` decides: the new template observed, every replica updated and
    available, no old one left."""
    status, want = deployment.get("status") or {}, deployment["spec"].get("replicas", 1)
    return (status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
            and status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want)


def actions(report: dict) -> list[str]:
    return [o["action"] for o in (report.get("workloads") or {}).get("objects", [])]


def measure_payload(cluster: Cluster, prefix: str, base: str, mb: int, repeat: int,
                    work: Path) -> tuple[dict[str, dict[str, list[float]]], dict]:
    """{measure: {figure: runs}} for one payload size, and the figures taken once."""
    image = f"{prefix}-web{mb}"
    source = payload_image(prefix, base, mb, work, f"payload{mb}") if mb else base
    cluster.write(image, source)
    before = cluster.deployment()
    previous = template_image(before) if before else ""
    rows: dict[str, dict[str, list[float]]] = {}

    def record(measure: str, report: dict, wall: float, rolled: tuple[float, float] | None) -> None:
        figures = rows.setdefault(measure, {})
        figures.setdefault("wall s", []).append(wall)
        figures.setdefault("build s", []).append(sum((report.get("build_seconds") or {}).values()))
        figures.setdefault("sent MB", []).append(report.get("images_sent_bytes", 0) / 1e6)
        if rolled is not None:
            figures.setdefault("applied seen s", []).append(rolled[0])
            figures.setdefault("rollout seen s", []).append(rolled[1])
            figures.setdefault("apply to rolled s", []).append(rolled[1] - rolled[0])
        print(f"  {cluster.runtime} {mb:>4} MB  {measure:<16} wall {wall:7.2f} s  build "
              f"{figures['build s'][-1]:6.2f} s  sent {figures['sent MB'][-1]:10.4f} MB"
              + (f"  applied seen {rolled[0]:6.2f} s, rolled out seen {rolled[1]:6.2f} s" if rolled else ""),
              flush=True)

    def rolled_to(report: dict, rolled: tuple[float, float] | None, what: str) -> str:
        tag = report["images"][0]["tag"]
        found = cluster.deployment()
        if not report.get("images_sent_bytes") or not found or template_image(found) != f"{image}:{tag}" \
                or not complete(found) or rolled is None:
            raise Misbehaved(f"{cluster.runtime} {mb} MB {what}: expected bytes sent and Deployment web complete on "
                             f"{image}:{tag}; rollout seen {rolled}; report: {json.dumps(report)[:3000]}; "
                             f"deployment: {json.dumps(found)[:2000]}")
        return f"{image}:{tag}"

    report, wall, rolled = cluster.up(watch_from=previous)
    current = rolled_to(report, rolled, "first up")
    record("first up", report, wall, rolled)
    once = {"image_size_mb": report["images"][0]["size"] / 1e6, "layers_bytes": layer_sizes(current)}
    for _ in range(repeat):
        report, wall, _ = cluster.up()
        if report.get("images_sent_bytes") != 0 or set(actions(report)) != {"unchanged"} \
                or f"{image}:{report['images'][0]['tag']}" != current:
            raise Misbehaved(f"{cluster.runtime} {mb} MB: an unchanged up sent bytes or changed objects: "
                             f"{json.dumps(report)[:3000]}")
        record("unchanged up", report, wall, None)
    for i in range(repeat):
        (cluster.root / "web" / "index.html").write_text(f"<h1>hello, change {i + 1} at {time.time():.3f}</h1>\n")
        report, wall, rolled = cluster.up(watch_from=current)
        current = rolled_to(report, rolled, f"change {i + 1}")
        record("one-line change", report, wall, rolled)
    once["changed_layer_bytes"] = layer_sizes(current)[0]
    once["layers_bytes_after_change"] = layer_sizes(current)
    return rows, once


def timed(command: list[str], timeout: float = STEP_TIMEOUT, **kwargs) -> float:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return time.monotonic() - start


def import_path(cluster: Cluster, prefix: str, base: str, mb: int, work: Path, index: int) -> dict[str, float]:
    """A fresh image of `mb` MB sent as harmony sends it, each step timed apart."""
    tag = f"probe{mb}-{index}"
    image = payload_image(prefix, base, mb, work, tag)
    tar, gz = work / f"{tag}.tar", work / f"{tag}.tar.gz"
    steps: dict[str, float] = {"docker save s": timed(["docker", "save", "-o", str(tar), image])}
    start = time.monotonic()
    with tar.open("rb") as source, gzip.open(gz, "wb", compresslevel=1) as target:
        shutil.copyfileobj(source, target, 1 << 20)
    steps["gzip -1 s"] = time.monotonic() - start
    digest = hashlib.sha256(gz.read_bytes()).hexdigest()
    steps["archive MB"] = gz.stat().st_size / 1e6
    reference = f"docker.io/library/{prefix}-{tag}:1"
    if cluster.runtime == "k3s":
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect("127.0.0.1", port=cluster.host.ssh_port, username="root",
                       key_filename=str(cluster.harmony.ssh_key), timeout=30)
        try:
            staged = f"/root/{tag}.tar.gz"
            start = time.monotonic()
            with client.open_sftp() as sftp:
                sftp.put(str(gz), staged)
            steps["transfer s"] = time.monotonic() - start
            steps["sha256 + gunzip s"] = ssh_timed(client, f'[ "$(sha256sum {staged} | cut -d" " -f1)" = {digest} ] '
                                                           f"&& gzip -dc {staged} > {staged}.tar")
            steps["import s"] = ssh_timed(client, f"k3s ctr -n k8s.io images import {staged}.tar")
            ssh_timed(client, f"rm -f {staged} {staged}.tar; k3s ctr -n k8s.io images ls -q | grep -qxF {reference}")
        finally:
            client.close()
    else:
        staging = cluster.harmony.home / ".cache" / "harmony" / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        staged = staging / gz.name
        start = time.monotonic()
        shutil.copyfile(gz, staged)
        steps["transfer s"] = time.monotonic() - start
        start = time.monotonic()
        if hashlib.sha256(staged.read_bytes()).hexdigest() != digest:
            raise RuntimeError("the staged copy does not match")
        steps["sha256 + gunzip s"] = time.monotonic() - start + timed(
            ["sh", "-c", f'gzip -dc "{staged}" > "{staged}.tar"'])
        steps["import s"] = timed([str(cluster.bin_dir / "k3d"), "image", "import", "--mode", "direct", "--cluster",
                                   cluster.k3d_name, f"{staged}.tar"], env={**os.environ, **cluster.env})
        staged.unlink()
        Path(f"{staged}.tar").unlink()
        for node in (f"k3d-{cluster.k3d_name}-server-0", f"k3d-{cluster.k3d_name}-agent-0"):
            if reference not in docker("exec", node, "k3s", "ctr", "-n", "k8s.io", "images", "ls", "-q").split():
                raise RuntimeError(f"{node} lacks {reference} after the import")
    tar.unlink()
    gz.unlink()
    docker("rmi", "-f", image)
    steps["save to import s"] = sum(v for k, v in steps.items() if k.endswith(" s"))
    print(f"  {cluster.runtime} {mb:>4} MB  import path alone: "
          + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()), flush=True)
    return steps


def ssh_timed(client, command: str) -> float:
    start = time.monotonic()
    _, out, err = client.exec_command(command, timeout=STEP_TIMEOUT)
    code = out.channel.recv_exit_status()
    if code != 0:
        raise RuntimeError(f"{command[:80]}... on the host: exit {code}: {err.read().decode(errors='replace')[-2000:]}")
    return time.monotonic() - start


def summarize(runs: list[float]) -> dict:
    return {"min": min(runs), "median": statistics.median(runs), "max": max(runs), "runs": runs}


def run_runtime(runtime: str, work: Path, harmony: Harmony, prefix: str, base: str, payloads: list[int],
                repeat: int) -> tuple[list[dict], dict]:
    cluster = Cluster(runtime, work, harmony, prefix)
    rows: list[dict] = []
    info: dict = {}
    try:
        cluster.write(None)
        _, wall, _ = cluster.up()
        info["warm-up up (cluster install, no images) s"] = round(wall, 2)
        print(f"{runtime}: warm-up up (installs the cluster, no images): {wall:.2f} s", flush=True)
        for mb in payloads:
            measures, once = measure_payload(cluster, prefix, base, mb, repeat, work)
            info[f"{mb} MB"] = once
            for measure, figures in measures.items():
                for figure, runs in figures.items():
                    rows.append({"runtime": runtime, "payload_mb": mb, "measure": measure, "figure": figure,
                                 **summarize(runs)})
        for mb in (p for p in payloads if p):
            steps: dict[str, list[float]] = {}
            for i in range(repeat):
                for name, value in import_path(cluster, prefix, base, mb, work, i).items():
                    steps.setdefault(name, []).append(value)
            for name, runs in steps.items():
                rows.append({"runtime": runtime, "payload_mb": mb, "measure": "import path alone", "figure": name,
                             **summarize(runs)})
    finally:
        cluster.close()
    return rows, info


def table(rows: list[dict]) -> str:
    lines = ["| runtime | payload MB | measure | figure | min | median | max | n |",
             "|---|---:|---|---|---:|---:|---:|---:|"]

    def cell(value: float) -> str:
        return f"{value:.4f}" if 0 < value < 0.1 else f"{value:.2f}"

    for r in rows:
        lines.append(f"| {r['runtime']} | {r['payload_mb']} | {r['measure']} | {r['figure']} | {cell(r['min'])} | "
                     f"{cell(r['median'])} | {cell(r['max'])} | {len(r['runs'])} |")
    return "\n".join(lines)


def write_results(out: Path, info: dict, rows: list[dict], runtimes: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "images.json").write_text(json.dumps({"machine": info, "runtimes": runtimes, "results": rows},
                                                indent=2) + "\n")
    with open(out / "images.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["runtime", "payload_mb", "measure", "figure", "min", "median", "max", "runs"])
        for r in rows:
            writer.writerow([r["runtime"], r["payload_mb"], r["measure"], r["figure"], f"{r['min']:.3f}",
                             f"{r['median']:.3f}", f"{r['max']:.3f}", len(r["runs"])])
    (out / "images.md").write_text(summary(info, rows, runtimes))


def summary(info: dict, rows: list[dict], runtimes: dict) -> str:
    """images.md: the machine, and one table, a column per runtime and payload, each cell the
    median (min-max) of its runs (their number given in the measure's name)."""
    columns = list(dict.fromkeys((r["runtime"], r["payload_mb"]) for r in rows))
    measures = list(dict.fromkeys((r["measure"], r["figure"]) for r in rows))
    found = {(r["runtime"], r["payload_mb"], r["measure"], r["figure"]): r for r in rows}

    def cell(row: dict | None) -> str:
        if not row:
            return ""
        digits = 4 if 0 < row["median"] < 0.1 else 2 if row["median"] < 10 else 1
        if len(row["runs"]) == 1:
            return f"{row['median']:.{digits}f}"
        return f"{row['median']:.{digits}f} ({row['min']:.{digits}f}-{row['max']:.{digits}f})"

    lines = ["| measure | figure | n | " + " | ".join(f"{rt} {mb} MB" for rt, mb in columns) + " |",
             "|---|---|---:|" + "---:|" * len(columns)]
    for measure, figure in measures:
        cells = [found.get((rt, mb, measure, figure)) for rt, mb in columns]
        n = max(len(c["runs"]) for c in cells if c)
        lines.append(f"| {measure} | {figure} | {n} | " + " | ".join(cell(c) for c in cells) + " |")
    once = []
    for runtime, figures in runtimes.items():
        sizes = "; ".join(f"{key}: image {value['image_size_mb']:.3g} MB (docker-archive), layers "
                          f"{value['layers_bytes']} bytes, the one-line change's layer {value['changed_layer_bytes']}"
                          " bytes" for key, value in figures.items() if isinstance(value, dict))
        warm = figures.get("warm-up up (cluster install, no images) s")
        once.append(f"- {runtime}: warm-up up (installs the cluster, no images) {warm} s; {sizes}.")
    load = info.get("load average (1 min) during the run")
    return "\n".join([
        f"# Images benchmark ({info['date']})", "",
        f"Machine: {info['cores']} cores, {info['cpu']}, {info['memory_gib']} GiB, kernel {info['kernel']}, "
        f"Python {info['python']}, pyinfra {info['pyinfra']}. Written by `python -m benchmarks.images` (its "
        "docstring says what each measure is); every figure is in images.json and images.csv.",
        *(["", f"1-minute load average during the run, sampled every 5 s: min {load['min']:.1f}, median "
               f"{load['median']:.1f}, max {load['max']:.1f} (more than the 2 cores: other work shared the machine)."]
          if load else []),
        "", "Seconds, except `sent MB` and `archive MB`; median (min-max) of n runs. The k3s and k3d here are the "
        "test stand-ins: their image import and rollout (`apply to rolled`) are the stand-ins' (Python), not "
        "containerd's and the kubelet's.", "", *lines, "", *once, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the unchanged up and the change, per size")
    parser.add_argument("--payload-mb", default="0,50,500", help="payload sizes in MB, comma-separated")
    parser.add_argument("--runtimes", default="k3s,k3d", help="k3s, k3d or both, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    payloads = [int(p) for p in args.payload_mb.split(",")]
    runtimes = [r.strip() for r in args.runtimes.split(",")]
    if set(runtimes) - {"k3s", "k3d"}:
        sys.exit(f"--runtimes: k3s or k3d, not {', '.join(sorted(set(runtimes) - {'k3s', 'k3d'}))}")
    if "k3d" in runtimes and os.path.isdir("/run/systemd/system"):
        sys.exit("k3d: this machine has systemd, where harmony picks k3s (as the k3d tests, skip k3d here)")
    test_hosts.ensure_images()
    loads: list[float] = []  # the 1-minute load average every 5 s: other work on the machine shows here
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(5):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="harmony-bench-images-"))
    rows: list[dict] = []
    per_runtime: dict[str, dict] = {}
    mirror = None
    try:
        key = work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        mirror = start_mirror(work / "mirror")
        with tiny_base_image("harmony-bench-img") as prefix:
            base = f"{prefix}-base:1"
            for runtime in runtimes:
                home = work / f"home-{runtime}"
                home.mkdir()
                found, per_runtime[runtime] = run_runtime(runtime, work, Harmony(home, key, mirror), prefix, base,
                                                          payloads, args.repeat)
                rows += found
    finally:
        if mirror is not None:
            mirror.stop()
        shutil.rmtree(work, ignore_errors=True)
    sampling.set()
    info = {**machine(), "load average (1 min) during the run": summarize(loads or [os.getloadavg()[0]])}
    write_results(args.out, info, rows, per_runtime)
    print(f"\nmachine: {info}\n{json.dumps(per_runtime, indent=1)}\n\n{table(rows)}\n\n"
          f"written: {args.out}/images.json, images.csv, images.md")


if __name__ == "__main__":
    main()
