"""celery_bench - Celery's side of the benchmark (bench/run drives it)

    celery_bench.py URL w1 [JOBS]    send JOBS no-op tasks as one group
                                     (group.apply_async: one message per
                                     task), then wait until every result is
                                     in (join_native); prints jobs/s
    celery_bench.py URL w2 [ROUNDS]  one task at a time: delay, then get;
                                     p50/p90/p99 in microseconds

URL is redis's (redis://127.0.0.1:PORT/DB), the broker and the result
backend both. The workers are this module's app, started by bench/run as

    CELERY_BENCH_URL=URL python3 -m celery -A celery_bench worker \\
        --pool prefork|threads --concurrency 16 ...

each printing "celery_ready" on its standard output when it consumes.
Output as bench/pybench.py's: "name value unit" lines with "*_failed N
jobs" (a task that did not succeed); exit 1 when a task failed or the
client failed, 2 on a usage error.
"""

import os
import sys

from celery import Celery, group
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.signals import worker_ready

from pybench import count_arg, run_w1, run_w2

URL = os.environ.get("CELERY_BENCH_URL", "redis://127.0.0.1:6379/0")

app = Celery("celery_bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_redirect_stdouts=False,
)


@app.task(name="celery_bench.noop")
def noop():
    """The no-op task: nothing, result null."""
    return None


@worker_ready.connect
def _ready(**_):
    print("celery_ready", flush=True)


def main(argv):
    prog = "celery_bench"
    if len(argv) < 3 or argv[2] not in ("w1", "w2"):
        sys.exit("usage: celery_bench.py URL w1|w2 [N]")
    app.conf.broker_url = argv[1]
    app.conf.result_backend = argv[1]

    def wait_all(result):
        values = result.join_native(timeout=600, propagate=False)
        return (sum(1 for value in values if isinstance(value, BaseException))
                + len(result) - len(values))

    def one():
        try:
            noop.delay().get(timeout=60)
        except CeleryTimeout:
            raise
        except Exception:                 # the task's own exception
            return False
        return True

    try:
        if argv[2] == "w1":
            return run_w1(prog, count_arg(argv, 3, 20000, prog),
                          lambda count: group(noop.s() for _ in range(count)).apply_async(),
                          wait_all)
        return run_w2(prog, count_arg(argv, 3, 2000, prog), one)
    except Exception as exc:
        print("%s: %s failed: %s: %s" % (prog, argv[2], type(exc).__name__, exc),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
