"""asyncmesh: submit durable jobs to an asyncmesh broker, from Python.

A thin, typed layer over libasync's C client API (the extension module
``asyncmesh._asyncmesh``): the wire protocol is the library's, not a second
implementation. Example::

    import asyncmesh

    c = asyncmesh.Client("tcp://127.0.0.1:9999")
    job = c.submit("pi.generate_sample", 100000, queue="default")
    print(job.wait(timeout=30))

    pi = c.parallel(*[asyncmesh.call("pi.generate_sample", 1000000)] * 3,
                    postprocess=asyncmesh.call("pi.process_samples"))
    print(pi.wait(timeout=60))

Job values (arguments, results, annotations) are JSON values, mapped as the
job JSON maps them: int, float, str, bool, None, list and dict (with str
keys); any other type raises TypeError, a NaN or infinite float or nesting
deeper than 100 ValueError, an int outside 64 bits OverflowError.

Every call that talks to the broker releases the GIL: a thread waiting for
a job does not hold up the others. A Client may be shared by threads; its
calls then run one at a time (give each thread its own Client to wait on
several jobs at once).

Errors are exceptions of class :class:`Error` carrying libasync's one-line
reason: :class:`JobFailed`, :class:`Timeout`, :class:`Unreachable`,
:class:`NoSuchJob`, :class:`Refused`, :class:`InvalidArgument`,
:class:`ProtocolError`.
"""

import datetime
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ._errors import (Error, InvalidArgument, JobFailed, NoSuchJob,
                      ProtocolError, Refused, Timeout, Unreachable)
from . import _asyncmesh, _errors
from ._task import CurrentJob, current_job, task

__all__ = [
    "Client", "Job", "Spec", "call", "parallel", "serial", "Value",
    "Error", "JobFailed", "Timeout", "Unreachable", "NoSuchJob", "Refused",
    "InvalidArgument", "ProtocolError", "DEFAULT_ENDPOINT",
    "task", "current_job", "CurrentJob",
]

#: What a job value may be (arguments, results, annotations)
Value = Union[None, bool, int, float, str, List[Any], Dict[str, Any]]

#: A time for ``begin_after``: a datetime (naive means local time), a delay
#: in seconds or as a timedelta, or the broker's own text ("+30s", "now",
#: ISO-8601 with Z or an offset)
When = Union[datetime.datetime, datetime.timedelta, int, float, str]

#: A duration for ``begin_by`` and ``timeout``: seconds, a timedelta, or
#: the broker's own text ("30s", "5m", "1.5h")
Duration = Union[datetime.timedelta, int, float, str]

DEFAULT_ENDPOINT = "tcp://127.0.0.1:9999"

#  The longest time a call takes in milliseconds (a C int)
_MAX_SECONDS = 2147483.0

#  The options of a job spec (docs/spec.md section 2), in spec order
_OPTIONS = ("queue", "priority", "begin_after", "begin_by", "timeout", "retry",
            "quotas", "key", "annotations")


def _seconds(value: Any, what: str) -> float:
    """A number of seconds, or TypeError naming ``what``."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be seconds (int or float) or a timedelta, not %s"
                        % (what, type(value).__name__))
    return float(value)


def _msecs(value: Any, what: str, minimum: float) -> int:
    """Seconds to whole milliseconds for libasync, range-checked."""
    seconds = _seconds(value, what)
    if not (minimum <= seconds <= _MAX_SECONDS):
        raise ValueError("%s must be %g to %g seconds, not %r"
                         % (what, minimum, _MAX_SECONDS, value))
    return max(int(math.ceil(seconds * 1000)), 1 if minimum > 0 else 0)


def _when(value: When) -> str:
    """``begin_after`` as the broker reads it."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seconds = _seconds(value, "begin_after")
    if not math.isfinite(seconds) or abs(seconds) > 1e12:
        raise ValueError("begin_after must be within 10**12 seconds of now, not %r"
                         % (value,))
    return "%s%.6fs" % ("-" if seconds < 0 else "+", abs(seconds))


def _duration(value: Duration, what: str) -> Union[float, str]:
    """``begin_by`` or ``timeout`` as the broker reads it."""
    if isinstance(value, str):
        return value
    seconds = _seconds(value, what)
    if not (0 <= seconds <= 1e12):
        raise ValueError("%s must be 0 to 10**12 seconds, not %r" % (what, value))
    return seconds


def _options(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Options given as keyword arguments, checked and made JSON."""
    out: Dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if name not in _OPTIONS:
            raise TypeError("'%s' is not a job option; the options are %s"
                            % (name, ", ".join(_OPTIONS)))
        if name == "begin_after":
            value = _when(value)
        elif name in ("begin_by", "timeout"):
            value = _duration(value, name)
        elif name in ("queue", "retry", "key"):
            if not isinstance(value, str):
                raise TypeError("%s must be a str, not %s" % (name, type(value).__name__))
        elif name == "priority":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("priority must be an int, not %s" % type(value).__name__)
        elif name == "quotas":
            if isinstance(value, str):
                value = [value]
            value = list(value)
            if not all(isinstance(q, str) for q in value):
                raise TypeError("quotas must be quota names (str)")
        elif name == "annotations":
            if not isinstance(value, dict):
                raise TypeError("annotations must be a dict, not %s" % type(value).__name__)
        out[name] = value
    return out


class Spec:
    """A job not yet submitted: a task with its arguments (:func:`call`), or
    a parallel or serial parent (:func:`parallel`, :func:`serial`), with
    options. Submit it with :meth:`Client.submit`, or make it a child or
    the postprocess of a parent."""

    __slots__ = ("_tree",)

    def __init__(self, tree: Dict[str, Any]) -> None:
        self._tree = tree

    def options(self, **options: Any) -> "Spec":
        """A copy of this spec with these options set (queue, priority,
        begin_after, begin_by, timeout, retry, quotas, key, annotations;
        docs/spec.md section 2)."""
        tree = dict(self._tree)
        merged = dict(tree.get("options") or {})
        merged.update(_options(options))
        tree["options"] = merged
        return Spec(tree)

    def __repr__(self) -> str:
        return "asyncmesh.Spec(%r)" % (self._tree,)


def _check(values: Iterable[Any]) -> None:
    for value in values:
        _asyncmesh.check_value(value)


def call(task: str, *args: Value, **kwargs: Value) -> Spec:
    """A job for ``task`` ("module.function") with positional ``args`` and
    keyword ``kwargs``. Raises TypeError (ValueError, OverflowError) at
    once for a value that is not a job value."""
    if not isinstance(task, str):
        raise TypeError("a task name must be a str, not %s" % type(task).__name__)
    _check(args)
    _check(kwargs.values())
    return Spec({"task": task, "args": list(args), "kwargs": dict(kwargs)})


def _parent(kind: str, specs: Iterable[Spec], postprocess: Optional[Spec],
            options: Mapping[str, Any]) -> Spec:
    children = []
    for spec in specs:
        if not isinstance(spec, Spec):
            raise TypeError("a child must be a Spec (asyncmesh.call (...)), not %s"
                            % type(spec).__name__)
        children.append(spec._tree)
    if postprocess is not None and not isinstance(postprocess, Spec):
        raise TypeError("postprocess must be a Spec (asyncmesh.call (...)), not %s"
                        % type(postprocess).__name__)
    tree: Dict[str, Any] = {kind: children,
                            "postprocess": postprocess._tree if postprocess else None}
    if options:
        tree["options"] = _options(options)
    return Spec(tree)


def parallel(*specs: Spec, postprocess: Optional[Spec] = None, **options: Any) -> Spec:
    """A parent whose children run at once; when all completed, the
    postprocess (if any) runs with one argument per child ({"id", "status",
    "result" or "failure"}) and its result is the parent's; without one,
    the parent's result is the list of the children's results."""
    return _parent("parallel", specs, postprocess, options)


def serial(*specs: Spec, postprocess: Optional[Spec] = None, **options: Any) -> Spec:
    """As :func:`parallel`, but each child starts when the one before it
    completed."""
    return _parent("serial", specs, postprocess, options)


class Job:
    """A submitted job, by id, with the client that asks about it."""

    __slots__ = ("id", "client")

    id: str
    client: "Client"

    def __init__(self, client: "Client", id: str) -> None:
        self.client = client
        self.id = id

    def wait(self, timeout: Optional[Union[float, datetime.timedelta]] = None) -> Any:
        """Wait until the job completed and return its result; raise
        :class:`JobFailed` (with the failure's type, message and detail)
        when it completed with a failure, :class:`Timeout` when ``timeout``
        seconds (None: for ever) passed first; ``timeout=0`` only looks.
        Releases the GIL."""
        msecs = -1 if timeout is None else _msecs(timeout, "timeout", 0)
        if msecs == 0:
            #  libasync's wait gives up before it asks when its time is
            #  out: ask for the job instead
            job = self.info()
            if job.get("status") != "completed":
                raise Timeout("timed out waiting for job %s" % self.id, _errors.ETIMEOUT)
        else:
            job = self.client._c.wait(self.id, msecs)
        failure = job.get("failure")
        if failure is not None:
            raise JobFailed(self.id, failure)
        return job.get("result")

    def info(self) -> Dict[str, Any]:
        """The job JSON (docs/spec.md section 6) as a dict."""
        return self.client._c.job(self.id)

    @property
    def status(self) -> str:
        """pending, assigned, active, callbacks or completed (asked now)."""
        return str(self.info()["status"])

    @property
    def annotations(self) -> Dict[str, Any]:
        """The job's annotations (asked now)."""
        return self.client._c.annotations(self.id)

    def annotate(self, name: str, value: Value) -> None:
        """Set annotation ``name`` to ``value``."""
        self.client._c.annotate(self.id, name, value)

    def add_callback(self, spec: Spec, on: str = "always") -> "Job":
        """Add a callback: ``spec`` (a task's, from :func:`call`) runs when
        this job completed, with its result (or its failure object) as
        its last positional argument; ``on`` is "always", "success" or
        "failure". On a completed job it runs at once. Returns the
        callback's job (docs/spec.md section 2, ``callbacks``)."""
        if not isinstance(spec, Spec):
            raise TypeError("a callback must be a Spec (asyncmesh.call (...)), not %s"
                            % type(spec).__name__)
        if on not in ("always", "success", "failure"):
            raise ValueError("on must be 'always', 'success' or 'failure', not %r" % (on,))
        return Job(self.client, self.client._c.add_callback(self.id, on, spec._tree))

    def cancel(self) -> None:
        """Cancel the job: a pending one completes with CancelledError; an
        active one is asked to stop, then interrupted; a parent cancels
        its children. :class:`Refused` if it completed already."""
        self.client._c.cancel(self.id)

    def __repr__(self) -> str:
        return "asyncmesh.Job(%r)" % (self.id,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def _spec(task: Union[str, Spec], args: Tuple[Value, ...], kwargs: Dict[str, Value],
          options: Mapping[str, Any]) -> Spec:
    """The spec of submit (task, *args, options..., **kwargs)."""
    checked = _options(options)
    if isinstance(task, Spec):
        if args or kwargs:
            raise TypeError("submit (spec) takes no further arguments; put them "
                            "in asyncmesh.call (...)")
        return task.options(**checked) if checked else task
    spec = call(task, *args, **kwargs)
    return spec.options(**checked) if checked else spec


def _path(value: Any, what: str) -> str:
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError("%s must be a str path" % what)
    return path


def _check_secret(path: str) -> None:
    """A secret key file others may read is refused, as by asyncctl."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return                  # libasync says it cannot read it
    if mode & 0o077:
        raise InvalidArgument("curve_key '%s' holds a secret key but others may read "
                              "it (mode %04o); run chmod 600 '%s'"
                              % (path, mode & 0o7777, path), _errors.EINVAL)


class Client:
    """A connection to the broker at ``endpoint`` (None: $ASYNC_BROKER,
    else tcp://127.0.0.1:9999).

    ``timeout``: how long a request waits for the broker before it raises
    :class:`Unreachable` (seconds, default 5). ``curve_key`` and
    ``broker_public_key``: CurveZMQ, our key pair (a ``_secret`` file of
    ``asyncctl keygen``, mode 0600: one others may read is refused) and
    the broker's public key; by default $ASYNC_CURVE_KEY and
    $ASYNC_BROKER_PUBLIC_KEY, as for asyncctl; both or neither. Connects
    at the first request."""

    def __init__(self, endpoint: Optional[str] = None, *,
                 timeout: Union[float, datetime.timedelta] = 5.0,
                 curve_key: Optional[Union[str, "os.PathLike[str]"]] = None,
                 broker_public_key: Optional[Union[str, "os.PathLike[str]"]] = None
                 ) -> None:
        if endpoint is not None and not isinstance(endpoint, str):
            raise TypeError("endpoint must be a str, not %s" % type(endpoint).__name__)
        msecs = _msecs(timeout, "timeout", 0.001)
        if curve_key is None:
            curve_key = os.environ.get("ASYNC_CURVE_KEY") or None
        if broker_public_key is None:
            broker_public_key = os.environ.get("ASYNC_BROKER_PUBLIC_KEY") or None
        key = None if curve_key is None else _path(curve_key, "curve_key")
        public = (None if broker_public_key is None
                  else _path(broker_public_key, "broker_public_key"))
        if (key is None) != (public is None):
            raise InvalidArgument(
                "give both curve_key and broker_public_key (or $ASYNC_CURVE_KEY "
                "and $ASYNC_BROKER_PUBLIC_KEY), or neither for no CURVE",
                _errors.EINVAL)
        if key is not None:
            _check_secret(key)
        self._c = _asyncmesh.Client(endpoint, msecs, key, public)

    @property
    def endpoint(self) -> str:
        """The broker's endpoint."""
        return str(self._c.endpoint)

    def submit(self, task: Union[str, Spec], *args: Value,
               queue: Optional[str] = None, priority: Optional[int] = None,
               begin_after: Optional[When] = None, begin_by: Optional[Duration] = None,
               timeout: Optional[Duration] = None, retry: Optional[str] = None,
               quotas: Optional[Iterable[str]] = None, key: Optional[str] = None,
               annotations: Optional[Dict[str, Value]] = None,
               **kwargs: Value) -> Job:
        """Submit a job for ``task`` with positional ``args`` and keyword
        ``kwargs`` (or a :class:`Spec`, with no further arguments) and
        return it at once. The options are those of docs/spec.md section
        2: ``begin_after`` a datetime (naive: local time), a delay in
        seconds or as a timedelta, or the broker's text ("+30s"); ``begin_by``
        and ``timeout`` (the run-time limit) seconds or a timedelta;
        ``retry`` "default", "forever", "never" or a policy such as
        "attempts=3,backoff=1s"; ``key`` an idempotency key (submitting
        again with it returns the same job). A task keyword argument named
        like an option goes through :func:`call`."""
        spec = _spec(task, args, kwargs, {
            "queue": queue, "priority": priority, "begin_after": begin_after,
            "begin_by": begin_by, "timeout": timeout, "retry": retry, "quotas": quotas,
            "key": key, "annotations": annotations})
        return Job(self, self._c.submit(spec._tree))

    def run(self, task: Union[str, Spec], *args: Value,
            wait_timeout: Optional[Union[float, datetime.timedelta]] = None,
            queue: Optional[str] = None, priority: Optional[int] = None,
            begin_after: Optional[When] = None, begin_by: Optional[Duration] = None,
            timeout: Optional[Duration] = None, retry: Optional[str] = None,
            quotas: Optional[Iterable[str]] = None, key: Optional[str] = None,
            annotations: Optional[Dict[str, Value]] = None,
            **kwargs: Value) -> Any:
        """Submit a job as :meth:`submit` does and wait for its result, in
        one request to the broker (a round trip fewer than
        ``submit(...).wait()``): the result, or :class:`JobFailed`;
        :class:`Timeout` when ``wait_timeout`` seconds (None: for ever)
        passed first (the job was accepted: its id is in the exception's
        message). ``timeout`` is the job's run-time limit, as for
        :meth:`submit`. Releases the GIL."""
        spec = _spec(task, args, kwargs, {
            "queue": queue, "priority": priority, "begin_after": begin_after,
            "begin_by": begin_by, "timeout": timeout, "retry": retry, "quotas": quotas,
            "key": key, "annotations": annotations})
        msecs = -1 if wait_timeout is None else _msecs(wait_timeout, "wait_timeout", 0.001)
        id, job = self._c.submit_wait(spec._tree, msecs)
        failure = job.get("failure")
        if failure is not None:
            raise JobFailed(id, failure)
        return job.get("result")

    def submit_many(self, specs: Iterable[Spec]) -> List[Job]:
        """Submit many specs (from :func:`call`, :func:`parallel` or
        :func:`serial`) at once, pipelined: they share round trips and the
        broker's group commits, so this is the fast way to submit a batch
        (at most 100,000 a call). Returns their jobs, in order. When the
        broker refused some, raises the first refusal's error, whose
        ``jobs`` attribute lists the jobs accepted (None for those
        refused)."""
        trees = []
        for spec in specs:
            if not isinstance(spec, Spec):
                raise TypeError("submit_many takes Specs (asyncmesh.call (...)), not %s"
                                % type(spec).__name__)
            trees.append(spec._tree)
        ids, codes, reason = self._c.submit_many(trees)
        jobs = [None if id is None else Job(self, id) for id in ids]
        for code in codes:
            if code:
                error = _errors.error_for(code, reason or _asyncmesh.strerror(code))
                error.jobs = jobs
                raise error
        return jobs  # type: ignore[return-value]

    def wait_all(self, jobs: Iterable[Job],
                 timeout: Optional[Union[float, datetime.timedelta]] = None) -> int:
        """Wait until every job completed, with the waits pipelined (one
        round trip for them all, not one each), and return how many
        completed with a failure; :class:`Timeout` when ``timeout`` seconds
        (None: for ever) passed first. At most 100,000 jobs a call.
        Releases the GIL (a Ctrl-C is handled when it returns)."""
        ids = []
        for job in jobs:
            if not isinstance(job, Job):
                raise TypeError("wait_all takes Jobs, not %s" % type(job).__name__)
            ids.append(job.id)
        msecs = -1 if timeout is None else _msecs(timeout, "timeout", 0.001)
        return int(self._c.wait_all(ids, msecs))

    def parallel(self, *specs: Spec, postprocess: Optional[Spec] = None,
                 **options: Any) -> Job:
        """Submit a parallel parent of ``specs`` (see :func:`parallel`);
        options as for :meth:`submit`, for the parent."""
        return self.submit(parallel(*specs, postprocess=postprocess, **options))

    def serial(self, *specs: Spec, postprocess: Optional[Spec] = None,
               **options: Any) -> Job:
        """Submit a serial parent of ``specs`` (see :func:`serial`)."""
        return self.submit(serial(*specs, postprocess=postprocess, **options))

    def job(self, id: str) -> Job:
        """The job of this id (not checked until asked about)."""
        if not isinstance(id, str):
            raise TypeError("a job id must be a str, not %s" % type(id).__name__)
        return Job(self, id)

    def status(self) -> Dict[str, Any]:
        """The broker's status (as ``asyncctl status`` prints it)."""
        return self._c.status()

    def close(self) -> None:
        """Disconnect; every later call raises :class:`InvalidArgument`."""
        self._c.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "asyncmesh.Client(%r)" % (self.endpoint,)

