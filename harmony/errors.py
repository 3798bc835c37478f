"""The two kinds of failure harmony reports, each with its exit code."""


class BadInput(Exception):
    """The user asked for something that cannot be done as given: exit 2, no host touched.

    The message is one line that names what is wrong and how to fix it.
    """

    exit_code = 2


class RunFailed(Exception):
    """One or more hosts failed (or the cluster never became ready): exit 1."""

    exit_code = 1
