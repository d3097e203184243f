"""pytasks - the no-op task written in Python, for bench/run's Python phase

    asyncnode --python-path bench --python-module pytasks --agent main:16

runs it as task pytasks.noop, the twin of the C task testing.noop.
"""

import asyncmesh


@asyncmesh.task
def noop(*args, **kwargs):
    """Does nothing; ignores any arguments; the result is null."""
    return None
