"""etcd snapshots on the controller: where `harmony snapshot` keeps them, what it keeps with each,
and how `harmony restore` reads them back.

A snapshot is two files, both private (0600, in a 0700 directory): `CLUSTER-YYYYMMDDTHHMMSSZ.snapshot`,
k3s's own file as its server wrote it (checked against the sha256 the server computed), and
`CLUSTER-YYYYMMDDTHHMMSSZ.json` beside it. A restore needs the token the snapshot was taken with
(k3s encrypts the cluster's CA, its bootstrap data, with it: docs.k3s.io datastore/backup-restore,
"Restoring To New Hosts"), so the JSON keeps that server's token, with where the snapshot was
taken and its checksum. Neither is ever printed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harmony import localstate, shown
from harmony.errors import BadInput

SUFFIX = ".snapshot"


@dataclass
class Taken:
    """What the controller keeps of a snapshot beside its file."""

    cluster: str
    taken: str  # UTC, ISO 8601
    server: str  # the host that took it
    node: str  # its node name
    host_file: str  # the file k3s wrote on it
    sha256: str
    token: str = field(default="", repr=False)  # the server's token: never printed


def directory(cluster: str, given: str | None) -> Path:
    """Where a cluster's snapshots go, made if missing: `given` (--to), else the user's data
    directory (~/.local/share/harmony/snapshots/CLUSTER, or under $XDG_DATA_HOME), private."""
    if given:
        where = Path(os.path.expanduser(given))
        where.mkdir(parents=True, exist_ok=True)
        return where
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    where = Path(base) / "harmony" / "snapshots" / cluster
    localstate.ensure_private_dir(where)
    return where


def new_file(where: Path, cluster: str, now: datetime.datetime) -> Path:
    """The file a snapshot taken `now` goes to: named by its cluster and the time (UTC)."""
    return where / f"{cluster}-{now.astimezone(datetime.timezone.utc):%Y%m%dT%H%M%SZ}{SUFFIX}"


def beside(snapshot: Path) -> Path:
    """The JSON kept with a snapshot file."""
    return snapshot.with_suffix(".json")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write a file only its user reads, created so: never readable by others, not even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def keep(received: Path, snapshot: Path, taken: Taken) -> str:
    """Put a received file in place as `snapshot` with its JSON, where its content is the one
    the server hashed; else remove it, and say why (the empty string when it is kept)."""
    actual = sha256(received)
    if actual != taken.sha256:
        received.unlink(missing_ok=True)
        return (f"the copy's sha256 is {actual}, the server's {taken.sha256}: the transfer was damaged, "
                "and the copy removed; take the snapshot again")
    os.chmod(received, 0o600)
    write_private(beside(snapshot), json.dumps(asdict(taken), indent=2) + "\n")
    os.replace(received, snapshot)
    return ""


def read(snapshot: str) -> tuple[Path, Taken]:
    """A snapshot file given to `harmony restore`, with its JSON, checked against each other
    before any host is touched; BadInput says what is wrong."""
    path = Path(os.path.expanduser(snapshot))
    if not path.is_file():
        raise BadInput(f"{shown.value(snapshot)}: no such snapshot file (harmony snapshot prints where it puts them)")
    try:
        taken = Taken(**json.loads(beside(path).read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise BadInput(f"{beside(path)}: cannot read the snapshot's token and checksum ({type(error).__name__}): "
                       "harmony snapshot writes it beside the snapshot; a restore needs the token the snapshot "
                       "was taken with") from None
    if sha256(path) != taken.sha256:
        raise BadInput(f"{path}: its sha256 is not the one recorded when it was taken ({taken.sha256}): "
                       "the file is damaged or another one")
    return path, taken

