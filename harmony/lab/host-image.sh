#!/usr/bin/env bash
# Builds the Debian systemd + sshd image that the Vagrant lab's docker provider and the end-to-end
# tests run their hosts from. No registry is involved: debootstrap fetches Debian packages and
# `docker import` turns the tree into an image. The image is built once and reused; pass --force
# to rebuild it. Needs root, debootstrap and a Docker engine.
set -euo pipefail

image=${HARMONY_HOST_IMAGE:-harmony-host:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,dbus,openssh-server,sudo,python3,python3-venv,python3-yaml,ca-certificates,curl,openssl,iproute2,procps,kmod

if [ "${1:-}" != "--force" ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "image $image exists"
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror"
# sshd must accept root logins with a key; the tests and the lab add the key at start.
mkdir -p "$root/root/.ssh" && chmod 700 "$root/root/.ssh"
echo 'PermitRootLogin prohibit-password' > "$root/etc/ssh/sshd_config.d/harmony.conf"
# A container has no console to log in on; a getty would only spin.
chroot "$root" systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1 || true
rm -f "$root"/etc/ssh/ssh_host_*  # each container makes its own host keys at first boot
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
tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' - "$image"
echo "built $image"
