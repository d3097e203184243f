"""A module that does not import (test_tasks.py: the node must exit 2)."""

import asyncmesh

raise ImportError("broken on purpose")


@asyncmesh.task
def never():
    return 0
