"""`harmony up --watch`: the inner loop. Once `up` has run, the project's directory is watched
(watchfiles: the OS's file events, debounced), and each batch of changes is mapped to what it
affects (`Watched.affected`): an image's build context or Dockerfile, the files a workload reads,
or harmony.yaml. A cycle then does only that part of `up`: it builds the images whose context
changed (the builder's cache makes an unchanged one quick, and its content tag says whether it
changed), sends a changed one to the nodes that lack it, reads the workloads again where their
files changed, and applies them; one line says what it did (`Said.line`). The hosts' lifecycle
is not run again, and nothing is asked: `--watch` is asking for each saved change to be applied.

A failed build, a workload that does not read, a rollout that does not complete: the cycle's
line says why, and the loop keeps watching for the change that fixes it. A change of
harmony.yaml is said and not acted on: it may name another cluster or other hosts, which only a
new `harmony up` takes in.

Stopping: between cycles a SIGINT or SIGTERM ends the loop at once (exit 130). During a cycle,
as in `up`: a build is ended with its process group (`stopping.at_once`), the images' run on the
hosts stops as any run (`harmony.runner`), and the apply at its next checkpoint
(`stopping.checkpoints`).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import click

from harmony import shown, stopping
from harmony.errors import BadInput, HarmonyError, Interrupted
from harmony.steps import Flow, images

DEBOUNCE_MS = 1600  # the most a batch of changes is gathered over (watchfiles' default)
STEP_MS = 200  # a batch is acted on once no change came for this long (a checkout writes many files)
LEFT = "what the cycles applied stays; run harmony up --watch to watch again"
PROJECT_FILE_CHANGED = "harmony.yaml changed: stop (Ctrl-C) and run harmony up --watch again to take it in"
APPLIED = ("create", "change", "replace", "adopt", "prune")  # harmony.workloads.apply's actions that write


@dataclass(frozen=True)
class Affected:
    """What a batch of changed paths affects."""

    images: tuple[str, ...] = ()  # the images whose context or Dockerfile changed, in harmony.yaml's order
    workloads: bool = False  # a file a workload reads changed
    project_file: bool = False  # harmony.yaml changed

    def __bool__(self) -> bool:
        return bool(self.images or self.workloads or self.project_file)


@dataclass(frozen=True)
class Watched:
    """The paths a change matters under, all inside the project's directory `root` (which is
    watched whole: an editor replaces a file by renaming another over it, which a watch of the
    file itself does not survive)."""

    root: Path
    project_file: Path
    images: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # name: its context, its Dockerfile
    workloads: tuple[Path, ...] = ()  # every file and directory the workloads read

    @classmethod
    def of(cls, project, builds: Iterable) -> Watched:
        from harmony.workloads.confine import ProjectFiles

        files = ProjectFiles(project.path)
        return cls(files.root, Path(os.path.realpath(project.path)),
                   {b.name: (Path(b.context), Path(b.dockerfile)) for b in builds},
                   tuple(dict.fromkeys(workload_paths(project, files))))

    def affected(self, paths: Iterable[str | Path]) -> Affected:
        paths = [Path(p) for p in paths]
        return Affected(
            tuple(name for name, under in self.images.items() if any(_within(p, under) for p in paths)),
            any(_within(p, self.workloads) for p in paths),
            any(p == self.project_file for p in paths))

    def line(self) -> str:
        said = [f"the context of image {', '.join(self.images)}" if self.images else "",
                "what the workloads read" if self.workloads else "", "harmony.yaml"]
        return f"watching {', '.join(filter(None, said))} in {self.root} (Ctrl-C to stop)"


def wanted(watched: Watched) -> Callable[[object, str], bool]:
    """watchfiles' filter: what its DefaultFilter keeps (no .git, node_modules or .venv, no
    editors' temporary files), and of that only what affects something."""
    from watchfiles import DefaultFilter

    default = DefaultFilter()
    return lambda change, path: default(change, path) and bool(watched.affected([path]))


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def workload_paths(project, files) -> list[Path]:
    """Every file and directory the project's workloads read (`harmony.workloads.spec.load`):
    manifests files and directories, Kustomize directories and those their kustomizations take
    resources from, a local chart's directory, values files. A path outside the project (which
    loading the workloads refuses) is left out."""
    found: list[Path] = []

    def add(path: Path) -> None:
        resolved = Path(os.path.realpath(path))
        if resolved.is_relative_to(files.root):
            found.append(resolved)

    for entry in project.workloads:
        if "manifests" in entry:
            for path in entry["manifests"] if isinstance(entry["manifests"], list) else [entry["manifests"]]:
                add(files.root / path)
        elif "kustomize" in entry:
            for directory in _kustomized(files.root / entry["kustomize"]):
                add(directory)
        else:
            helm = entry["helm"]
            if not ("repo" in helm or str(helm.get("chart", "")).startswith("oci://")):
                add(files.root / helm["chart"])
            for name in helm.get("values_files") or []:
                add(files.root / name)
    return found


def _kustomized(directory: Path) -> list[Path]:
    """A Kustomize directory and those its kustomization, and theirs, take resources from."""
    from harmony import yamlfiles
    from harmony.workloads.confine import KUSTOMIZATION_FILES, KUSTOMIZE_DIRECTORIES

    found, todo = [], [Path(os.path.realpath(directory))]
    while todo:
        current = todo.pop()
        if current in found or not current.is_dir():
            continue
        found.append(current)
        file = next((current / name for name in KUSTOMIZATION_FILES if (current / name).is_file()), None)
        try:
            spec = yamlfiles.load(file) if file else None
        except HarmonyError:  # the next load of the workloads says what is wrong with it
            spec = None
        for key in KUSTOMIZE_DIRECTORIES:
            entries = spec.get(key) if isinstance(spec, dict) else None
            todo += [Path(os.path.realpath(current / str(e))) for e in entries if isinstance(e, str)] \
                if isinstance(entries, list) else []
    return found


# -- what a cycle says ----------------------------------------------------------------------

@dataclass
class Said:
    """A cycle's line, in parts: one per image built, the workloads read again, the rollout."""

    images: list[str] = field(default_factory=list)
    workloads: str | None = None  # "workloads: 1 changed", or why they could not be read
    rollout: str | None = None  # "rolled out in 4.0 s", or why not
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = list(self.images)
        if self.workloads:
            parts.append(self.workloads + (f", {self.rollout}" if self.rollout else ""))
        elif self.rollout and parts:
            parts[-1] += f", {self.rollout}"
        elif self.rollout:
            parts.append(f"workloads: {self.rollout}")
        return "; ".join(parts + self.notes) or "nothing to do"


def image_part(name: str, tag: str, previous: str | None, seconds: float, sent: int, nodes: int) -> str:
    """`web: rebuilt in 3.1 s (harmony-…), shipped 12.3 MB to 1 node`, or `web: unchanged (…)`."""
    said = f"{name}: unchanged ({tag})" if tag == previous else f"{name}: rebuilt in {seconds:.1f} s ({tag})"
    if sent:
        said += f", shipped {sent / 1e6:.1f} MB to {nodes} node{'s' if nodes != 1 else ''}"
    return said


def failed_part(name: str, doing: str, error: HarmonyError) -> str:
    """`web: build failed: <the build's last line>`: a build's own last line, else the error's."""
    lines = [line.strip() for line in getattr(error, "lines", None) or [] if line.strip()]
    return f"{name}: {doing} failed: {lines[-1] if lines else shown.message(str(error)).splitlines()[-1]}"


def rollout_part(outcome, seconds: float) -> str | None:
    """`rolled out in 4.0 s` where the apply wrote something; why not where it did not run."""
    if outcome.refusals:
        return f"refused: {outcome.refusals[0]}" + _more(outcome.refusals)
    if outcome.failures:
        return f"not running: {outcome.failures[0].line}" + _more(outcome.failures)
    return f"rolled out in {seconds:.1f} s" if changed(outcome) else None


def changed(outcome) -> list[str]:
    """The workloads whose objects the apply wrote (or would have)."""
    return list(dict.fromkeys(s.workload for s in outcome.steps if s.action in APPLIED))


def workloads_part(outcome) -> str:
    count = len(changed(outcome))
    return f"workloads: {count} changed" if count else "workloads: unchanged"


def _more(items: list) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


# -- a cycle ----------------------------------------------------------------------------------

class Loop:
    """The state the cycles carry from one to the next: the workloads as last read (before they
    are pointed at the builds), each image's tag on the cluster, and the builds known to be on
    every node."""

    def __init__(self, flow: Flow, converge: Callable[[Flow], object]) -> None:
        self.flow, self.converge = flow, converge
        self.workloads = list(flow.workloads)
        shipped = (flow.report.extra.get("images") if flow.report else None) or []
        self.tags: dict[str, str] = {i["name"]: i["tag"] for i in shipped}
        self.held: set[str] = {i["reference"] for i in shipped}

    def cycle(self, affected: Affected) -> str:
        """Build, send and apply what `affected` names; the line that says what was done."""
        said = Said(notes=[PROJECT_FILE_CHANGED] if affected.project_file else [])
        if affected.workloads:
            try:
                self.workloads = self.load()
                reread = True
            except BadInput as error:  # said; the workloads as last read are the ones applied
                said.notes.insert(0, f"workloads: {shown.message(str(error))}")
                reread = False
        else:
            reread = False
        retag = self.build_and_ship(affected.images, said)
        if retag or reread:
            self.apply(said, reread)
        return said.line()

    def load(self) -> list:
        from harmony.workloads import spec

        flow = self.flow
        return spec.load(flow.request.project, flow.runtime.bundle(flow.settings))

    def build_and_ship(self, names: tuple[str, ...], said: Said) -> bool:
        """Build the images named, and those with no build on the cluster yet (a first `up`
        that failed before); send those the nodes lack. Whether a tag changed."""
        flow = self.flow
        todo = [b for b in flow.builds if b.name in names or b.name not in self.tags]
        if not todo:
            return False
        try:
            nodes, arches = images.nodes_and_arches(flow)
        except Interrupted:
            raise
        except HarmonyError as error:
            said.images.append(f"images: {shown.message(str(error))}")
            return False
        built = []
        for image in todo:
            started = time.monotonic()
            try:
                built.append((images.build_for(flow, image, arches, LEFT), time.monotonic() - started))
            except Interrupted:
                raise
            except HarmonyError as error:
                said.images.append(failed_part(image.name, "build", error))
        missing = [b for b, _ in built if str(b.reference) not in self.held]
        lacking = {b.name: images.lacking_nodes(nodes, [b]) for b in missing}
        sent: dict[str, int] = {}
        if any(lacking.values()):
            try:
                sent = images.send(flow, [b for b in missing if lacking[b.name]])
            except Interrupted:
                raise
            except HarmonyError as error:
                said.images += [failed_part(b.name, "sending", error) for b, _ in built]
                return False
        retag = False
        for done, seconds in built:
            said.images.append(image_part(done.name, done.tag, self.tags.get(done.name), seconds,
                                          sent.get(done.name, 0), len(lacking.get(done.name, ()))))
            retag |= self.tags.get(done.name) != done.tag
            self.tags[done.name] = done.tag
            self.held.add(str(done.reference))
        return retag

    def apply(self, said: Said, reread: bool) -> None:
        from harmony.images import rewrite

        flow = self.flow
        flow.workloads = rewrite.rewrite(self.workloads, {name: f"{name}:{tag}" for name, tag in self.tags.items()})
        started = time.monotonic()
        try:
            outcome = self.converge(flow)
        except Interrupted:
            raise
        except HarmonyError as error:
            said.rollout = f"not rolled out: {shown.message(str(error))}"
            return
        said.rollout = rollout_part(outcome, time.monotonic() - started)
        if reread:
            said.workloads = workloads_part(outcome)


# -- the loop ---------------------------------------------------------------------------------

def can_go_on(flow: Flow) -> bool:
    """Whether a failed first `up` failed only in its project's part (a build, sending it, a
    rollout): every host ran and the nodes are Ready, so the loop can wait for the fix."""
    return bool(flow.nodes and flow.report and flow.result) and \
        len(flow.ok) == len(flow.hosts) and flow.request.project is not None


class _Stop:
    """watchfiles' stop event, set by a SIGINT or SIGTERM while the loop waits for changes."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def is_set(self) -> bool:
        return self.signal is not None

    def __enter__(self) -> _Stop:
        def asked(signum, frame) -> None:
            self.signal = signum

        self.previous = {sig: signal.signal(sig, asked) for sig in stopping.STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def watch(flow: Flow, converge: Callable[[Flow], object]) -> int:
    """Watch the project and run a cycle for each batch of changes that affects it, a line
    each on stdout, until a stop: Interrupted (exit 130)."""
    import watchfiles

    watched = Watched.of(flow.request.project, flow.builds)
    loop, stop = Loop(flow, converge), _Stop()
    batches = watchfiles.watch(watched.root, watch_filter=wanted(watched), debounce=DEBOUNCE_MS, step=STEP_MS,
                               stop_event=stop, raise_interrupt=False)
    click.echo(watched.line())
    while True:
        with stop:
            batch = next(batches, None)
        if batch is None:
            raise Interrupted(signal.Signals(stop.signal or signal.SIGINT).name, "watching for changes", what=LEFT)
        affected = watched.affected(path for _, path in batch)
        if not affected:
            continue
        with stopping.at_once(f"the cycle was ended; {LEFT}"):
            line = loop.cycle(affected)
        click.echo(line)
