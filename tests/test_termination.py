"""SIGTERM requests: answered at the next safe point inside a training loop, at once elsewhere."""

import pytest

from codec_jax import termination


def test_a_request_waits_for_the_next_safe_point_only_inside_a_region():
    termination.reset()
    assert termination.request_stop() is False  # nobody checks: the caller raises at once
    termination.reset()
    with termination.safe_points():
        termination.check()  # nothing requested yet
        assert termination.request_stop() is True
        with pytest.raises(termination.Terminated):
            termination.check()
    termination.reset()
    termination.check()
    assert issubclass(termination.Terminated, KeyboardInterrupt)  # every Ctrl-C clean-up applies
