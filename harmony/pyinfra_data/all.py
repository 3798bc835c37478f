"""Group data for every host, loaded by `harmony` through pyinfra's `--group-data`.

It carries secrets from the harmony process into the pyinfra run through the environment, so
that they never appear on a command line (`ps`) as `--data key=value` would.
"""

import os

if "HARMONY_SUDO_PASSWORD" in os.environ:
    _sudo_password = os.environ["HARMONY_SUDO_PASSWORD"]
