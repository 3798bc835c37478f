"""The phases of k3s's lifecycle on a host, one module each, named so that a listing of this
directory reads in the order they run: `p1_preflight` to `p7_kubeconfig` (a module's name cannot
begin with a digit, hence the `p`; one digit each, while there are fewer than ten).
`harmony.k3s.lifecycle` lists them, once, and runs them in that order.

Each module's `PHASE` keeps the contract of `harmony.phase.Phase`: its `should_run(node)`
decides from the host's state whether any of its operations would change the host, and its
`run(node)` declares them; a phase with nothing to do declares none and is reported unchanged.
"""
