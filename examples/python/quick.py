"""The first two tasks of zc.async's quickstart, written in Python.

    asyncnode --python-path examples/python --python-module quick

quick.now () is zc.async's `queue.put (time.time)`; quick.call (argv) its
`Job (subprocess.call, [...])`, run in the node's working directory.
"""

import subprocess
import time

import asyncmesh


@asyncmesh.task
def now():
    """Seconds since the epoch, on the node."""
    return time.time()


@asyncmesh.task
def call(argv):
    """Run a program (a list of strings, no shell) and return its exit status."""
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("call (argv): argv must be a non-empty list of strings")
    return subprocess.call(argv, stdin=subprocess.DEVNULL)
