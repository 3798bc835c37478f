"""Stopping on the controller after the hosts' run: a stop signal is noted and the next
checkpoint raises Interrupted (exit 130) saying what was being done; a second one raises at
once; the process's own handlers come back afterwards."""

from __future__ import annotations

import os
import signal

import pytest

from harmony import stopping
from harmony.errors import Interrupted


def test_a_stop_is_raised_at_the_next_checkpoint_and_a_second_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with stopping.checkpoints() as check:
        check("applying workload web")  # nothing asked yet: goes on
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Interrupted) as stopped:
            check()
        assert str(stopped.value) == ("stopped by SIGTERM during 'applying workload web': what is done stays; "
                                      "run the command again to converge the rest")
        assert stopped.value.exit_code == 130
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)  # the second: raised by the handler itself
    assert signal.getsignal(signal.SIGTERM) is before
