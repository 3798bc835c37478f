"""An example inventory for edge boxes over SSH: copy it, edit it, then

    harmony up inventories/edge.py          # or: pyinfra inventories/edge.py deploys/k3s.py

The groups name the roles: hosts in `k3s_servers` run the control plane, hosts in `k3s_agents`
run workloads. The first server starts the cluster; the others join it through the registration
address. One server: agents join it. Several servers: HA with embedded etcd (use an odd number).

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
    # Where nodes join and where your kubeconfig reaches the API: a load balancer or a fixed
    # address in front of the servers (it goes into their certificates). Default: the first
    # server's k3s_server_address (or its SSH address).
    # "k3s_registration_address": "k3s-api.example.net",
    # The join token. Default: the first server's k3s generates one, and harmony copies it from
    # there to each joining host (over SSH, never through a command line or log). To choose it,
    # name a file or an environment variable on this machine (--token-file / --token-env):
    # "k3s_token_file": "~/.config/harmony/edge.token",
    # "k3s_token_env": "EDGE_K3S_TOKEN",
    # How long a k3s start may take before the host is reported failed (k3s itself keeps
    # retrying a join it cannot make yet, for example while the server is unreachable):
    # "k3s_start_timeout": 300,
    # How long a run waits for another harmony run on the same host to end, before it fails that
    # host naming the other run (runs against one host never interleave):
    # "harmony_lock_wait": 60,
    # Further k3s settings for /etc/rancher/k3s/config.yaml (k3s flags without "--"):
    "k3s_config": {"disable": ["traefik"]},
    # k3s's own scheduled etcd snapshots on the servers (embedded etcd), and a copy of each in S3,
    # its keys read from these environment variables on the controller:
    # "k3s_etcd_snapshots": {"schedule": "0 */6 * * *", "retention": 10,
    #                        "s3": {"bucket": "edge-backups", "endpoint": "s3.example.net", "folder": "edge",
    #                               "access_key_env": "EDGE_S3_KEY", "secret_key_env": "EDGE_S3_SECRET"}},
    # Proxies for the k3s service, written to its environment file (the binary's download on
    # the host does not use them):
    # "https_proxy": "http://proxy.example.net:3128",
    # "no_proxy": "127.0.0.0/8,10.0.0.0/8,.svc,.cluster.local",
}

k3s_servers = (
    [
        # (host, host data): host data wins over group data.
        # k3s_server_address: where the other nodes reach this server, when it is not the
        # address you connect to (say, you connect over a VPN or through NAT).
        ("edge-1.example.net", {"k3s_server_address": "10.0.0.11"}),
        # For HA, add servers: ("edge-2.example.net", {}), ("edge-3.example.net", {}),
    ],
    _common,
)

k3s_agents = (
    [
        ("edge-4.example.net", {"k3s_node_labels": {"site": "berlin"}}),
        ("edge-5.example.net", {
            "k3s_node_name": "edge-5",
            "k3s_node_labels": {"site": "berlin", "gpu": "true"},
            "k3s_node_taints": ["gpu=true:NoSchedule"],
        }),
    ],
    _common,
)
