"""A module without any @asyncmesh.task function."""


def plain():
    return 0
