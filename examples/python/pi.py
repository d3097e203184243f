"""Monte Carlo pi, as in zc.async's quickstart, with the tasks in Python.

    asyncnode --python-path examples/python --python-module pi

registers pi.generate_sample and pi.process_samples (the C module pi.so
has the same tasks: load one of the two in a node, not both).
"""

import random

import asyncmesh


@asyncmesh.task
def generate_sample(size=100000):
    """[count, size]: how many of `size` random points of the unit square
    fall in the quarter circle."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10**10:
        raise ValueError("generate_sample (size): size must be an int from 1 to 10**10")
    job = asyncmesh.current_job()
    count = 0
    for i in range(size):
        if random.random() ** 2 + random.random() ** 2 <= 1.0:
            count += 1
        if i % 100000 == 99999:
            job.report_progress(i + 1, size)
    return [count, size]


def _pairs(samples):
    """The [count, size] pairs of a postprocess's arguments: each a pair, a
    child summary ({"id", "status", "result" or "failure"}) or a list of
    those (a parallel job's result, when this runs as its callback)."""
    for sample in samples:
        if isinstance(sample, dict):
            if "result" in sample:
                yield sample["result"]
        elif isinstance(sample, list) and sample and not isinstance(sample[0], int):
            yield from _pairs(sample)
        else:
            yield sample


@asyncmesh.task
def process_samples(*samples):
    """4 * sum(count) / sum(size): pi, roughly."""
    count = size = 0
    for pair in _pairs(samples):
        count += pair[0]
        size += pair[1]
    if not size:
        raise ValueError("process_samples: no sample succeeded")
    return 4.0 * count / size
