"""The kinds of failure harmony reports, each with its exit code."""


class HarmonyError(Exception):
    """A failure harmony says in one line, and ends the command with its exit code."""

    exit_code = 1
    reported = False  # the command's report, with this error in it, is printed already


class BadInput(HarmonyError):
    """The user asked for something that cannot be done as given: exit 2, no host touched.

    The message is one line that names what is wrong and how to fix it.
    """

    exit_code = 2


class Unreachable(BadInput):
    """A site the command needs (a release site, the channel server) cannot be reached: no route,
    no name, no answer. Exit 2 like other bad input, as the fix is the user's (a mirror, a pinned
    version, an airgap bundle); `plan` and `check` take it instead as something they cannot know
    (`harmony.resolved.known`). `cause` is the short reason, `cannot reach URL: ERROR`, and `fix`
    what the user can do about it, as the message says it."""

    def __init__(self, message: str, cause: str, fix: str) -> None:
        super().__init__(message)
        self.cause, self.fix = cause, fix


class Interrupted(HarmonyError):
    """harmony was told to stop (SIGINT, SIGTERM) and has stopped its run: exit 130."""

    exit_code = 130

    def __init__(self, signal_name: str, step: str = "", forced: bool = True, what: str | None = None) -> None:
        during = f" during '{step}'" if step else ""
        what = what or (
            ("the run ended at once on every host, where a step in progress leaves the host as it was "
             "(a restart ended before it finished completes there)") if forced
            else "the steps in progress finished; no host began another"
        ) + "; run the command again to converge (it picks up what this run left)"
        super().__init__(f"stopped by {signal_name}{during}: {what}")


def not_yaml(path, error, fix: str) -> BadInput:
    """BadInput for a file PyYAML could not read: the file, the line where it stopped, its
    problem, and `fix`."""
    mark = getattr(error, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return BadInput(f"{path}{line}: not valid YAML ({problem}): {fix}")


class RunFailed(HarmonyError):
    """One or more hosts failed (or the cluster never became ready): exit 1."""

    exit_code = 1
