"""Tasks written in Python (asyncnode --python-module), against a real
broker and a node of the build tree that imports tests/python/tasks/ptasks.py
and examples/python/pi.py, with the Python client.

ctest runs this file as python.tasks (run.sh tasks); it is skipped when
asyncnode was built without Python (ASYNC_PYTHON_TASKS=OFF)."""

import os
import subprocess

import pytest

import asyncmesh
from conftest import BIN, MODULES, TOP, Mesh, wait_for

TASKS = TOP / "tests" / "python" / "tasks"
EXAMPLES = TOP / "examples" / "python"

if os.environ.get("ASYNC_PYTHON_TASKS", "ON") != "ON":
    pytest.skip("asyncnode was built without Python tasks", allow_module_level=True)


@pytest.fixture(scope="module")
def pymesh(tmp_path_factory):
    mesh = Mesh(tmp_path_factory.mktemp("pymesh"))
    try:
        mesh.start_broker()
        mesh.start_node("--python-path", str(TASKS), "--python-path", str(EXAMPLES),
                        "--python-module", "ptasks", "--python-module", "pi",
                        "--agent", "main:2")
        yield mesh
    finally:
        mesh.stop()
        for name in ("broker", "node"):
            print("----- %s.log (last 3000 bytes)\n%s" % (name, mesh.log(name)))


@pytest.fixture
def pyclient(pymesh):
    c = pymesh.client()
    yield c
    c.close()


def test_only_the_decorated_functions_are_tasks(pyclient):
    assert pyclient.submit("ptasks.echo", "x").wait(timeout=30) == [["x"], {}]
    #   not decorated, or not the module's own: no node runs them, so the
    #   jobs are never started and time out
    for name in ("ptasks.not_a_task", "ptasks.CancelledError"):
        with pytest.raises(asyncmesh.JobFailed) as info:
            pyclient.submit(name, begin_by=1).wait(timeout=30)
        assert info.value.type == "TimeoutError", info.value.failure


def test_pi_from_python_tasks(pyclient):
    pi = pyclient.parallel(*[asyncmesh.call("pi.generate_sample", 20000)] * 3,
                           postprocess=asyncmesh.call("pi.process_samples"))
    value = pi.wait(timeout=60)
    assert isinstance(value, float)
    assert 2.9 < value < 3.4
    sample = pyclient.submit("pi.generate_sample").wait(timeout=60)
    assert sample[1] == 100000 and 0 < sample[0] <= 100000


def test_values_map_as_the_client_maps_them(pyclient):
    args = [None, True, False, 7, -2**63, 2**63 - 1, 1.0, 0.5, "é\u2603", [1, [2]],
            {"a": {"b": None}}]
    got = pyclient.submit("ptasks.echo", *args, k=1.0, name="x").wait(timeout=30)
    assert got == [args, {"k": 1.0, "name": "x"}]
    assert type(got[0][6]) is float and type(got[0][3]) is int and got[0][1] is True
    names = pyclient.submit("ptasks.types", None, True, 1, 1.0, "s", [], {}).wait(timeout=30)
    assert names == ["NoneType", "bool", "int", "float", "str", "list", "dict"]


def test_an_exception_is_the_failure(pyclient):
    with pytest.raises(asyncmesh.JobFailed) as info:
        pyclient.submit("ptasks.fail", "no such user").wait(timeout=30)
    assert info.value.type == "ValueError"
    assert info.value.message == "no such user"
    assert "Traceback (most recent call last)" in info.value.detail
    assert "ptasks.py" in info.value.detail and "in fail" in info.value.detail
    assert "ValueError: no such user" in info.value.detail


def test_a_transient_exception_is_a_transient_failure(pyclient):
    with pytest.raises(asyncmesh.JobFailed) as info:
        pyclient.submit("ptasks.busy", retry="never").wait(timeout=30)
    assert info.value.type == "BusyError" and info.value.transient is True
    with pytest.raises(asyncmesh.JobFailed) as info:
        pyclient.submit("ptasks.fail", "x", retry="never").wait(timeout=30)
    assert info.value.transient is False


def test_a_result_that_is_not_a_job_value_fails(pyclient):
    with pytest.raises(asyncmesh.JobFailed) as info:
        pyclient.submit("ptasks.unsendable").wait(timeout=30)
    assert info.value.type == "TypeError"
    assert "set" in info.value.message


def test_a_segfault_fails_only_its_job(pymesh, pyclient):
    with pytest.raises(asyncmesh.JobFailed) as info:
        pyclient.submit("ptasks.crash").wait(timeout=30)
    assert info.value.type == "CrashedError"
    #   the node lives on and runs the next job
    assert pyclient.submit("ptasks.echo", 1).wait(timeout=30) == [[1], {}]
    assert pymesh.procs[1].poll() is None


def test_imports_happen_once_and_each_job_has_its_process(pymesh, pyclient):
    jobs = [pyclient.submit("ptasks.counters") for _ in range(5)]
    results = [job.wait(timeout=30) for job in jobs]
    assert all(r[0] == 1 for r in results), results   # imported before the fork
    assert all(r[1] == 1 for r in results), results   # no job shares a process
    assert len({r[2] for r in results}) == 5
    lines = (pymesh.tmp / "node" / "imports.log").read_text().split()
    assert len(lines) == 1, lines


def test_progress_and_annotations_reach_the_job(pyclient):
    job = pyclient.submit("ptasks.progress_and_annotations", 4)
    job_id, attempt, stage, default = job.wait(timeout=30)
    assert job_id == job.id and attempt == 1
    assert stage == {"done": 4, "who": "ptasks.progress_and_annotations"}
    assert default == 7
    info = job.info()
    assert info["annotations"]["stage"] == stage
    assert info["annotations"]["second"] == [1.5, None, True]
    assert info["progress"] == {"done": 4, "total": 4}


def test_threads_of_a_task_use_the_job_at_once(pyclient):
    job = pyclient.submit("ptasks.threads", 4)
    assert job.wait(timeout=60) == [4, 4, 4, 4]
    assert job.annotations == {"t0": 4, "t1": 4, "t2": 4, "t3": 4}


def test_submit_and_hand_off_from_a_task(pyclient):
    assert pyclient.submit("ptasks.hand_off", 9).wait(timeout=30) == [[9], {}]
    child = pyclient.submit("ptasks.submit_child", 3).wait(timeout=30)
    assert pyclient.job(child).wait(timeout=30) == [[3], {}]


def test_a_cancelled_task_sees_it(pyclient):
    job = pyclient.submit("ptasks.wait_cancel")
    wait_for("the job to start", 15, lambda: job.status == "active")
    job.cancel()
    with pytest.raises(asyncmesh.JobFailed):
        job.wait(timeout=30)


def test_current_job_outside_a_task():
    with pytest.raises(RuntimeError, match="only inside a task"):
        asyncmesh.current_job()


def _node_exit(tmp_path, *flags):
    cwd = tmp_path / "node"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([str(BIN / "asyncnode"), "--broker", "tcp://127.0.0.1:1",
                           *flags], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_a_module_that_does_not_import_exits_2(tmp_path):
    done = _node_exit(tmp_path, "--python-path", str(TASKS), "--python-module", "broken")
    assert done.returncode == 2, done
    assert "broken" in done.stderr and "broken on purpose" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = _node_exit(tmp_path, "--python-module", "no_such_module_here")
    assert done.returncode == 2, done
    assert "no_such_module_here" in done.stderr


def test_a_module_without_tasks_exits_2(tmp_path):
    done = _node_exit(tmp_path, "--python-path", str(TASKS), "--python-module", "notasks")
    assert done.returncode == 2, done
    assert "notasks" in done.stderr and "@asyncmesh.task" in done.stderr


def test_a_task_name_taken_by_a_c_module_exits_2(tmp_path):
    done = _node_exit(tmp_path, "--module", str(MODULES / "pi.so"),
                      "--python-path", str(EXAMPLES), "--python-module", "pi")
    assert done.returncode == 2, done
    assert "pi.generate_sample" in done.stderr and "registered already" in done.stderr


def test_the_config_file_names_modules_and_path(tmp_path):
    config = tmp_path / "node.cfg"
    config.write_text("python\n    modules = notasks, broken\n    path = /nonexistent:%s\n"
                      % TASKS)
    done = _node_exit(tmp_path, "--config", str(config))
    assert done.returncode == 2, done
    assert "notasks" in done.stderr and "@asyncmesh.task" in done.stderr
    many = ",".join("m%d" % i for i in range(65))
    config.write_text("python\n    modules = %s\n" % many)
    done = _node_exit(tmp_path, "--config", str(config))
    assert done.returncode == 2, done
    assert "more than 64" in done.stderr


def test_python_path_without_a_module_exits_2(tmp_path):
    done = _node_exit(tmp_path, "--python-path", str(TASKS))
    assert done.returncode == 2, done
    assert "--python-module" in done.stderr
