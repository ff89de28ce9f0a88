"""Fault points for the fault tests: a real SIGKILL at a named place, only when a test asks for it.

``point("after_load_commit")`` does nothing unless the environment variable ``TSUNAGU_FAULT`` names
that point (a comma-separated list may name several); then the process kills itself with SIGKILL,
exactly as ``kill -9`` would, so a test can run the CLI in a subprocess and check what the next
run repairs. ``TSUNAGU_FAULT_STOP`` names points where the process stops itself (SIGSTOP) instead, so
that a test can cut a connection at exactly that place and then resume it (SIGCONT). Production never
sets either variable.
"""

from __future__ import annotations

import os
import signal

ENV = "TSUNAGU_FAULT"
STOP_ENV = "TSUNAGU_FAULT_STOP"


def point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
    stop = os.environ.get(STOP_ENV)
    if stop and name in stop.split(","):
        os.kill(os.getpid(), signal.SIGSTOP)  # the test resumes it with SIGCONT
