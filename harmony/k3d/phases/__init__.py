"""The phases of k3d's lifecycle on the host whose Docker holds the cluster, one module each,
named so that a listing of this directory reads in the order they run (`p1_preflight` to
`p4_kubeconfig`, as k3s's `harmony.k3s.phases`); `harmony.k3d.lifecycle` lists them, once.
Each module's `PHASE` keeps the contract of `harmony.phase.Phase`."""
