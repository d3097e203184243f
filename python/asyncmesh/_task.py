"""The task side: functions that asyncnode runs as tasks.

``asyncnode --python-module NAME`` imports module NAME and registers each
function of it decorated with :func:`task` as task ``NAME.function``. Each
job runs in a child process of the node, forked after the imports (so a
module is imported once per node, not per job; each job has its own
interpreter and GIL; a crash fails only its job). Inside the function,
:func:`current_job` gives the job: its id, progress, annotations,
cancellation, submitting jobs and handing off, as the C task API does.
"""

from typing import Any, Callable, Dict, List, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def task(fn: F) -> F:
    """Mark ``fn`` as a task: ``asyncnode --python-module M`` runs it as
    task ``M.<its name>``. The function is returned as it is, so it can
    still be called directly. Its arguments are the job's (JSON values,
    as the client maps them), its return value the job's result; an
    exception it raises is the job's failure (type: the exception's class
    name, message: ``str (exc)``, detail: the formatted traceback)."""
    if not callable(fn):
        raise TypeError("@asyncmesh.task decorates a function, not %s"
                        % type(fn).__name__)
    try:
        fn.__asyncmesh_task__ = True  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError("@asyncmesh.task cannot mark %r" % (fn,)) from None
    return fn


class CurrentJob:
    """The job a task function runs for (:func:`current_job`)."""

    __slots__ = ("_impl", "_info")

    def __init__(self, impl: Any) -> None:
        self._impl = impl
        self._info: Dict[str, Any] = impl.info()

    @property
    def id(self) -> str:
        """The job's id."""
        return self._info["id"]

    @property
    def task(self) -> str:
        """The task's name ("module.function")."""
        return self._info["task"]

    @property
    def attempt(self) -> int:
        """The attempt number, 1 for the first start."""
        return self._info["attempt"]

    @property
    def node(self) -> str:
        """The instance UUID of the node that runs it."""
        return self._info["node"]

    @property
    def cwd(self) -> str:
        """The node's working directory."""
        return self._info["cwd"]

    @property
    def args(self) -> List[Any]:
        """The job's positional arguments."""
        return list(self._info["args"])

    @property
    def kwargs(self) -> Dict[str, Any]:
        """The job's keyword arguments."""
        return dict(self._info["kwargs"])

    def report_progress(self, done: int, total: int) -> None:
        """Report progress: ``done`` of ``total`` units (ints, 0 or
        more); the job JSON shows it as ``progress``."""
        for value in (done, total):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("report_progress (done, total) takes ints")
        if not (0 <= done < 2**63 and 0 <= total < 2**63):
            raise ValueError("report_progress (done, total): both must be 0 to 2**63-1")
        self._impl.progress(done, total)

    def annotate(self, name: str, value: Any) -> None:
        """Set annotation ``name`` of the job to ``value`` (a job value).
        Raises :class:`asyncmesh.Timeout` when the broker did not take it
        within 5 s."""
        if not isinstance(name, str):
            raise TypeError("an annotation name must be a str")
        self._impl.annotate(name, value)

    def annotation(self, name: str, timeout: float = 5.0) -> Any:
        """The job's annotation ``name`` as the broker has it, or None
        (not set, or no answer within ``timeout`` seconds, 0 to 3600)."""
        if not isinstance(name, str):
            raise TypeError("an annotation name must be a str")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not 0 <= timeout <= 3600:
            raise ValueError("annotation (): timeout must be 0 to 3600 seconds")
        return self._impl.annotation(name, int(timeout * 1000))

    @property
    def annotations(self) -> "_Annotations":
        """``job.annotations[name]`` reads one, ``job.annotations[name] =
        value`` sets one (as :meth:`annotation` and :meth:`annotate`)."""
        return _Annotations(self)

    def cancelled(self) -> bool:
        """True once the job's cancellation was requested: a cooperative
        task then stops (raising, for example, an exception of its own
        named CancelledError)."""
        return bool(self._impl.cancelled())

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (0 to 86400), waking early on
        cancellation; True if the job was cancelled."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 <= seconds <= 86400:
            raise ValueError("sleep (): seconds must be 0 to 86400")
        return bool(self._impl.sleep(int(seconds * 1000)))

    def submit(self, task: Any, *args: Any, **options: Any) -> str:
        """Submit a job from inside this one, as :meth:`asyncmesh.Client.submit`
        takes it (a task name with its arguments and options, or a
        :class:`asyncmesh.Spec`); returns the new job's id."""
        from . import Spec, _asyncmesh, _OPTIONS, call
        opts = {k: options.pop(k) for k in list(options) if k in _OPTIONS}
        opts = {k: v for k, v in opts.items() if v is not None}
        if isinstance(task, Spec):
            if args or options:
                raise TypeError("submit (spec) takes no further arguments")
            spec = task.options(**opts) if opts else task
        else:
            spec = call(task, *args, **options)
            if opts:
                spec = spec.options(**opts)
        return self._impl.submit(_asyncmesh.spec_json(spec._tree))

    def handoff(self, job: Any) -> None:
        """Complete this job with the result of another: ``job`` is a job
        id, an :class:`asyncmesh.Job`, or a :class:`asyncmesh.Spec` (then
        submitted first). The job stays active, without holding a slot,
        until that one completed; what the function returns afterwards is
        ignored."""
        from . import Job, Spec
        if isinstance(job, Spec):
            job = self.submit(job)
        elif isinstance(job, Job):
            job = job.id
        if not isinstance(job, str):
            raise TypeError("handoff () takes a job id, a Job or a Spec")
        self._impl.handoff(job)

    def __repr__(self) -> str:
        return "asyncmesh.CurrentJob(%s, %s)" % (self.task, self.id)


class _Annotations:
    __slots__ = ("_job",)

    def __init__(self, job: CurrentJob) -> None:
        self._job = job

    def __getitem__(self, name: str) -> Any:
        return self._job.annotation(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._job.annotate(name, value)

    def get(self, name: str, default: Any = None) -> Any:
        value = self._job.annotation(name)
        return default if value is None else value


def current_job() -> CurrentJob:
    """The job the calling task function runs for. Raises RuntimeError
    outside a task run by asyncnode."""
    try:
        import _asyncmesh_task  # type: ignore[import-not-found]
    except ImportError:
        raise RuntimeError("asyncmesh.current_job () works only inside a task run "
                           "by asyncnode (--python-module)") from None
    return CurrentJob(_asyncmesh_task)


__all__ = ["task", "current_job", "CurrentJob"]
