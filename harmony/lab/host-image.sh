#!/usr/bin/env bash
# Builds the Debian + sshd image that the Vagrant lab's docker provider and the end-to-end tests
# run their hosts from: with systemd as init (the default), or with OpenRC (`--init openrc`, the
# init of Alpine edge boxes, here from Debian's own openrc package). No registry is involved:
# debootstrap fetches Debian packages and `docker import` turns the tree into an image.
#
# The image is built once and reused while this script is unchanged (its hash is a label of the
# image, so an image built by an older recipe is rebuilt); pass --force to rebuild it anyway.
# Needs root, debootstrap and a Docker engine.
set -euo pipefail

init=systemd force=
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        --init=systemd|--init=openrc) init=${arg#--init=} ;;
        *) echo "usage: $0 [--force] [--init=systemd|openrc]" >&2; exit 2 ;;
    esac
done
default_image=harmony-host:bookworm
[ "$init" = openrc ] && default_image=harmony-host:bookworm-openrc
image=${HARMONY_HOST_IMAGE:-$default_image}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
# What the tests need on a host: Python for the stand-in k3s, the tools k3s and harmony use (both
# of the downloaders harmony can use: curl, and wget where curl is missing), and
# the firewalls harmony opens k3s's ports in (installed, not active).
packages=sudo,python3,python3-venv,python3-yaml,ca-certificates,curl,wget,openssl,iproute2,procps,kmod
packages+=,iptables,nftables,ufw

built=$(docker image inspect -f '{{index .Config.Labels "harmony.recipe"}}' "$image" 2>/dev/null || true)
if [ -z "$force" ] && [ "$built" = "$recipe" ]; then
    echo "image $image is up to date"
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
if [ "$init" = systemd ]; then
    debootstrap --variant=minbase --include="$packages,systemd,systemd-sysv,dbus,openssh-server" \
        bookworm "$root" "$mirror"
else
    # debootstrap resolves sysvinit-core's rc dependency to sysv-rc, which conflicts with openrc:
    # install the init with apt inside the tree instead, starting no services there.
    debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        openrc sysvinit-core openssh-server
    rm -f "$root/usr/sbin/policy-rc.d"
    chroot "$root" apt-get clean
fi

# sshd must accept root logins with a key; the tests and the lab add the key at start. Each
# container makes its own host keys at first boot.
mkdir -p "$root/root/.ssh" && chmod 700 "$root/root/.ssh"
echo 'PermitRootLogin prohibit-password' > "$root/etc/ssh/sshd_config.d/harmony.conf"
rm -f "$root"/etc/ssh/ssh_host_*
if [ "$init" = systemd ]; then
    # A container has no console to log in on; a getty would only spin.
    chroot "$root" systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1 || true
    chroot "$root" systemctl enable ssh >/dev/null
    cat > "$root/etc/systemd/system/ssh-keygen.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
    chroot "$root" systemctl enable ssh-keygen.service >/dev/null
else
    sed -i -E 's/^([0-9]+:[0-9]+:respawn:.*getty.*)$/#\1/' "$root/etc/inittab"
    cat > "$root/etc/init.d/ssh-keygen" <<'SCRIPT'
#!/sbin/openrc-run
description="Generate SSH host keys on first boot"
depend() { before ssh; }
start() { ssh-keygen -A; }
SCRIPT
    chmod 755 "$root/etc/init.d/ssh-keygen"
    chroot "$root" rc-update add ssh-keygen default >/dev/null
fi
tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' -c "LABEL harmony.recipe=$recipe" - "$image"
echo "built $image"
