"""Failpoints for the fault tests (tests/test_faults.py): nothing happens unless a process is
started with FAULT_SIGKILL_AT set, which no deployment does.

A worker started with FAULT_SIGKILL_AT=<point> sends itself SIGKILL the first time one of its
orders passes that point — a crash at an exact step that a signal from outside could only hit
by luck. Points: `routing` (the attempt has written nothing yet), `building`, `submitted`
(just after the step committed, before it is published), `landed` (the chain decided the
transaction; `confirmed` not yet written).

FAULT_RAISE_AT=<point> instead makes every pass through that point raise (an unexpected
error, as an outage would), to test what the retry policy does with it.
"""

from __future__ import annotations

import os
import signal

_AT = os.environ.get("FAULT_SIGKILL_AT", "")
_RAISE_AT = os.environ.get("FAULT_RAISE_AT", "")


class InjectedFault(RuntimeError):
    pass


def crash_point(point: str) -> None:
    if point == _AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if point == _RAISE_AT:
        raise InjectedFault(f"fault injected at {point}")
