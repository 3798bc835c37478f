"""The `harmony` command: a Click group of the verbs in `harmony.verbs`, one module each.

Only click (and the verbs' light modules) are imported at start; what a verb runs is imported
when it runs, so that `harmony --help` answers at once.
"""

from __future__ import annotations

import click

from harmony.verbs import (bundle, certs, check, down, init, kubeconfig, lab, plan, remove, restore, schema,
                            snapshot, status, up)
from harmony.verbs.command import Verbs


@click.group("harmony", cls=Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harmony", prog_name="harmony", help="Show harmony's version and exit.", message=(
    "%(prog)s, version %(version)s\n"
    "k3s: harmony status shows the release each host runs; up, plan and init pin one with --k3s-version"))
def main():
    """A working Kubernetes runtime on any machine.

    TARGET is `local` (this machine), the name of an inventory in ./inventories, a path to a
    pyinfra inventory file, or [user@]host[:port] for one host over SSH. Without one: the
    project file's target (harmony.yaml, see `harmony init`), else local.
    """


for verb in (up.up, check.check, plan.plan, status.status, down.down, kubeconfig.kubeconfig, init.init,
             schema.schema, bundle.bundle, lab.lab, remove.remove, certs.certs, snapshot.snapshot,
             restore.restore):
    main.add_command(verb)
