"""Servers as child processes of the command that needs them (the embedded PostgreSQL, Redis
and validator): a free port, readiness polled against a deadline, and death with the parent.

On Linux a child gets PR_SET_PDEATHSIG, so the kernel stops it if its parent dies by any
means, SIGKILL included (when started from the main thread: the signal fires when the *thread*
that spawned it exits). Each child has its own session, so the terminal's Ctrl-C reaches the
parent only, which stops its children last.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3  # a free port can be taken between our probe and the server's bind


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def child_kwargs(
    env: dict[str, str], run_as: pwd.struct_passwd | None, death_signal: int
) -> dict[str, Any]:
    """Popen kwargs for a server: its environment, own session, optional user switch, dies
    with us (`death_signal`)."""
    kwargs: dict[str, Any] = {"start_new_session": True, "env": env}
    if run_as is not None:
        # extra_groups=[] drops root's supplementary groups too.
        kwargs |= {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}
    if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        parent = os.getpid()

        def die_with_parent() -> None:
            # preexec_fn runs after setuid, which would otherwise clear the setting.
            prctl(1, death_signal)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # parent died before prctl: no signal will come
                os._exit(1)

        kwargs["preexec_fn"] = die_with_parent
    return kwargs


def stop_all(procs: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    """Signal all first so the servers shut down in parallel, then wait, then SIGKILL."""
    for proc, sig in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    for proc, _ in procs:
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_until_ready(
    name: str,
    spawn: Callable[[int], subprocess.Popen[bytes]],
    ready: Callable[[subprocess.Popen[bytes], int], bool],
    log_path: Path,
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server on ``port`` (default: a free one) and poll ``ready`` until it accepts
    connections."""
    # The probed port can be taken before the server binds it: try another. A given port
    # (a restart that keeps its URL) gets one try.
    for _ in range(PORT_ATTEMPTS if port is None else 1):
        this_port = port or free_port()
        proc = spawn(this_port)
        deadline = time.monotonic() + START_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            if ready(proc, this_port):
                return proc, this_port
            time.sleep(0.02)
        stop_all([(proc, signal.SIGKILL)])
    raise RuntimeError(f"{name} did not start; {log_path}:\n{tail(log_path)}")
