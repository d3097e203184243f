"""Python tasks for tests/python/test_tasks.py (asyncnode --python-module
ptasks). At import it appends a line to imports.log in the working
directory (the node's): the tests count the imports."""

import ctypes
import os
import threading

import asyncmesh

IMPORTS = 0
IMPORTS += 1
with open("imports.log", "a") as _log:
    _log.write("%d\n" % os.getpid())

CALLS = 0


@asyncmesh.task
def echo(*args, **kwargs):
    """[args, kwargs] as they came."""
    return [list(args), kwargs]


@asyncmesh.task
def types(*args):
    """The Python type name of each argument."""
    return [type(a).__name__ for a in args]


@asyncmesh.task
def fail(message):
    raise ValueError(message)


class BusyError(Exception):
    transient = True


@asyncmesh.task
def busy():
    raise BusyError("try again later")


@asyncmesh.task
def crash():
    ctypes.string_at(0)
    return "not reached"


@asyncmesh.task
def counters():
    """IMPORTS (1: the module was imported once, before the fork), the calls
    of this process (1: a job has a process of its own), the pid."""
    global CALLS
    CALLS += 1
    return [IMPORTS, CALLS, os.getpid()]


@asyncmesh.task
def unsendable():
    return {1, 2}


@asyncmesh.task
def progress_and_annotations(total):
    job = asyncmesh.current_job()
    for done in range(1, total + 1):
        job.report_progress(done, total)
    job.annotate("stage", {"done": total, "who": job.task})
    job.annotations["second"] = [1.5, None, True]
    return [job.id, job.attempt, job.annotation("stage"), job.annotations.get("nope", 7)]


@asyncmesh.task
def hand_off(n):
    """Completes with the result of ptasks.echo (n), submitted from here."""
    job = asyncmesh.current_job()
    job.handoff(asyncmesh.call("ptasks.echo", n))
    return "ignored"


@asyncmesh.task
def submit_child(n):
    job = asyncmesh.current_job()
    return job.submit("ptasks.echo", n, queue="default")


@asyncmesh.task
def wait_cancel():
    job = asyncmesh.current_job()
    for _ in range(300):
        if job.sleep(0.1):
            raise CancelledError("cancelled, as asked")
    return "not cancelled"


class CancelledError(Exception):
    pass


def not_a_task():
    return 1


@asyncmesh.task
def threads(n):
    """n threads, each annotating and reporting progress at once."""
    job = asyncmesh.current_job()

    def work(i):
        for k in range(5):
            job.annotate("t%d" % i, k)
            job.report_progress(k, 5)
            job.cancelled()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [job.annotation("t%d" % i) for i in range(n)]
