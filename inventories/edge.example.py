"""An example inventory for edge boxes over SSH: copy it, edit it, then

    harmony up inventories/edge.py          # or: pyinfra inventories/edge.py deploys/k3s.py

Every key below is optional. The harmony CLI's options (--version, --release-url, ...) override
the same keys here. Keys starting with `_` are pyinfra's own (connection and privilege).
"""

# Data shared by every host (a leading underscore keeps it from being read as a group).
_common = {
    # How pyinfra connects. A new host's SSH key is trusted on first use and recorded in
    # ~/.ssh/known_hosts; a changed key stops the run.
    "ssh_user": "ubuntu",
    "ssh_port": 22,
    # A non-root SSH user needs sudo; with a sudo password, run harmony with
    # --sudo-password-env VAR (the password stays out of argv and logs).
    "_sudo": True,
    # Pin the k3s release (recommended), or name a channel: stable, latest, v1.31 ...
    "k3s_version": "v1.31.4+k3s1",
    # Mirrors, for hosts that cannot reach GitHub:
    # "k3s_release_url": "https://mirror.example.net/k3s-io/k3s/releases/download",
    # "k3s_channel_url": "https://mirror.example.net/v1-release/channels",
    # Further k3s settings for /etc/rancher/k3s/config.yaml (k3s flags without "--"):
    "k3s_config": {"disable": ["traefik"]},
    # Proxies for the k3s service, written to its environment file (the binary's download on
    # the host does not use them):
    # "https_proxy": "http://proxy.example.net:3128",
    # "no_proxy": "127.0.0.0/8,10.0.0.0/8,.svc,.cluster.local",
}

k3s_servers = (
    [
        # (host, host data): host data wins over group data.
        ("edge-1.example.net", {"k3s_node_labels": {"site": "berlin"}}),
    ],
    {**_common, "k3s_role": "server"},
)
