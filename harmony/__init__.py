"""harmony: a working Kubernetes runtime on any machine, provisioned with pyinfra."""

__version__ = "0.1.0"
