"""STAND-IN for k3s's containerd image store and its `ctr` (`k3s ctr`, and the `ctr` link to
k3s), for harmony's tests only. Modelled on containerd v1.7.23 (the one in k3s v1.31.4) and
k3s's pkg/ctr, from their source:

- `k3s ctr` is containerd's ctr with two defaults changed by k3s: `--address`
  /run/k3s/containerd/containerd.sock and `--namespace` k8s.io (the CRI's: what the kubelet
  sees). CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE set them too; `-n NS` / `--namespace NS`
  (or `=NS`) before the command. Global flags must come before the command, a command's flags
  before its arguments (urfave/cli v1: a flag after the file is an argument, ignored);
- ctr first dials the socket: a socket nobody listens on (k3s stopped: containerd dies with it
  and leaves its socket) fails at once, `ctr: failed to dial "ADDR": connection error: desc =
  "transport: error while dialing: dial unix ADDR: connect: connection refused"`; a socket that
  is not there is waited for during the connect timeout (10 s, `--connect-timeout`) and then
  fails `ctr: failed to dial "ADDR": context deadline exceeded: connection error: desc =
  "transport: error while dialing: dial unix://ADDR: timeout"`. Exit 1, as every ctr error;
- `images|image|i import [flags] FILE|-` reads the tar stream as containerd's
  archive.ImportIndex does: an OCI image layout (`oci-layout`, whose version must be 1.0.0,
  and index.json) wins over a docker archive (`manifest.json`: Config, RepoTags, Layers);
  a stream with neither is `unrecognized image format`, one that is no tar `archive/tar:
  invalid tar header` (`unexpected EOF` if shorter than a tar header), a docker manifest's
  missing config `image config "X" not found`, missing layer `failed to resolve layers: layer
  "X" not found`. Names: a docker archive's RepoTags normalized (nginx:1 ->
  docker.io/library/nginx:1); an OCI index entry's `io.containerd.image.name`, else its
  `org.opencontainers.image.ref.name` (a bare tag gets the --base-name, or `import-DATE`, as
  `PREFIX:TAG`; a ref with / : or @ is kept as it is, NOT normalized, and with --base-name only
  if it starts with it); `--digests` adds PREFIX@DIGEST names. An image's target is its
  manifest (for a docker archive, the schema 2 manifest containerd writes for it: the digest
  printed is that manifest's). Without `--all-platforms`, index children of other platforms
  are skipped (their blobs need not be there), with it every manifest's blobs must be
  (`content digest sha256:X: not found`). The images are recorded, then each is "unpacked"
  for linux/amd64 (or --platform): `unpacking NAME (sha256:...)...done` on stdout, and an image
  with nothing for the platform fails there (`ctr: no match for platform in manifest
  sha256:X: not found`, after its images were recorded, as with containerd);
- `images|image|i ls|list [-q|--quiet]`: -q the names, one a line; else the table REF TYPE
  DIGEST SIZE PLATFORMS LABELS (tab-aligned as ctr's tabwriter, sizes as containerd's
  progress.Bytes: `1.5 KiB`).

The store: one JSON file per node, ROOT/standin-images.json, ROOT being containerd's root in the
k3s data dir (/var/lib/rancher/k3s/agent/containerd), {namespace: {name: image}}, kept across
restarts as containerd's metadata is. ctr learns ROOT from the socket (the k3s process answers
each connection with it), so a `--data-dir` is followed.

What it does not model: layers are not unpacked (no snapshotter: `--snapshotter` is taken and
ignored) and blobs are not kept (only the names, digests, sizes and platforms of what was
imported); the transfer service (`--local=false`); compressed streams (a gzipped tar is no tar
to containerd's importer either); `--index-name`; labels (always `-`); ctr's other commands
(containers, tasks, content, snapshots, namespaces...: urfave's `No help topic for 'X'`, exit 3);
garbage collection; filters of `ls`.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import socket
import sys
import tarfile
import threading
import time

CONTAINERD_VERSION = "v1.7.23-k3s2"  # k3s v1.31.4's (the Node's containerRuntimeVersion says the same)
DEFAULT_ADDRESS = "/run/k3s/containerd/containerd.sock"
DEFAULT_NAMESPACE = "k8s.io"  # k3s's ctr changes containerd's "default" to the CRI's namespace
STORE_FILE = "standin-images.json"
HOST_PLATFORM = ("linux", "amd64")  # the test hosts' (the stand-in reports amd64 nodes)
SMALL = 4 << 20  # blobs kept in memory while reading (manifests, indexes, configs)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEXES = (OCI_INDEX, DOCKER_LIST)
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)


class CtrError(Exception):
    """A ctr failure: printed as `ctr: MESSAGE` on stderr, exit 1."""


# ---------------------------------------------------------------- names


def normalized(ref: str) -> str:
    """distribution/reference's ParseDockerRef: docker.io/library/NAME:latest."""
    name, at, digest = ref.partition("@")
    first, slash, _ = name.partition("/")
    if not (slash and ("." in first or ":" in first or first == "localhost")):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    if ":" not in name.rsplit("/", 1)[1]:
        if at:  # ParseDockerRef drops a tag next to a digest, and adds none
            return name + at + digest
        name += ":latest"
    elif at:
        name = name.rsplit(":", 1)[0]
    return name + at + digest


def ref_translator(prefix: str, check_prefix: bool):
    """archive.AddRefPrefix / FilterRefPrefix, for OCI ref names."""
    def translate(ref: str) -> str:
        if any(c in ref for c in "/:@"):
            if check_prefix and not (ref.startswith(prefix) and (len(ref) == len(prefix) or ref[len(prefix)] in "/:@")):
                return ""
            return ref
        return f"{prefix}:{ref}"
    return translate


# ---------------------------------------------------------------- reading an archive


class Blob:
    def __init__(self, digest: str, size: int, data: bytes | None, head: bytes) -> None:
        self.digest, self.size, self.data, self.head = digest, size, data, head


def _valid_header(block: bytes) -> bool:
    try:
        stored = int(block[148:156].replace(b"\0", b" ").strip() or b"0", 8)
    except ValueError:
        return False
    header = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(header)
    signed = sum(b - 256 if b > 127 else b for b in header)
    return stored in (unsigned, signed)


class _Prefixed:
    """A stream with its first bytes (read to look at the header) put back."""

    def __init__(self, head: bytes, rest) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.rest.read(size - len(data))
            return data
        return self.rest.read(size)


def read_tar(stream) -> tuple[dict | None, list | None, dict, dict]:
    """The tar stream as ImportIndex reads it: (oci-layout, manifest.json, blobs by path,
    symlinks), each file hashed; Go's archive/tar's errors for what is no tar."""
    head = b""
    while len(head) < 512:
        chunk = stream.read(512 - len(head))
        if not chunk:
            break
        head += chunk
    if not head:
        return None, None, {}, {}  # io.EOF at once: nothing read
    if len(head) < 512:
        raise CtrError("unexpected EOF")
    if head != b"\0" * 512 and not _valid_header(head):
        raise CtrError("archive/tar: invalid tar header")
    layout, manifests, blobs, symlinks = None, None, {}, {}
    try:
        with tarfile.open(fileobj=_Prefixed(head, stream), mode="r|") as archive:
            for member in archive:
                name = os.path.normpath(member.name).lstrip("/") if member.name not in (".", "./") else "."
                if member.issym():
                    symlinks[name] = os.path.normpath(os.path.join(os.path.dirname(name), member.linkname))
                if not member.isfile():
                    continue
                reader = archive.extractfile(member)
                if name in ("oci-layout", "manifest.json"):
                    try:
                        value = json.loads(reader.read(20 << 20))
                    except ValueError as error:
                        kind = "oci layout" if name == "oci-layout" else "manifest"
                        raise CtrError(f'untar {kind} "{member.name}": {error}') from None
                    if name == "oci-layout":
                        layout = value
                    else:
                        manifests = value
                    continue
                digest, kept, first = hashlib.sha256(), [], b""
                while True:
                    chunk = reader.read(1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    first = first or chunk[:16]
                    if member.size <= SMALL:
                        kept.append(chunk)
                blobs[name] = Blob("sha256:" + digest.hexdigest(), member.size,
                                   b"".join(kept) if member.size <= SMALL else None, first)
    except tarfile.ReadError as error:
        raise CtrError("archive/tar: invalid tar header" if "header" in str(error) else "unexpected EOF") from None
    except EOFError:
        raise CtrError("unexpected EOF") from None
    return layout, manifests, blobs, symlinks


def _go_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _platform_of(config: bytes | None) -> tuple[str, str] | None:
    try:
        data = json.loads(config or b"")
    except ValueError:
        return None
    if data.get("os") and data.get("architecture"):
        return data["os"], data["architecture"]
    return None


def import_archive(stream, *, base_name: str = "", digests: bool = False, skip_digest_for_named: bool = False,
                   all_platforms: bool = False, platform: tuple[str, str] | None = None,
                   today: str | None = None) -> list[dict]:
    """The images `ctr images import` records from the tar `stream` (containerd's client.Import
    over archive.ImportIndex, local mode), each {name, target, mediaType, config, size,
    platforms}, in the order ctr prints them."""
    layout, docker_manifests, blobs, symlinks = read_tar(stream)
    by_digest = {b.digest: b for b in blobs.values()}

    if layout is not None and layout.get("imageLayoutVersion", "") != "":
        if layout["imageLayoutVersion"] != "1.0.0":
            raise CtrError(f"unsupported OCI version {layout['imageLayoutVersion']}")
        if "index.json" not in blobs:
            raise CtrError("missing index.json in OCI layout 1.0.0")
        index_blob = blobs["index.json"]
        index = json.loads(index_blob.data or b"{}")
    else:
        if docker_manifests is None:
            raise CtrError("unrecognized image format")
        for name, target in symlinks.items():
            if target not in blobs:
                raise CtrError(f'no target for symlink layer from "{name}" to "{target}"')
            blobs[name] = blobs[target]
        index = {"schemaVersion": 2, "manifests": []}
        for entry in docker_manifests:
            config = blobs.get(os.path.normpath(entry.get("Config") or ""))
            if config is None:
                raise CtrError(f'image config "{entry.get("Config")}" not found')
            layers = []
            for layer in entry.get("Layers") or []:
                blob = blobs.get(os.path.normpath(layer))
                if blob is None:
                    raise CtrError(f'failed to resolve layers: layer "{layer}" not found')
                gzipped = blob.head.startswith(b"\x1f\x8b")
                layers.append({"mediaType": DOCKER_LAYER + (".gzip" if gzipped else ""),
                               "digest": blob.digest, "size": blob.size})
            manifest = _go_json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                                 "config": {"mediaType": DOCKER_CONFIG, "digest": config.digest,
                                            "size": config.size},
                                 "layers": layers})
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            by_digest[digest] = Blob(digest, len(manifest), manifest, manifest[:16])
            desc = {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(manifest)}
            found = _platform_of(config.data)
            if found:
                desc["platform"] = {"architecture": found[1], "os": found[0]}
            tags = entry.get("RepoTags") or []
            if not tags:
                index["manifests"].append(desc)
            for tag in tags:
                name = normalized(tag)
                index["manifests"].append({**desc, "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1] if "@" not in name else name}})

    prefix = base_name or f"import-{today or datetime.date.today().isoformat()}"
    translate = ref_translator(prefix, check_prefix=bool(base_name))
    wanted = platform or HOST_PLATFORM
    images = []
    for entry in index.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or ""
        if not name and annotations.get("org.opencontainers.image.ref.name"):
            name = translate(annotations["org.opencontainers.image.ref.name"])
        names = [name] if name else []
        if digests and not (skip_digest_for_named and name):
            names.append(f"{prefix}@{entry['digest']}")
        # the walk below the top index: what each manifest needs, for the platforms imported
        platforms, size, config = _walk(entry, by_digest, all_platforms, wanted)
        for image_name in names:
            images.append({"name": image_name, "target": entry["digest"],
                           "mediaType": entry.get("mediaType", OCI_MANIFEST), "config": config,
                           "size": size, "platforms": platforms})
    return images


def _walk(desc: dict, blobs: dict, all_platforms: bool, wanted: tuple[str, str]) -> tuple[list, int, str | None]:
    """(platforms, size, config digest) of an image's target, checking that what containerd's
    import walk reads is there: indexes and manifests (children of other platforms skipped
    unless all platforms are imported)."""
    blob = blobs.get(desc["digest"])
    if blob is None or blob.data is None:
        raise CtrError(f"content digest {desc['digest']}: not found")
    data = json.loads(blob.data)
    media = desc.get("mediaType") or data.get("mediaType")
    if media in INDEXES or "manifests" in data:
        platforms, size, config = [], blob.size, None
        for child in data.get("manifests") or []:
            p = child.get("platform") or {}
            if not all_platforms and p and (p.get("os"), p.get("architecture")) != wanted:
                if (p.get("os"), p.get("architecture")) != ("unknown", "unknown"):
                    platforms.append(f"{p.get('os')}/{p.get('architecture')}")
                continue
            if p.get("os") == "unknown":  # an attestation manifest
                continue
            if child["digest"] not in blobs:
                raise CtrError(f"content digest {child['digest']}: not found")
            child_platforms, child_size, child_config = _walk(child, blobs, all_platforms, wanted)
            platforms += child_platforms
            size += child_size
            config = config or child_config
        return sorted(set(platforms)), size, config
    config = (data.get("config") or {}).get("digest")
    size = blob.size
    for part in [data.get("config") or {}, *(data.get("layers") or [])]:
        size += int(part.get("size", 0))
    platform = desc.get("platform")
    if not platform and config in blobs:
        found = _platform_of(blobs[config].data)
        platform = {"os": found[0], "architecture": found[1]} if found else None
    return ([f"{platform['os']}/{platform['architecture']}"] if platform else []), size, config


def unpackable(image: dict, blobs_platform: tuple[str, str] | None = None) -> bool:
    """Whether an image has something for the platform ctr unpacks (the host's by default)."""
    wanted = "/".join(blobs_platform or HOST_PLATFORM)
    return not image["platforms"] or wanted in image["platforms"]


# ---------------------------------------------------------------- the store


class ImageStore:
    """A node's images, per containerd namespace, in ROOT/standin-images.json."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, STORE_FILE)

    def load(self) -> dict:
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def add(self, namespace: str, images: list[dict]) -> None:
        os.makedirs(self.root, exist_ok=True)
        with open(self.path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.load()
            space = data.setdefault(namespace, {})
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            for image in images:
                space[image["name"]] = {**{k: v for k, v in image.items() if k != "name"},
                                        "created": space.get(image["name"], {}).get("created", now)}
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, self.path)

    def images(self, namespace: str) -> dict:
        return self.load().get(namespace, {})


def cri_images(store: dict) -> list[dict]:
    """What the CRI (the kubelet's view) lists of the k8s.io namespace: one entry per image id
    (config digest) with its tags and digests as names, as `status.images` shows them."""
    by_id: dict = {}
    for name, image in sorted(store.items()):
        entry = by_id.setdefault(image.get("config") or image["target"], {"names": [], "sizeBytes": image["size"]})
        repo = name.split("@", 1)[0].rsplit(":", 1)[0] if "@" not in name else name.split("@", 1)[0]
        for n in (f"{repo}@{image['target']}", name):
            if n not in entry["names"]:
                entry["names"].append(n)
    return list(by_id.values())


def node_images(entries: list[dict], limit: int = 50) -> list[dict]:
    """`status.images` as the kubelet reports it: largest first, at most nodeStatusMaxImages (50)."""
    return sorted(entries, key=lambda e: -e["sizeBytes"])[:limit] if limit >= 0 else entries


# ---------------------------------------------------------------- the containerd socket


def serve_socket(address: str, root: str) -> socket.socket:
    """Listen on containerd's socket as k3s's containerd does, answering each connection with
    the store's root (this stand-in's one-line protocol)."""
    os.makedirs(os.path.dirname(address), exist_ok=True)
    try:
        os.unlink(address)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(address)
    os.chmod(address, 0o660)
    sock.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # closed
                return
            with conn:
                conn.sendall(json.dumps({"root": root}).encode() + b"\n")

    threading.Thread(target=accept, daemon=True).start()
    return sock


def dial(address: str, timeout: float = 10.0) -> str:
    """The store's root from containerd at `address`, failing as ctr's dial does."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            sock.connect(address)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return json.loads(data)["root"]
        except (FileNotFoundError, socket.timeout):
            if time.monotonic() >= deadline:
                raise CtrError(f'failed to dial "{address}": context deadline exceeded: connection error: '
                               f'desc = "transport: error while dialing: dial unix://{address}: timeout"') from None
            time.sleep(0.05)
        except ConnectionRefusedError:
            raise CtrError(f'failed to dial "{address}": connection error: desc = "transport: error while '
                           f'dialing: dial unix {address}: connect: connection refused"') from None
        except PermissionError:
            raise CtrError(f'failed to dial "{address}": connection error: desc = "transport: error while '
                           f'dialing: dial unix {address}: connect: permission denied"') from None
        finally:
            sock.close()


# ---------------------------------------------------------------- the command line


class Usage(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _parse(argv: list[str], values: dict, bools: set) -> tuple[dict, list[str]]:
    """Go flag parsing (urfave/cli v1): -x and --x alike, `=value` or the next argument; parsing
    stops at the first argument that is no flag, or after `--`."""
    flags: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return flags, argv[i + 1:]
        if not arg.startswith("-") or arg == "-":
            return flags, argv[i:]
        key, sep, value = arg.lstrip("-").partition("=")
        canonical = values.get(key) or (key if key in bools else None)
        if canonical is None and key in values.values():
            canonical = key
        if canonical is None:
            raise Usage(f"flag provided but not defined: -{key}")
        if canonical in bools:
            flags[canonical] = value.lower() not in ("false", "0") if sep else True
        else:
            if not sep:
                i += 1
                if i >= len(argv):
                    raise Usage(f"flag needs an argument: -{key}")
                value = argv[i]
            flags[canonical] = value
        i += 1
    return flags, []


GLOBAL = {"address": "address", "a": "address", "namespace": "namespace", "n": "namespace",
          "timeout": "timeout", "connect-timeout": "connect-timeout"}
GLOBAL_BOOLS = {"debug", "help", "h", "version", "v"}
IMPORT = {"base-name": "base-name", "index-name": "index-name", "platform": "platform", "snapshotter": "snapshotter"}
IMPORT_BOOLS = {"digests", "skip-digest-for-named", "all-platforms", "no-unpack", "local", "compress-blobs",
                "discard-unpacked-layers"}


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def human(size: int) -> str:
    """containerd's progress.Bytes (go-units' CustomSize "%02.1f %s", 1024-based): `1.5 KiB`."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    value, i = float(size), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.1f} {units[i]}"


def main(argv: list[str], stdin=None, stdout=None, stderr=None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin.buffer, stdout or sys.stdout, stderr or sys.stderr
    try:
        return _run(argv, stdin, stdout)
    except Usage as error:
        if error.code == 3:
            print(str(error), file=stderr)
        else:
            print(f"Incorrect Usage: {error}\n", file=stderr)
            print(f"ctr: {error}", file=stderr)
        return error.code
    except CtrError as error:
        stdout.flush()
        print(f"ctr: {error}", file=stderr)
        return 1


def _run(argv: list[str], stdin, stdout) -> int:
    flags, rest = _parse(argv, GLOBAL, GLOBAL_BOOLS)
    address = flags.get("address") or os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS
    namespace = flags.get("namespace") or os.environ.get("CONTAINERD_NAMESPACE") or DEFAULT_NAMESPACE
    connect = _seconds(flags["connect-timeout"]) if flags.get("connect-timeout") else 10.0
    if flags.get("version") or flags.get("v"):
        stdout.write(f"ctr github.com/containerd/containerd {CONTAINERD_VERSION}\n")
        return 0
    if not rest:
        raise Usage("stand-in ctr: give a command (images)", 1)
    command, rest = rest[0], rest[1:]
    if command not in ("images", "image", "i"):
        raise Usage(f"No help topic for '{command}'", 3)
    if not rest:
        raise Usage("stand-in ctr: give an images command (import, ls)", 1)
    sub, rest = rest[0], rest[1:]
    if sub == "import":
        opts, args = _parse(rest, IMPORT, IMPORT_BOOLS)
        root = dial(address, connect)
        source = args[0] if args else ""
        if opts.get("skip-digest-for-named") and not opts.get("digests"):
            raise CtrError("--skip-digest-for-named must be specified with --digests option")
        platform = None
        if opts.get("platform"):
            parts = opts["platform"].split("/")
            platform = (parts[0], parts[1]) if len(parts) > 1 else ("linux", parts[0])
        if source == "-":
            stream = stdin
            images = _import(stream, opts, platform)
        else:
            try:
                stream = open(source, "rb")
            except OSError as error:
                raise CtrError(f"open {source}: {error.strerror.lower()}") from None
            with stream:
                images = _import(stream, opts, platform)
        ImageStore(root).add(namespace, images)
        if not opts.get("no-unpack"):
            for image in images:
                stdout.write(f"unpacking {image['name']} ({image['target']})...")
                stdout.flush()
                if not unpackable(image, platform):
                    raise CtrError(f"no match for platform in manifest {image['target']}: not found"
                                   if image["mediaType"] in INDEXES else f"manifest {image['target']}: not found")
                stdout.write("done\n")
        stdout.flush()
        return 0
    if sub in ("ls", "list"):
        opts, args = _parse(rest, {}, {"q", "quiet"})
        root = dial(address, connect)
        images = ImageStore(root).images(namespace)
        if opts.get("q") or opts.get("quiet"):
            for name in sorted(images):
                stdout.write(name + "\n")
            return 0
        rows = [["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]]
        for name in sorted(images):
            image = images[name]
            rows.append([name, image["mediaType"], image["target"], human(image["size"]),
                         ",".join(image["platforms"]) or "-", "-"])
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for row in rows:  # Go's tabwriter (minwidth 1, padding 1, trailing tab): each cell padded
            stdout.write("".join(cell.ljust(widths[i] + 1) for i, cell in enumerate(row)) + "\n")
        return 0
    raise Usage(f"No help topic for '{sub}'", 3)


def _import(stream, opts: dict, platform) -> list[dict]:
    return import_archive(stream, base_name=opts.get("base-name", ""), digests=bool(opts.get("digests")),
                          skip_digest_for_named=bool(opts.get("skip-digest-for-named")),
                          all_platforms=bool(opts.get("all-platforms")), platform=platform)
