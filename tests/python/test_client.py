"""The asyncmesh Python package against a real broker and node (conftest.py
starts them): submit and wait, failures, timeouts, parallel jobs, cancel,
value types, an unreachable broker, and that waiting releases the GIL."""

import datetime
import math
import os
import signal
import threading
import time
import uuid

import pytest

import asyncmesh
from asyncmesh import _asyncmesh, _errors

from conftest import free_port, wait_for


def test_codes_match_the_library():
    #  _errors repeats libasync's codes so that it loads on its own
    for name in ("EFAILED", "ETIMEOUT", "EUNREACH", "ENOJOB", "EREFUSED",
                 "EPROTO", "EINVAL"):
        assert getattr(_errors, name) == getattr(_asyncmesh, name), name


def test_submit_wait_returns_the_result(client):
    job = client.submit("testing.mul", 6, 7)
    assert isinstance(job, asyncmesh.Job)
    assert job.wait(timeout=30) == 42
    assert job.status == "completed"
    info = job.info()
    assert info["id"] == job.id
    assert info["task"] == "testing.mul"
    assert info["args"] == [6, 7]


def test_run_submits_and_waits_in_one_request(client):
    #  The result, or JobFailed; the job's options and kwargs as for submit
    assert client.run("testing.mul", 6, 7) == 42
    assert client.run("testing.mul", 2, 3, c=7, queue="default", wait_timeout=30) == 42
    assert client.run(asyncmesh.call("testing.mul", 3, 5)) == 15
    with pytest.raises(asyncmesh.JobFailed) as info:
        client.run("testing.fail", "KeyError", "nope", retry="never")
    assert info.value.type == "KeyError"
    assert client.job(info.value.job_id).status == "completed"


def test_run_times_out_on_a_job_that_waits(client):
    started = time.monotonic()
    with pytest.raises(asyncmesh.Timeout) as info:
        client.run("testing.noop", queue="python-nobody", wait_timeout=1.5)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 15, elapsed
    #  The job was accepted: its id is in the message, and it is pending
    job_id = str(info.value).split("job ")[1].split()[0].strip(":;,.")
    job = client.job(job_id)
    assert job.status == "pending"
    job.cancel()
    with pytest.raises(ValueError):
        client.run("testing.noop", wait_timeout=-1)


def test_submit_many_pipelines_specs(client):
    specs = [asyncmesh.call("testing.mul", i, 2) for i in range(200)]
    jobs = client.submit_many(specs)
    assert len(jobs) == 200 and len({job.id for job in jobs}) == 200
    assert client.wait_all(jobs, timeout=30) == 0
    assert [job.wait(timeout=30) for job in jobs] == [2 * i for i in range(200)]
    failing = client.submit_many([asyncmesh.call("testing.fail", "E", "x").options(
        retry="never")] * 3)
    assert client.wait_all(failing + jobs[:2], timeout=30) == 3
    with pytest.raises(asyncmesh.Timeout):
        client.wait_all([client.submit("testing.noop", queue="python-nobody")], timeout=0.5)
    assert client.submit_many([]) == []
    with pytest.raises(TypeError):
        client.submit_many(["testing.noop"])


def test_submit_many_reports_refusals_with_the_accepted_jobs(client):
    #  The second spec names a quota that does not exist: refused
    specs = [asyncmesh.call("testing.noop"),
             asyncmesh.call("testing.noop").options(quotas=["no-such-quota"]),
             asyncmesh.call("testing.noop")]
    with pytest.raises(asyncmesh.Error) as info:
        client.submit_many(specs)
    jobs = info.value.jobs
    assert len(jobs) == 3
    assert jobs[1] is None
    assert isinstance(jobs[0], asyncmesh.Job)
    assert jobs[0].wait(timeout=30) is None


def test_keyword_arguments(client):
    assert client.submit("testing.mul", 2, 3, c=7).wait(timeout=30) == 42
    job = client.submit("testing.mul", a=2.5, b=2)
    assert job.wait(timeout=30) == 5.0
    assert job.info()["kwargs"] == {"a": 2.5, "b": 2}


def test_values_round_trip_exactly(client):
    value = {"int": 2 ** 63 - 1, "neg": -2 ** 63, "float": 0.1, "str": "héllo ✓",
             "true": True, "false": False, "none": None,
             "list": [1, [2.5, "x"], {}], "dict": {"a": {"b": [None]}}, "empty": ""}
    result = client.submit("testing.ret", value).wait(timeout=30)
    assert result == value
    #  types too: bool is not int, an int stays an int, a float a float
    assert result["true"] is True and result["none"] is None
    assert type(result["int"]) is int and type(result["float"]) is float
    assert type(client.submit("testing.ret", 1.0).wait(timeout=30)) is float


@pytest.mark.parametrize("bad", [object(), (1, 2), {1, 2}, b"bytes", {1: "a"},
                                 datetime.date(2026, 1, 1), [1, [object()]],
                                 {"a": {"b": 1j}}])
def test_bad_value_type_raises_type_error(client, bad):
    with pytest.raises(TypeError):
        client.submit("testing.ret", bad)
    with pytest.raises(TypeError):
        client.submit("testing.ret", v=bad)
    with pytest.raises(TypeError):
        asyncmesh.call("testing.ret", bad)


def test_bad_values_raise_value_and_overflow_errors(client):
    for bad in (float("nan"), float("inf"), [float("-inf")]):
        with pytest.raises(ValueError):
            client.submit("testing.ret", bad)
    for bad in (2 ** 63, -2 ** 63 - 1, [10 ** 30]):
        with pytest.raises(OverflowError):
            client.submit("testing.ret", bad)
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError):
        client.submit("testing.ret", deep)


def test_failing_task_raises_job_failed(client):
    job = client.submit("testing.fail", "ValueError", "bad input here", retry="never")
    with pytest.raises(asyncmesh.JobFailed) as info:
        job.wait(timeout=30)
    failure = info.value
    assert isinstance(failure, asyncmesh.Error)
    assert failure.type == "ValueError"
    assert failure.message == "bad input here"
    assert failure.transient is False
    assert failure.job_id == job.id
    assert failure.failure["type"] == "ValueError"
    assert failure.code == 1
    assert "ValueError: bad input here" in str(failure)
    assert job.status == "completed"


def test_bad_arguments_fail_the_job(client):
    #  The task refuses its arguments: BadArgumentsError, with a message
    job = client.submit("testing.mul", "six", 7, retry="never")
    with pytest.raises(asyncmesh.JobFailed) as info:
        job.wait(timeout=30)
    assert info.value.type == "BadArgumentsError"
    assert "must be a number" in info.value.message
    assert info.value.detail is None or isinstance(info.value.detail, str)


def test_wait_timeout_raises_timeout(client):
    #  A queue no agent serves: the job stays pending
    job = client.submit("testing.noop", queue="python-nobody")
    started = time.monotonic()
    with pytest.raises(asyncmesh.Timeout) as info:
        job.wait(timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 10, elapsed
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == 3
    assert job.id in str(info.value)
    assert job.status == "pending"
    with pytest.raises(asyncmesh.Timeout):
        job.wait(timeout=0)
    job.cancel()


def test_wait_zero_on_a_completed_job(client):
    job = client.submit("testing.ret", "done")
    assert job.wait(timeout=30) == "done"
    assert job.wait(timeout=0) == "done"
    failed = client.submit("testing.fail", "KeyError", "k", retry="never")
    with pytest.raises(asyncmesh.JobFailed):
        failed.wait(timeout=30)
    with pytest.raises(asyncmesh.JobFailed):
        failed.wait(timeout=0)


def test_ctrl_c_interrupts_a_wait(client):
    #  SIGINT while the main thread waits in C: KeyboardInterrupt within
    #  about a second, not when the wait ends
    job = client.submit("testing.noop", queue="python-nobody")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            job.wait(timeout=30)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    #  the client still works
    assert job.status == "pending"
    job.cancel()
    with pytest.raises(asyncmesh.JobFailed):
        job.wait(timeout=30)


def test_parallel_with_postprocess_is_pi(client):
    pi = client.parallel(*[asyncmesh.call("pi.generate_sample", 200000)] * 3,
                         postprocess=asyncmesh.call("pi.process_samples"))
    result = pi.wait(timeout=60)
    assert abs(result - math.pi) < 0.02, result
    info = pi.info()
    assert info["kind"] == "parallel"
    assert len(info["children"]) == 3


def test_parallel_without_postprocess_and_serial(client):
    job = client.parallel(asyncmesh.call("testing.ret", 1),
                          asyncmesh.call("testing.ret", "two"),
                          asyncmesh.call("testing.mul", 2, 3))
    assert job.wait(timeout=30) == [1, "two", 6]
    #  serial, nested: a parallel child inside
    job = client.serial(asyncmesh.call("testing.ret", "a"),
                        asyncmesh.parallel(asyncmesh.call("testing.ret", "b"),
                                           asyncmesh.call("testing.ret", "c")))
    assert job.wait(timeout=30) == ["a", ["b", "c"]]
    assert job.info()["kind"] == "serial"


def test_cancel_pending_job(client):
    job = client.submit("testing.noop", queue="python-nobody")
    assert job.status == "pending"
    job.cancel()
    with pytest.raises(asyncmesh.JobFailed) as info:
        job.wait(timeout=30)
    assert info.value.type == "CancelledError"
    #  cancelling a completed job is refused, with the broker's reason
    with pytest.raises(asyncmesh.Refused) as refused:
        job.cancel()
    assert str(refused.value)


def test_cancel_active_job(client, mesh):
    path = mesh.tmp / ("never-%s" % uuid.uuid4())
    job = client.submit("testing.block", str(path))
    wait_for("the job to be active", 15, lambda: job.status == "active")
    job.cancel()
    with pytest.raises(asyncmesh.JobFailed) as info:
        job.wait(timeout=30)
    assert info.value.type == "CancelledError"


def test_options(client):
    job = client.submit("testing.noop", queue="python-nobody", priority=5,
                        begin_after=datetime.timedelta(hours=1), begin_by=600,
                        timeout=datetime.timedelta(seconds=90), retry="attempts=3,backoff=1s",
                        annotations={"owner": "py", "n": 1})
    info = job.info()
    assert info["queue"] == "python-nobody"
    assert info["priority"] == 5
    assert info["begin_by"] == 600
    assert info["timeout"] == 90
    assert info["retry"] == "attempts=3,backoff=1s"
    submitted = datetime.datetime.fromisoformat(info["submitted"].rstrip("Z"))
    begin = datetime.datetime.fromisoformat(info["begin_after"].rstrip("Z"))
    assert 3590 <= (begin - submitted).total_seconds() <= 3610
    assert job.annotations == {"owner": "py", "n": 1}
    job.annotate("n", [2, {"x": None}])
    assert job.annotations == {"owner": "py", "n": [2, {"x": None}]}
    job.cancel()
    #  begin_after as a datetime, aware and naive (local time), and as seconds
    when = datetime.datetime(2030, 5, 6, 7, 8, 9, 250000, tzinfo=datetime.timezone.utc)
    job = client.submit("testing.noop", queue="python-nobody", begin_after=when)
    assert job.info()["begin_after"] == "2030-05-06T07:08:09.250000Z"
    job.cancel()
    job = client.submit("testing.noop", queue="python-nobody",
                        begin_after=when.astimezone().replace(tzinfo=None))
    assert job.info()["begin_after"] == "2030-05-06T07:08:09.250000Z"
    job.cancel()
    job = client.submit("testing.noop", queue="python-nobody", begin_after=120)
    info = job.info()
    submitted = datetime.datetime.fromisoformat(info["submitted"].rstrip("Z"))
    begin = datetime.datetime.fromisoformat(info["begin_after"].rstrip("Z"))
    assert 115 <= (begin - submitted).total_seconds() <= 125
    job.cancel()


def test_bad_options(client):
    with pytest.raises(TypeError):
        client.submit("testing.noop", priority="high")
    with pytest.raises(TypeError):
        client.submit("testing.noop", begin_by=True)
    with pytest.raises(ValueError):
        client.submit("testing.noop", begin_by=-1)
    with pytest.raises(TypeError):
        asyncmesh.call("testing.noop").options(colour="red")
    #  the broker's own refusals carry its reason
    with pytest.raises(asyncmesh.Refused) as info:
        client.submit("testing.noop", retry="sometimes")
    assert "retry" in str(info.value) or "sometimes" in str(info.value)
    with pytest.raises(asyncmesh.Refused) as info:
        client.submit("testing.noop", quotas=["python-no-such-quota"])
    assert "python-no-such-quota" in str(info.value)


def test_callbacks(client):
    #  the result is the callback's last argument
    job = client.submit("testing.mul", 6, 7)
    callback = job.add_callback(asyncmesh.call("testing.mul", 2))
    assert callback.wait(timeout=30) == 84
    assert callback.id in job.info()["callbacks"]
    #  on failure: gets the failure object; on success: does not run
    failed = client.submit("testing.fail", "KeyError", "k", retry="never")
    handler = failed.add_callback(asyncmesh.call("testing.handle"), on="failure")
    skipped = failed.add_callback(asyncmesh.call("testing.ret"), on="success")
    assert handler.wait(timeout=30) == "handled KeyError"
    with pytest.raises(asyncmesh.JobFailed):
        skipped.wait(timeout=30)
    with pytest.raises(ValueError):
        job.add_callback(asyncmesh.call("testing.ret"), on="sometimes")
    with pytest.raises(TypeError):
        job.add_callback("testing.ret")
    #  a key is for the job submitted only: the broker refuses it here
    with pytest.raises(asyncmesh.Refused) as info:
        job.add_callback(asyncmesh.call("testing.ret").options(key="k"))
    assert "key" in str(info.value)


def test_key_is_idempotent(client):
    key = "python-%s" % uuid.uuid4()
    first = client.submit("testing.ret", 1, key=key)
    second = client.submit("testing.ret", 1, key=key)
    assert first == second
    assert first.wait(timeout=30) == 1


def test_submit_a_spec_with_options(client):
    spec = asyncmesh.call("testing.ret", {"queue": "kwarg, not option"})
    job = client.submit(spec.options(annotations={"via": "spec"}))
    assert job.wait(timeout=30) == {"queue": "kwarg, not option"}
    assert job.annotations == {"via": "spec"}
    with pytest.raises(TypeError):
        client.submit(spec, 1)


def test_no_such_job(client):
    with pytest.raises(asyncmesh.NoSuchJob) as info:
        client.job(str(uuid.uuid4())).info()
    assert isinstance(info.value, LookupError)
    assert info.value.code == 5


def test_unreachable_broker_fails_within_timeout():
    c = asyncmesh.Client("tcp://127.0.0.1:%d" % free_port(), timeout=1)
    started = time.monotonic()
    with pytest.raises(asyncmesh.Unreachable) as info:
        c.submit("testing.noop")
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5, elapsed
    assert isinstance(info.value, ConnectionError)
    assert info.value.code == 4
    assert "cannot reach the broker at tcp://127.0.0.1:" in str(info.value)
    #  a wait too: after the client's timeout, not the wait's
    started = time.monotonic()
    with pytest.raises(asyncmesh.Unreachable):
        c.job(str(uuid.uuid4())).wait(timeout=60)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5, elapsed
    c.close()


def test_bad_endpoint_and_arguments():
    with pytest.raises(asyncmesh.InvalidArgument) as info:
        asyncmesh.Client("not an endpoint")
    assert "not an endpoint" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        asyncmesh.Client(timeout=0)
    with pytest.raises(ValueError):
        asyncmesh.Client(timeout=float("nan"))
    with pytest.raises(TypeError):
        asyncmesh.Client(timeout="5s")
    with pytest.raises(asyncmesh.InvalidArgument):
        asyncmesh.Client(curve_key="/nonexistent_secret")
    with pytest.raises(asyncmesh.InvalidArgument) as info:
        asyncmesh.Client(curve_key="/nonexistent_secret",
                         broker_public_key="/nonexistent")
    assert "/nonexistent" in str(info.value)


def test_closed_client_raises(mesh):
    c = mesh.client()
    c.close()
    with pytest.raises(asyncmesh.InvalidArgument) as info:
        c.submit("testing.noop")
    assert "closed" in str(info.value)


def test_wait_releases_the_gil(client, mesh):
    path = mesh.tmp / ("release-%s" % uuid.uuid4())
    job = client.submit("testing.block", str(path))
    outcome = {}

    def waiter():
        try:
            outcome["result"] = job.wait(timeout=60)
        except BaseException as exc:     # reported below
            outcome["error"] = exc
    thread = threading.Thread(target=waiter)
    thread.start()
    #  While the thread waits in C, this one runs Python and uses a client
    #  of its own: neither would progress if the wait held the GIL
    other = mesh.client()
    spins = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        spins += 1
    assert other.submit("testing.mul", 3, 4).wait(timeout=30) == 12
    assert thread.is_alive(), outcome
    assert spins > 10000
    path.touch()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert outcome == {"result": 42}
    other.close()


def test_one_client_shared_by_threads(client):
    results = []
    errors = []

    def work(n):
        try:
            results.append(client.submit("testing.mul", n, 2).wait(timeout=30))
        except BaseException as exc:     # reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(results) == [n * 2 for n in range(8)]


def test_curve_keys_as_arguments_and_environment(curve_mesh, monkeypatch):
    keys = curve_mesh.keys
    monkeypatch.delenv("ASYNC_CURVE_KEY", raising=False)
    monkeypatch.delenv("ASYNC_BROKER_PUBLIC_KEY", raising=False)
    #  keys as keyword arguments (paths as str or os.PathLike)
    with asyncmesh.Client(curve_mesh.endpoint, curve_key=keys / "client1_secret",
                          broker_public_key=keys / "broker") as c:
        job = c.submit("testing.noop", queue="python-nobody")
        assert job.status == "pending"
    #  no key: refused, saying the broker requires CURVE (told apart from a
    #  timeout by the reason; the bound on the time is for a loaded machine)
    c = asyncmesh.Client(curve_mesh.endpoint)
    started = time.monotonic()
    with pytest.raises(asyncmesh.Unreachable) as info:
        c.status()
    assert time.monotonic() - started < 30
    assert "requires CURVE" in str(info.value)
    c.close()
    #  a key the broker does not let in: refused, saying so
    c = asyncmesh.Client(curve_mesh.endpoint, curve_key=str(keys / "stranger_secret"),
                         broker_public_key=str(keys / "broker"))
    started = time.monotonic()
    with pytest.raises(asyncmesh.Unreachable) as info:
        c.status()
    assert time.monotonic() - started < 30
    assert "refused our CURVE key" in str(info.value)
    c.close()
    #  the same keys from the environment, as asyncctl reads them
    monkeypatch.setenv("ASYNC_CURVE_KEY", str(keys / "client1_secret"))
    monkeypatch.setenv("ASYNC_BROKER_PUBLIC_KEY", str(keys / "broker"))
    with asyncmesh.Client(curve_mesh.endpoint) as c:
        assert job.id == c.job(job.id).info()["id"]
        c.job(job.id).cancel()
    #  a secret key file others may read is refused, as by asyncctl
    (keys / "client1_secret").chmod(0o644)
    with pytest.raises(asyncmesh.InvalidArgument) as info:
        asyncmesh.Client(curve_mesh.endpoint)
    assert "others may read" in str(info.value)
    (keys / "client1_secret").chmod(0o600)
    #  one without the other
    monkeypatch.delenv("ASYNC_BROKER_PUBLIC_KEY")
    with pytest.raises(asyncmesh.InvalidArgument):
        asyncmesh.Client(curve_mesh.endpoint)
