"""asyncmesh's exceptions, one per error code of libasync (asyncmesh/error.h).

Every exception is an :class:`Error`; its ``code`` is libasync's error code
(the exit code ``asyncctl`` would give) and its ``reason`` the library's
one-line reason, which is also ``str(exc)``.
"""

from typing import Any, Dict, Optional

#  libasync's codes (asyncmesh/error.h), repeated so that this module needs
#  no extension to load; tests compare them with the extension's
EFAILED = 1
ETIMEOUT = 3
EUNREACH = 4
ENOJOB = 5
EREFUSED = 6
EPROTO = 21
EINVAL = 23


class Error(Exception):
    """Base of every asyncmesh error: ``code`` and ``reason``."""

    code: int
    reason: str

    def __init__(self, reason: str, code: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Timeout(Error, TimeoutError):
    """A wait ran out before the job completed (code 3). The job goes on."""


class Unreachable(Error, ConnectionError):
    """The broker did not answer within the client's timeout, or refused
    our CURVE key, or requires CURVE (code 4)."""


class NoSuchJob(Error, LookupError):
    """No job has this id (code 5)."""


class Refused(Error):
    """The broker refused the request (code 6): an invalid spec, an unknown
    quota, a completed job to cancel, a disk under its reserve..."""


class ProtocolError(Error):
    """A malformed or unexpected message (code 21)."""


class InvalidArgument(Error, ValueError):
    """A local argument libasync refused (code 23): not an endpoint, an
    unreadable key file, a closed client."""


class JobFailed(Error):
    """The job completed with a failure (code 1).

    ``type``, ``message``, ``detail`` and ``transient`` are the failure
    object's fields (``failure`` is all of it); ``job_id`` the job's id.
    """

    type: str
    message: str
    detail: Optional[str]
    transient: bool
    failure: Dict[str, Any]
    job_id: str

    def __init__(self, job_id: str, failure: Dict[str, Any]) -> None:
        self.job_id = job_id
        self.failure = failure
        self.type = str(failure.get("type", "Error"))
        self.message = str(failure.get("message", ""))
        detail = failure.get("detail")
        self.detail = None if detail is None else str(detail)
        self.transient = bool(failure.get("transient", False))
        super().__init__("job %s failed: %s: %s" % (job_id, self.type, self.message),
                         EFAILED)


_BY_CODE = {
    ETIMEOUT: Timeout,
    EUNREACH: Unreachable,
    ENOJOB: NoSuchJob,
    EREFUSED: Refused,
    EPROTO: ProtocolError,
    EINVAL: InvalidArgument,
}


def error_for(code: int, reason: str) -> Error:
    """The exception for libasync's error ``code`` with its ``reason``."""
    return _BY_CODE.get(code, Error)(reason, code)
