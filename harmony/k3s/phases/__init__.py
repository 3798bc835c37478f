"""The phases of k3s's lifecycle on a host, one module each; `harmony.k3s.lifecycle` runs them
in order. Each module's `run(node)` adds the operations of its phase for one host."""
