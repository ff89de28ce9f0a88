"""Fault points for the fault tests: a real SIGKILL at a named place, only when a test asks for it.

``point("after_load_commit")`` does nothing unless the environment variable ``TSUNAGU_FAULT`` names
that point (a comma-separated list may name several); then the process kills itself with SIGKILL,
exactly as ``kill -9`` would, so a test can run the CLI in a subprocess and check what the next
run repairs. Production never sets the variable.
"""

from __future__ import annotations

import os
import signal

ENV = "TSUNAGU_FAULT"


def point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
