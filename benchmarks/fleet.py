"""The fleet benchmark: harmony's wall time against the number of hosts.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m benchmarks.fleet [--sizes 1,5,10,20] [--repeat 3] [--out benchmarks/results]

Starts as many systemd test hosts as the largest size (containers reached through 127.0.0.1
ports, as the e2e tests do), serves the stand-in k3s from the test mirror, and for each size N
(the first N hosts: 1 server and N-1 agents) times, `--repeat` times each:

- ssh floor: one SSH session to every host at once, running `true`: the least any SSH-based
  tool must spend;
- cold up: `harmony up` on hosts just cleared by `harmony down`;
- no-op up: `harmony up` again (checked: every host unchanged, so nothing is sent or fetched);
- no-op pyinfra: the same deploy through the plain `pyinfra` command;
- one-op pyinfra: the plain `pyinfra` command with one operation that changes nothing
  (`files.directory` on a directory that exists): the least a pyinfra run costs;
- one change: one node label changed on one host (checked: that host alone changes);
- plan: `harmony plan` over the fleet (a dry run);

and, once, `harmony --help`. Also, per size: the controller's peak memory (the largest resident
set of a harmony run, from the kernel's accounting of the child), the controller's own CPU time
for a no-op `up` and a one-op pyinfra run (the hosts share the machine's cores, so wall time
counts their work too), the lines a no-op `up` prints,
and once the memory one test host uses. Prints min / median / max, writes fleet.json, fleet.csv,
fleet.png (matplotlib) and, per size, output-N.txt (what a cold and a no-op `up` printed) to
`--out`. Every host is removed at the end, also on failure. Needs
what `bash tests/setup.sh` installs.

    .venv/bin/python -m benchmarks.fleet --sizes 100 --parallel 10,30,100 --repeat 3

times instead `status` and a no-op `up` of the largest size at each `--parallel` value and at
harmony's default (`harmony.runner.PARALLEL`), with the controller's CPU time and peak memory,
and the commands a no-op `up` sends each host; writes parallel.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import hosts as test_hosts
from tests.e2e.conftest import CHANNELS, NEW, OLD, write_inventory
from tests.standin.mirror import Mirror

MEASURES = ("ssh floor", "cold up", "no-op up", "no-op pyinfra", "one-op pyinfra", "one change", "plan")


class Fleet:
    """The benchmark's hosts, key, mirror and a HOME of its own, with the commands it times."""

    def __init__(self, work: Path, size: int) -> None:
        self.work = work
        (work / "home").mkdir()
        self.key = work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        self.env = {**os.environ, "HOME": str(work / "home")}
        self.mirror = Mirror(work / "mirror", [OLD, NEW], CHANNELS, test_hosts.bridge_gateway()).start()
        public = self.key.with_suffix(".pub").read_text()
        self.hosts: list[test_hosts.Host] = []
        try:
            with ThreadPoolExecutor(8) as pool:
                for started in pool.map(lambda _: test_hosts.start(public, prefix="bench"), range(size)):
                    self.hosts.append(started)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for host in self.hosts:
            host.remove()
        self.mirror.stop()

    def inventory(self, size: int, label: str = "a") -> Path:
        """The first `size` hosts; the last one carries the node label `bench=<label>`."""
        data = [{"k3s_node_labels": {"bench": label}} if i == size - 1 else {} for i in range(size)]
        return write_inventory(self.work / f"fleet{size}.py", servers={"s1": (self.hosts[0], data[0])},
                               agents={f"a{i}": (self.hosts[i], data[i]) for i in range(1, size)})

    def harmony(self, command: str, inventory: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "harmony", command, str(inventory), "--ssh-user", "root",
                "--ssh-key", str(self.key), *extra]

    def up(self, inventory: Path, *extra: str) -> list[str]:
        return self.harmony("up", inventory, "--version", NEW, "--release-url", self.mirror.release_url,
                            "--allow-http", "--kubeconfig-server", self.hosts[0].api_url, "--yes", *extra)

    def status(self, inventory: Path, *extra: str) -> list[str]:
        return self.harmony("status", inventory, "--kubeconfig-server", self.hosts[0].api_url, *extra)

    def pyinfra(self, inventory: Path) -> list[str]:
        return [sys.executable, "-m", "pyinfra", "-y", "--ssh-user", "root", "--ssh-key", str(self.key),
                "--data", f"k3s_version={NEW}", "--data", f"k3s_release_url={self.mirror.release_url}",
                "--data", "harmony_allow_http=true", str(inventory), "deploys/k3s.py"]

    def one_op(self, inventory: Path) -> list[str]:
        return [sys.executable, "-m", "pyinfra", "-y", "--ssh-user", "root", "--ssh-key", str(self.key),
                str(inventory), "files.directory", "path=/etc"]

    def host_memory_mib(self) -> float:
        """What one test host's processes use (their resident sets, summed): systemd, sshd and k3s."""
        rss = test_hosts.docker("exec", self.hosts[-1].name, "ps", "-eo", "rss=")
        return sum(int(kib) for kib in rss.split()) / 1024

    def ssh_floor(self, size: int) -> float:
        options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "LogLevel=ERROR", "-i", str(self.key)]
        start = time.monotonic()
        sessions = [subprocess.Popen(["ssh", *options, "-p", str(h.ssh_port), "root@127.0.0.1", "true"])
                    for h in self.hosts[:size]]
        if any(s.wait(timeout=120) != 0 for s in sessions):
            sys.exit("an SSH session failed")
        return time.monotonic() - start


@dataclass
class Run:
    seconds: float
    peak_mib: float  # the command's largest resident set
    cpu: float  # the command's own CPU time (user and system), seconds: the controller's share
    output: str  # what it printed: stderr, then stdout

    @property
    def lines(self) -> int:
        return len(self.output.splitlines())


def run(command: list[str], env: dict, expect_changed: int | None = None) -> Run:
    """Run a command, measuring it; exit if it fails, or if it changed other than
    `expect_changed` hosts (harmony's report: a line per changed host)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:6])}...\n{stdout}\n{stderr[-3000:]}")
    changed = sum(": changed" in line for line in stdout.splitlines())
    if expect_changed is not None and changed != expect_changed:
        sys.exit(f"expected {expect_changed} changed hosts, got {changed}:\n{stdout}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, stderr + stdout)


def measure(fleet: Fleet, size: int, repeat: int) -> tuple[dict[str, list[float]], dict, str]:
    """Each measure's wall times at this size; the figures taken once (peak memory, lines); and
    what a cold and a no-op `up` printed."""
    inventory = fleet.inventory(size)
    times: dict[str, list[float]] = {m: [] for m in MEASURES}
    peaks: list[float] = []
    cpu: dict[str, list[float]] = {"no-op up": [], "one-op pyinfra": []}
    down = fleet.harmony("down", inventory, "--yes")
    for _ in range(repeat):
        run(down, fleet.env)
        cold = run(fleet.up(inventory), fleet.env, expect_changed=size)
        times["cold up"].append(cold.seconds)
        peaks.append(cold.peak_mib)
    noop = cold
    for i in range(repeat):
        times["ssh floor"].append(fleet.ssh_floor(size))
        noop = run(fleet.up(inventory), fleet.env, expect_changed=0)
        times["no-op up"].append(noop.seconds)
        cpu["no-op up"].append(noop.cpu)
        peaks.append(noop.peak_mib)
        times["no-op pyinfra"].append(run(fleet.pyinfra(inventory), fleet.env).seconds)
        one_op = run(fleet.one_op(inventory), fleet.env)
        times["one-op pyinfra"].append(one_op.seconds)
        cpu["one-op pyinfra"].append(one_op.cpu)
        times["plan"].append(run(fleet.harmony("plan", inventory, "--version", NEW, "--release-url",
                                               fleet.mirror.release_url, "--allow-http"), fleet.env).seconds)
        changed = fleet.inventory(size, label="b" if i % 2 == 0 else "a")
        times["one change"].append(run(fleet.up(changed), fleet.env, expect_changed=1).seconds)
    fleet.inventory(size)  # the label as the cold run set it, for the next size
    run(fleet.up(inventory), fleet.env)
    printed = f"$ harmony up ...   # cold\n{cold.output}\n$ harmony up ...   # again: no-op\n{noop.output}"
    figures = {"peak memory, MiB": round(max(peaks), 1), "lines of a no-op up": noop.lines,
               **{f"controller CPU s, {name}": round(statistics.median(runs), 2) for name, runs in cpu.items()}}
    return times, figures, printed


def measure_parallel(fleet: Fleet, size: int, values: list[int], repeat: int) -> list[dict]:
    """`status` and a no-op `up` of `size` hosts at each `--parallel` value and at harmony's
    default, the values taken in turn in each round (so that the machine's other load falls on
    all alike): wall time, the controller's CPU time and peak memory; and, once, the commands a
    no-op `up` sends each host (counted in its -vv log)."""
    from harmony import runner

    inventory = fleet.inventory(size)
    run(fleet.up(inventory), fleet.env)  # the cluster installed (or already: then a no-op)
    settings = {f"default ({runner.PARALLEL})": (), **{str(v): ("--parallel", str(v)) for v in values}}
    runs: dict[tuple[str, str], list[Run]] = {}
    for _ in range(repeat):
        for label, extra in settings.items():
            runs.setdefault(("no-op up", label), []).append(run(fleet.up(inventory, *extra), fleet.env, 0))
            runs.setdefault(("status", label), []).append(run(fleet.status(inventory, *extra), fleet.env))
            print(f"{size} hosts, --parallel {label}: no-op up {runs['no-op up', label][-1].seconds:.2f} s, "
                  f"status {runs['status', label][-1].seconds:.2f} s", flush=True)
    logged = run(fleet.up(inventory, "-vv"), fleet.env, 0).output
    commands = sum(1 for line in logged.splitlines() if "] >>> " in line) / size
    return [{"measure": measure, "parallel": label, "hosts": size, **summarize([r.seconds for r in found]),
             "controller_cpu_s": round(statistics.median(r.cpu for r in found), 2),
             "peak_mib": round(max(r.peak_mib for r in found), 1),
             **({"commands_per_host": round(commands, 1)} if measure == "no-op up" else {})}
            for (measure, label), found in runs.items()]


def parallel_table(rows: list[dict]) -> str:
    """A Markdown table: a row per measure and --parallel value."""
    lines = ["| measure | --parallel | wall s, median (min-max) | controller CPU s | peak MiB |",
             "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["measure"]):
        lines.append(f"| {r['measure']} | {r['parallel']} | {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f}) | "
                     f"{r['controller_cpu_s']:.2f} | {r['peak_mib']} |")
    return "\n".join(lines)


def help_times(repeat: int) -> list[float]:
    return [run([sys.executable, "-m", "harmony", "--help"], os.environ).seconds for _ in range(max(repeat, 5))]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    from pyinfra import __version__ as pyinfra_version

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(), "pyinfra": pyinfra_version,
            "date": time.strftime("%Y-%m-%d")}


def summarize(runs: list[float]) -> dict:
    return {"min": min(runs), "median": statistics.median(runs), "max": max(runs), "runs": runs}


def write_results(out: Path, info: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps({"machine": info, "results": rows}, indent=2) + "\n")
    with open(out / "fleet.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["measure", "hosts", "min_s", "median_s", "max_s", "runs"])
        for row in rows:
            writer.writerow([row["measure"], row["hosts"], f"{row['min']:.3f}", f"{row['median']:.3f}",
                             f"{row['max']:.3f}", len(row["runs"])])
    plot(out / "fleet.png", info, rows)


def plot(path: Path, info: dict, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5))
    for name in MEASURES:
        points = sorted((r["hosts"], r["median"], r["min"], r["max"]) for r in rows if r["measure"] == name)
        if points:
            sizes, medians, lows, highs = zip(*points)
            axes.errorbar(sizes, medians, yerr=[[m - lo for m, lo in zip(medians, lows)],
                                                [hi - m for m, hi in zip(medians, highs)]],
                          marker="o", capsize=3, label=name)
    axes.set_xlabel("hosts (1 server, the others agents)")
    axes.set_ylabel("wall time, s (median; bars: min to max)")
    axes.set_title(f"harmony over a fleet: {info['cores']} cores, {info['cpu'][:40]}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def table(rows: list[dict], sizes: list[int]) -> str:
    """A Markdown table: one row per measure, one column per fleet size, median (min-max)."""
    lines = ["| measure | " + " | ".join(f"{n} host{'s' if n > 1 else ''}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    names = [m for m in (*MEASURES, "harmony --help") if any(r["measure"] == m for r in rows)]
    for name in names:
        cells = []
        for n in sizes:
            row = next((r for r in rows if r["measure"] == name and r["hosts"] in (n, 0)), None)
            cells.append(f"{row['median']:.2f} ({row['min']:.2f}-{row['max']:.2f})" if row else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_inotify(size: int) -> None:
    """Each systemd test host takes inotify instances of the machine's one user (root): about
    five. Debian's default of 128 holds about 25 hosts; say how to raise it rather than fail."""
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    if limit < 8 * size:
        sys.exit(f"{size} hosts need more inotify instances than fs.inotify.max_user_instances ({limit}) "
                 f"allows: raise it first, e.g. sysctl -w fs.inotify.max_user_instances={max(8192, 8 * size)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,5,10,20", help="fleet sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure per size")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--parallel", metavar="N,N,...",
                        help="instead of the measures by size: time status and a no-op up of the largest size "
                             "at each --parallel value and at harmony's default; writes parallel.json")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.sizes.split(",")})
    check_inotify(max(sizes))
    test_hosts.ensure_images()
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="harmony-bench-")), max(sizes))
    if args.parallel:
        try:
            rows = measure_parallel(fleet, max(sizes), [int(v) for v in args.parallel.split(",")], args.repeat)
        finally:
            fleet.close()
        info = {**machine(), "load average (1 min) at the end": os.getloadavg()[0]}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "parallel.json").write_text(json.dumps({"machine": info, "results": rows}, indent=2) + "\n")
        print(f"\nmachine: {info}\n\n{parallel_table(rows)}\n\nwritten: {args.out}/parallel.json")
        return
    rows = [{"measure": "harmony --help", "hosts": 0, **summarize(help_times(args.repeat))}]
    figures: list[dict] = []
    try:
        for size in sizes:
            times, once, printed = measure(fleet, size, args.repeat)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"output-{size}.txt").write_text(printed)
            for name, runs in times.items():
                rows.append({"measure": name, "hosts": size, **summarize(runs)})
                print(f"{size:>3} hosts  {name:<14} min {min(runs):6.2f}  median {statistics.median(runs):6.2f}"
                      f"  max {max(runs):6.2f} s", flush=True)
            figures.append({"hosts": size, **once})
            print(f"{size:>3} hosts  {once}", flush=True)
        host_mib = fleet.host_memory_mib()
    finally:
        fleet.close()
    info = {**machine(), "one host's memory, MiB": round(host_mib, 1), "figures": figures}
    write_results(args.out, info, rows)
    print(f"\nmachine: {info}\n\n{table(rows, sizes)}\n\nwritten: {args.out}/fleet.json, fleet.csv, fleet.png")


if __name__ == "__main__":
    main()
