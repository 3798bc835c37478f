"""Where k3s keeps its files on a host: the same places the official install script uses."""

from harmony.images import archive
from harmony.runtime import INITS  # the init systems harmony runs k3s under

BIN_DIR = "/usr/local/bin"
BINARY = f"{BIN_DIR}/k3s"
KILLALL_SCRIPT = f"{BIN_DIR}/k3s-killall.sh"
FIREWALL_SCRIPT = f"{BIN_DIR}/k3s-firewall.sh"  # nftables only: ufw and firewalld keep their rules
CONFIG_DIR = "/etc/rancher/k3s"
CONFIG = f"{CONFIG_DIR}/config.yaml"
KUBECONFIG = f"{CONFIG_DIR}/k3s.yaml"
DATA_DIR = "/var/lib/rancher/k3s"
SERVER_TOKEN = f"{DATA_DIR}/server/token"  # the full token k3s writes on a server
TOKEN_FILE = f"{CONFIG_DIR}/token"  # the token a host presents (config.yaml's token-file)
REGISTRIES = f"{CONFIG_DIR}/registries.yaml"
SYSTEMD_DIR = "/etc/systemd/system"
OPENRC_DIR = "/etc/init.d"
LINKED_COMMANDS = ("kubectl", "crictl", "ctr")

ROLES = ("server", "agent")


def unit_name(role: str) -> str:
    """`k3s` for a server, `k3s-agent` for an agent, as the install script names them."""
    return "k3s" if role == "server" else "k3s-agent"


def unit_file(role: str, init: str) -> str:
    """The systemd unit, or the OpenRC script."""
    if init == "openrc":
        return f"{OPENRC_DIR}/{unit_name(role)}"
    return f"{SYSTEMD_DIR}/{unit_name(role)}.service"


def env_file(role: str, init: str) -> str:
    """The service's environment (proxy settings), where the install script puts it."""
    if init == "openrc":
        return f"{CONFIG_DIR}/{unit_name(role)}.env"
    return f"{SYSTEMD_DIR}/{unit_name(role)}.service.env"


def log_file(role: str) -> str:
    """Where k3s logs under OpenRC (systemd keeps its log in the journal)."""
    return f"/var/log/{unit_name(role)}.log"


def logrotate_file(role: str) -> str:
    """Rotation of the OpenRC log."""
    return f"/etc/logrotate.d/{unit_name(role)}"


def uninstall_script(role: str) -> str:
    return f"{BIN_DIR}/{unit_name(role)}-uninstall.sh"


# Where an airgap bundle's images archive lands (k3s imports it at start), for each architecture
# the release's checksum files name and each archive format: the host fact hashes every one.
IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"  # k3s's own containerd, which `k3s ctr` dials
IMAGE_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")
ARCHES = ("amd64", "arm64", "arm", "s390x")


IMAGE_PATHS = tuple(f"{IMAGES_DIR}/k3s-airgap-images-{arch}{suffix}" for arch in ARCHES for suffix in IMAGE_SUFFIXES) \
    + tuple(f"{IMAGES_DIR}/{archive.file_name(arch)}" for arch in ARCHES)

# Host preparation, written only where a kernel module or setting k3s needs is missing.
MODULES_FILE = "/etc/modules-load.d/k3s.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-k3s.conf"
RPM_REPO = "/etc/yum.repos.d/rancher-k3s-common.repo"  # for the k3s-selinux policy

# The files k3s runs on: a run stages a new one beside the live one (`staged`), and the node's
# turn in the rolling order puts it in place with the restart (harmony.k3s.phases.p6_start).
RUN_FILES = (
    BINARY,
    CONFIG,
    TOKEN_FILE,
    REGISTRIES,
    *IMAGE_PATHS,
    *(path for init in INITS for role in ROLES for path in (unit_file(role, init), env_file(role, init))),
)


def staged(path: str) -> str:
    """Where the new version of one of `RUN_FILES` waits for its node's turn: beside it, so that
    putting it in place is a rename on one filesystem, and hidden under a name that none of the
    programs reading that directory takes for its own (systemd loads units by name, OpenRC skips
    dot files in init.d, k3s imports images by their suffix)."""
    return _beside(path, "next")


def previous(path: str) -> str:
    """Where the version of one of `RUN_FILES` that k3s ran on is kept (a hard link) while a
    restart tries the new one: put back if k3s fails on it. A run removes it once k3s is back;
    a killed run leaves it as a temporary file, which the next run removes."""
    return _beside(path, "previous")


def _beside(path: str, what: str) -> str:
    directory, _, name = path.rpartition("/")
    return f"{directory}/.{name}.harmony-{what}"


# Every file of k3s's whose hash the host fact reports: the ones harmony writes, and the
# kubeconfig and token k3s writes.
FILES = (
    *RUN_FILES,
    KUBECONFIG,
    SERVER_TOKEN,
    KILLALL_SCRIPT,
    FIREWALL_SCRIPT,
    MODULES_FILE,
    SYSCTL_FILE,
    RPM_REPO,
    *(uninstall_script(role) for role in ROLES),
    *(logrotate_file(role) for role in ROLES),
)
# And the new versions of those k3s runs on, staged for a node's turn.
HASHED_FILES = (*FILES, *(staged(path) for path in RUN_FILES))

# The temporary files harmony makes on the way to putting a file in place (`PATH.harmony-RUN`,
# the download's `.NAME.harmony-XXXXXX`, the kept `.NAME.harmony-previous`), as shell globs of
# those names only, beside each file (and its uploads, in harmony.operations.STAGING_DIR): a run
# removes them however it ends, but a killed one leaves them for the next (under the host's
# exclusive lock). No file of anyone else's matches them.
TEMPORARY_GLOBS = tuple(glob for path in FILES for glob in (f"{path}.harmony-*", _beside(path, "*")))

# Directories k3s's own live in, which `harmony down` removes too when nothing else is left in
# them (/etc/rancher also holds rke2's configuration, for one).
PARENT_DIRS = ("/etc/rancher",)
# Everything `harmony down` removes, besides the managed files and the command links.
REMOVED_PATHS = (CONFIG_DIR, "/etc/rancher/node", "/var/lib/rancher", "/var/lib/kubelet", "/run/k3s", "/run/flannel",
                 "/var/lib/harmony", *(log_file(role) for role in ROLES))
