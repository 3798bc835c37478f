"""Image references, normalized as Docker and containerd normalize them (the
distribution/reference rules): `nginx:1.27` is `docker.io/library/nginx:1.27`, a name with no
tag and no digest is `:latest`, and a first path component with a `.` or a `:` in it, or
`localhost`, is a registry. The normalized name is the one the kubelet asks containerd for, so
it is the name an imported image must carry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harmony.errors import BadInput

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"  # where docker.io's API is served
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")

    @property
    def reference(self) -> str:
        """What the registry's manifests endpoint is asked for: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def floating(self) -> bool:
        """Whether the kubelet pulls it on every start by default (imagePullPolicy Always): a
        `:latest` or untagged image, pinned by no digest."""
        return not self.digest and self.tag == "latest"


def parse(name: str) -> Reference:
    """The normalized reference of an image name; BadInput naming it if it is not one."""
    rest, _, digest = name.partition("@")
    last = rest.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, rest
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not REPOSITORY.match(repository) or (tag is not None and not TAG.match(tag)) \
            or (digest and not DIGEST.match(digest)):
        raise BadInput(f"'{name}' is not an image reference (NAME[:TAG][@sha256:DIGEST], lower-case): fix it")
    return Reference(registry, repository, tag or (None if digest else "latest"), digest or None)
