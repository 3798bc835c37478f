"""The k3s deploy's one question to a host (`K3sHost`).

pyinfra 3.10 does not cache facts: every `host.get_fact` is another round trip. So harmony asks
one rich question per host that reports everything the k3s deploy decides on: the
architecture, the init system, the hash and mode of every managed file, the state of both k3s
units and the commands on PATH. A no-op re-run then costs that one command per host.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

import calendar
import json
import time

from harmony import runlock
from harmony.facts import INIT, FileState
from harmony.k3s import paths, prepare
from harmony.k3s.firewall import COMMENT, Firewall, NftChain
from harmony.operations import STAGING_DIR
from harmony.runlock import Lock


@dataclass(frozen=True)
class UnitState:
    load_state: str = "not-found"
    active_state: str = "inactive"
    unit_file_state: str = ""
    started: int = 0  # ActiveEnterTimestamp, seconds since the epoch

    @property
    def active(self) -> bool:
        return self.active_state == "active"

    @property
    def enabled(self) -> bool:
        return self.unit_file_state == "enabled"


@dataclass
class HostState:
    """What one host looks like to the k3s deploy before it changes anything."""

    arch: str = ""
    hostname: str = ""
    init: str = "none"  # systemd | openrc | none
    uid: int = -1
    files: dict[str, FileState] = field(default_factory=dict)
    removable: set[str] = field(default_factory=set)  # of paths.REMOVED_PATHS, those present
    leftovers: set[str] = field(default_factory=set)  # temporary files an earlier run left
    parent_dirs: dict[str, set[str]] = field(default_factory=dict)  # of paths.PARENT_DIRS: entries
    commands: dict[str, str] = field(default_factory=dict)  # name -> path (links resolved)
    units: dict[str, UnitState] = field(default_factory=dict)
    k3s_version: str = ""
    modules: set[str] = field(default_factory=set)  # of the ones k3s needs, those loaded
    sysctls: dict[str, str] = field(default_factory=dict)  # of the ones k3s needs, those present
    selinux: str = ""  # getenforce's answer: Enforcing, Permissive, Disabled; "" without SELinux
    os_family: set[str] = field(default_factory=set)  # os-release's ID and ID_LIKE words
    os_version: str = ""  # os-release's VERSION_ID
    selinux_policy: bool = False  # the k3s-selinux package is installed
    firewall: Firewall = field(default_factory=Firewall)
    lock: Lock = field(default_factory=Lock)  # the host's run lock, as this run found it
    images: set[str] = field(default_factory=set)  # of the images a run ships, those containerd holds
    # Asked only by status and check (`certs`): k3s's certificates' expiries, seconds since the
    # epoch by file, and how they were read (CERT_READERS), "" where not asked.
    certificates: dict[str, int] = field(default_factory=dict)
    cert_reader: str = ""

    @property
    def enforcing(self) -> bool:
        return self.selinux == "Enforcing"

    def unit(self, name: str) -> UnitState:
        return self.units.get(name, UnitState())


# The active firewall and what it allows: ufw's added rules, firewalld's permanent ports and
# trusted sources, or nftables' base input chains (policy, last rule, harmony's rules' handles).
_FIREWALL = r"""if grep -qs '^ENABLED=yes' /etc/ufw/ufw.conf && ufw status 2>/dev/null | grep -q '^Status: active'; then
  printf 'firewall\tufw\n'; ufw show added 2>/dev/null | sed -n 's/^ufw /fw_rule\tufw /p'
elif [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then
  printf 'firewall\tfirewalld\n'
  for p in $(firewall-cmd --permanent --list-ports 2>/dev/null); do printf 'fw_rule\tport %s\n' "$p"; done
  for s in $(firewall-cmd --permanent --zone=trusted --list-sources 2>/dev/null); do printf 'fw_rule\tsource %s\n' "$s"; done
elif command -v nft >/dev/null 2>&1; then
  nft list chains 2>/dev/null | awk '/^table /{t=$2" "$3} /^[[:space:]]*chain /{c=$2} /hook input/{print t, c, (/policy drop/ ? "drop" : "accept")}' |
  while read -r f t c p; do
    last=$(nft list chain "$f" "$t" "$c" | grep -vE '^[[:space:]]*(table|chain|type|}|$)' | tail -n 1 \
      | sed -E 's/^[[:space:]]+//; s/counter packets [0-9]+ bytes [0-9]+ ?//; s/ ?comment ".*"$//')
    printf 'firewall\tnftables\nnft_chain\t%s %s %s\t%s\t%s\n' "$f" "$t" "$c" "$p" "$last"
    nft -a list chain "$f" "$t" "$c" | sed -n "s/.*comment \"\(COMMENT [0-9a-f]*\)\" # handle \([0-9]*\)\$/nft_mark\t$f $t $c\t\2\t\1/p"
  done
fi""".replace("COMMENT", COMMENT)  # sed's basic regular expressions take its parentheses as they are

# The leaf certificates k3s issues itself, and renews at start when they expire within its
# renewal window (pkg/daemons/control/deps: `createClientCertKey`; docs.k3s.io/cli/certificate):
# the files `k3s certificate check` reads (pkg/util/services: every service but
# `certificate-authority`). The CAs (server-ca, client-ca, request-header-ca, etcd's), valid 10
# years, are not among them: k3s never renews a CA by itself (`k3s certificate rotate-ca`).
CERT_FILES = (
    *(f"{paths.DATA_DIR}/server/tls/{name}.crt" for name in (
        "client-admin", "client-auth-proxy", "client-controller", "client-k3s-cloud-controller",
        "client-k3s-controller", "client-kube-apiserver", "client-kube-proxy", "client-scheduler",
        "client-supervisor", "serving-kube-apiserver")),
    *(f"{paths.DATA_DIR}/server/tls/etcd/{name}.crt" for name in ("client", "peer-server-client", "server-client")),
    *(f"{paths.DATA_DIR}/agent/{name}.crt" for name in (
        "client-k3s-controller", "client-kube-proxy", "client-kubelet", "serving-kubelet")),
)
# How a host's certificates were read: by k3s itself (`k3s certificate check --output json`,
# from v1.33.1, v1.32.5, v1.31.9 and v1.30.13), else one `openssl x509` a file; "none": the
# host has certificates but neither (no openssl).
CERT_READERS = {"k3s": "k3s certificate check", "openssl": "openssl", "none": ""}


def _certs_script(binary: str) -> str:
    """Where asked (status, check): k3s's certificates' expiries. One `k3s certificate check
    --output json` where the release has it (older ones refuse the flag, and print nothing on
    stdout for it), else one `openssl` a file that exists, each printing its notAfter line
    after a `certfile` record; never a process for a file that is not there."""
    files = " ".join(shlex.quote(p) for p in CERT_FILES)
    return f"""j=; [ -x {binary} ] && j=$({binary} certificate check --output json 2>/dev/null) || j=
case $j in
  '{{'*) printf 'certjson\t%s\n' "$j" | head -n 1 ;;
  *)
    set --
    for f in {files}; do [ -f "$f" ] && set -- "$@" "$f"; done
    if [ $# -gt 0 ] && command -v openssl >/dev/null 2>&1; then
      for f in "$@"; do printf 'certfile\t%s\n' "$f"; openssl x509 -noout -enddate -in "$f" 2>/dev/null; done
    elif [ $# -gt 0 ]; then
      printf 'certreader\tnone\n'
    fi ;;
esac"""


def _script(known: str, version: str, images: str = "", certs: str = "") -> str:
    """The fact's shell. It starts as few processes as it can (a no-op run reads it on every
    host, and on a small host each process counts): one `stat` and one `sha256sum` for all the
    files, one `systemctl` for both units, shell builtins for the kernel settings, and the k3s
    binary asked its version only where its sha256 is not one of `known` (the run's release,
    whose version is `version`); and k3s's containerd asked which of `images` (references,
    space-separated) it holds only where a run ships images (`harmony.k3s.deploy.images`); and
    k3s's certificates' expiries only where `certs` asks (status and check: `_certs_script`)."""
    files = " ".join(shlex.quote(p) for p in paths.HASHED_FILES if p != paths.BINARY)
    removable = " ".join(shlex.quote(p) for p in paths.REMOVED_PATHS)
    commands = " ".join(("curl", "wget", *paths.LINKED_COMMANDS))
    units = " ".join(f"{paths.unit_name(role)}.service" for role in paths.ROLES)
    # (dash's `read` of a /proc/sys file sets the value but answers 1: its status is not used.)
    sysctls = "\n".join(f"v=; [ -r {path} ] && read -r v < {path}; [ -n \"$v\" ] && printf 'sysctl\\t%s\\t%s\\n' {key} \"$v\""
                        for key, path in ((k, "/proc/sys/" + k.replace(".", "/")) for k in prepare.SYSCTLS))
    props = "Id,LoadState,ActiveState,UnitFileState,ActiveEnterTimestamp"
    temporary = " ".join(paths.TEMPORARY_GLOBS)
    binary = paths.BINARY
    # Tab-separated records; the script never fails, so a host can always be described.
    return f"""
printf 'arch\\t%s\\n' "$(uname -m)"
printf 'hostname\\t%s\\n' "$(hostname)"
printf 'uid\\t%s\\n' "$(id -u)"
{INIT}
{_FIREWALL}
k=; [ -f {binary} ] && k=$(sha256sum {binary} 2>/dev/null) && k=${{k%% *}} && printf 'filesum\\t%s\\t%s\\n' {binary} "$k"
set --
for f in {files}; do [ -f "$f" ] && set -- "$@" "$f"; done
[ $# -gt 0 ] && sha256sum "$@" 2>/dev/null | while read -r h f; do printf 'filesum\\t%s\\t%s\\n' "$f" "$h"; done
[ -n "$k" ] && set -- "$@" {binary}
[ $# -gt 0 ] && stat -c 'filestat\t%n\t%a\t%Y' "$@" 2>/dev/null
for p in {removable}; do [ -e "$p" ] && printf 'removable\\t%s\\n' "$p"; done
for f in {temporary} {STAGING_DIR}/*; do
  [ -e "$f" ] || continue
  case $f in *.harmony-next) ;; *) printf 'leftover\t%s\n' "$f" ;; esac
done
for d in {" ".join(paths.PARENT_DIRS)}; do
  [ -d "$d" ] && printf 'parent_dir\\t%s\\t%s\\n' "$d" "$(ls -A "$d" | tr '\\n' ' ')"
done
for c in {commands}; do
  p=$(command -v "$c" 2>/dev/null) && printf 'command\\t%s\\t%s\\n' "$c" "$(readlink -f "$p")"
done
if [ -d /run/systemd/system ]; then
  systemctl show --timestamp=unix -p {props} {units} 2>/dev/null | while read -r line; do printf 'unitprop\\t%s\\n' "$line"; done
elif command -v rc-service >/dev/null 2>&1; then
  for u in {" ".join(paths.unit_name(role) for role in paths.ROLES)}; do  # the same properties, as OpenRC knows them (supervise-daemon's pidfile)
    [ -f {paths.OPENRC_DIR}/$u ] || continue
    printf 'unitprop\\tId=%s.service\\nunitprop\\tLoadState=loaded\\n' "$u"
    [ -e /etc/runlevels/default/$u ] && printf 'unitprop\\tUnitFileState=enabled\\n'
    rc-service "$u" status >/dev/null 2>&1 && printf 'unitprop\\tActiveState=active\\nunitprop\\tActiveEnterTimestamp=@%s\\n' \\
      "$(stat -c %Y /var/run/$u.pid 2>/dev/null)"
    printf 'unitprop\\t\\n'
  done
fi
known={shlex.quote(known)}
if [ -n "$k" ] && [ -x {binary} ]; then
  case " $known " in
    *" $k "*) printf 'version\\tk3s version %s\\n' {shlex.quote(version)} ;;
    *) printf 'version\\t%s\\n' "$({binary} --version 2>/dev/null | head -n 1)" ;;
  esac
fi
images={shlex.quote(images)}
if [ -n "$images" ] && [ -x {binary} ] && [ -S {paths.CONTAINERD_SOCKET} ]; then
  {binary} ctr -n k8s.io images ls -q 2>/dev/null | while read -r r; do
    case " $images " in *" $r "*) printf 'image\\t%s\\n' "$r" ;; esac
  done
fi
{_certs_script(binary) if certs else ""}
[ -d /proc/sys/net/bridge ] && printf 'module\\tbr_netfilter\\n'
grep -qw overlay /proc/filesystems 2>/dev/null && printf 'module\\toverlay\\n'
command -v getenforce >/dev/null 2>&1 && printf 'selinux\\t%s\\n' "$(getenforce 2>/dev/null)"
[ -r /etc/os-release ] && (. /etc/os-release; printf 'os\\t%s %s\\t%s\\n' "${{ID:-}}" "${{ID_LIKE:-}}" "${{VERSION_ID:-}}")
command -v rpm >/dev/null 2>&1 && rpm -q --quiet k3s-selinux 2>/dev/null && printf 'selinux_policy\\tk3s\\n'
{sysctls}
true
"""


def parse(lines: list[str]) -> HostState:
    state = HostState()
    units: list[dict[str, str]] = [{}]  # systemctl's blocks of properties, one per unit
    stats: dict[str, tuple[str, str]] = {}  # path -> (mode, mtime)
    sums: dict[str, str] = {}  # path -> sha256
    cert_file = ""  # the file whose `openssl x509 -enddate` line comes next
    for line in lines:
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "certfile":
            cert_file, state.cert_reader = rest, "openssl"
        elif line.startswith("notAfter="):
            expiry = openssl_date(line[len("notAfter="):])
            if cert_file and expiry is not None:
                state.certificates[cert_file] = expiry
        elif kind == "certjson":
            state.certificates, state.cert_reader = check_json(rest), "k3s"
        elif kind == "certreader":
            state.cert_reader = rest
        elif kind == "arch":
            state.arch = rest
        elif kind == "hostname":
            state.hostname = rest
        elif kind == "image":
            state.images.add(rest)
        elif kind == "uid" and rest.isdigit():
            state.uid = int(rest)
        elif kind == "init":
            state.init = rest
        elif kind == "filestat" and len(fields) == 3:
            stats[fields[0]] = (fields[1], fields[2])
        elif kind == "filesum" and len(fields) == 2:
            sums[fields[0]] = fields[1]
        elif kind == "removable":
            state.removable.add(rest)
        elif kind == "leftover":
            state.leftovers.add(rest)
        elif kind == "parent_dir" and len(fields) == 2:
            state.parent_dirs[fields[0]] = set(fields[1].split())
        elif kind == "command" and len(fields) == 2:
            state.commands[fields[0]] = fields[1]
        elif kind == "unitprop":
            key, _, value = rest.partition("=")
            if key:
                units[-1][key] = value
            else:
                units.append({})
        elif kind == "module":
            state.modules.add(rest)
        elif kind == "sysctl" and len(fields) == 2:
            state.sysctls[fields[0]] = fields[1]
        elif kind == "selinux":
            state.selinux = rest
        elif kind == "os" and len(fields) == 2:
            state.os_family, state.os_version = set(fields[0].split()), fields[1]
        elif kind == "selinux_policy":
            state.selinux_policy = True
        elif kind == "firewall":
            state.firewall.kind = rest
        elif kind == "fw_rule":
            state.firewall.rules.add(rest)
        elif kind == "nft_chain" and len(fields) == 3:
            state.firewall.chains[fields[0]] = NftChain(policy=fields[1], last_rule=fields[2])
        elif kind == "nft_mark" and len(fields) == 3 and fields[0] in state.firewall.chains:
            state.firewall.chains[fields[0]].marked[fields[1]] = fields[2]
        elif state.lock.read(kind, rest):
            pass
        elif kind == "version":
            # "k3s version v1.31.4+k3s1 (a562d090)"
            words = rest.split()
            state.k3s_version = words[2] if len(words) > 2 else ""
    for path, (mode, mtime) in stats.items():
        state.files[path] = FileState(mode=mode, sha256=sums.get(path, ""), mtime=int(mtime) if mtime.isdigit() else 0)
    for props in units:
        if not props.get("Id", "").endswith(".service"):
            continue
        started = props.get("ActiveEnterTimestamp", "").lstrip("@")
        state.units[props["Id"][:-len(".service")]] = UnitState(
            load_state=props.get("LoadState", "not-found"),
            active_state=props.get("ActiveState", "inactive"),
            unit_file_state=props.get("UnitFileState", ""),
            started=int(started) if started.isdigit() else 0,
        )
    return state


def openssl_date(text: str) -> int | None:
    """`openssl x509 -enddate`'s date (`May 15 21:50:12 2026 GMT`, C locale, always GMT) as
    seconds since the epoch; None for what is not one."""
    try:
        return calendar.timegm(time.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT"))
    except ValueError:
        return None


def go_time(text: str) -> int | None:
    """A Go `time.Time` as encoding/json writes it (RFC 3339, fractions of a second and a zone
    offset or Z) as seconds since the epoch; None for what is not one."""
    from datetime import datetime

    if not isinstance(text, str):
        return None
    head, dot, rest = text.partition(".")
    if dot:  # drop the fraction (Go writes up to nine digits; Python reads six)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + rest[digits:]
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def check_json(text: str) -> dict[str, int]:
    """`k3s certificate check --output json` (pkg/cli/cert: `{"Certificates": [{"Filename",
    "Subject", "Issuer", "Usages", "ExpiryTime", "ResidualTime", "Status"}]}`) as the earliest
    expiry by file. Its Filename is the file's base name; a file holds its certificate and the
    CA's after it, each listed; a NOT YET VALID one has its NotBefore as ExpiryTime, and says
    nothing of its expiry."""
    try:
        listed = json.loads(text).get("Certificates") or []
    except (ValueError, AttributeError):
        return {}
    earliest: dict[str, int] = {}
    for cert in listed if isinstance(listed, list) else []:
        if not isinstance(cert, dict) or cert.get("Status") == "NOT YET VALID":
            continue
        expiry, name = go_time(cert.get("ExpiryTime")), cert.get("Filename")
        if expiry is not None and isinstance(name, str) and name:
            earliest[name] = min(expiry, earliest.get(name, expiry))
    return earliest


def certificates_summary(state: HostState, now: float) -> dict:
    """What status and check say of a host's certificates: the earliest to expire (`file`,
    `expires` in UTC, `days_left`, whole days, negative once expired), how many files were
    read and with what; `unread` says why none could be."""
    summary: dict = {"read_with": CERT_READERS.get(state.cert_reader, ""), "files": len(state.certificates)}
    if state.certificates:
        path, expiry = min(state.certificates.items(), key=lambda item: (item[1], item[0]))
        summary.update(file=path, expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
                       days_left=int((expiry - now) // 86400))
    elif state.cert_reader == "none":
        summary["unread"] = "openssl is not installed on the host (and its k3s has no certificate check --output)"
    return summary


class K3sHost(FactBase):
    """Everything the k3s deploy needs to know about a host, in one round trip; with `lock`
    (exclusive or shared), read under the host's run lock (`harmony.runlock`), taken first.
    `known`: the sha256 sums (space-separated) of the run's release's binaries, whose version
    is `version`: a binary with one of them is that version without being asked. `certs`
    (status and check give it; `up` never pays for it): read k3s's certificates' expiries."""

    def command(self, lock: str = "", wait: int = 60, who: str = "", watch: str = "", known: str = "",
                version: str = "", images: str = "", certs: str = "") -> str:
        return (runlock.script(runlock.K3S_LOCK, lock, wait, who, watch) if lock else "") + \
            _script(known, version, images, certs)

    def process(self, output: list[str]) -> HostState:
        return parse(output)


class K3sStatus(K3sHost):
    """A JSON-friendly summary of `K3sHost`, for `harmony status`."""

    def process(self, output: list[str]) -> dict:
        state = parse(output)
        role = next((r for r in paths.ROLES if state.unit(paths.unit_name(r)).load_state == "loaded"), "")
        unit = state.unit(paths.unit_name(role)) if role else UnitState()
        return {
            "hostname": state.hostname,
            "arch": state.arch,  # which of the release's binaries is the host's
            "version": state.k3s_version,
            # Files a stopped rollout staged, which this host's turn of the next run puts in place.
            "staged": [path for path in paths.RUN_FILES if paths.staged(path) in state.files],
            "role": role,
            "unit": paths.unit_name(role) if role else "",
            "service": unit.active_state if role else "not installed",
            "active": unit.active,
            "certificates": certificates_summary(state, time.time()),
        }
