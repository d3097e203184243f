"""pybench - asyncmesh's Python client in the benchmark (bench/run drives it)

    pybench.py ENDPOINT w1 [JOBS]    submit JOBS jobs at once with
                                     Client.submit_many (pipelined), then
                                     Client.wait_all; prints jobs/s
    pybench.py ENDPOINT w2 [ROUNDS]  one job at a time with Client.run (the
                                     submit carries its wait, one request);
                                     p50/p90/p99 in microseconds

As asyncbench does in C: its W1 pipelines every submit with its wait
(async_submit_wait_many_json), its W2 is async_submit_wait_json.

The task is $ASYNCBENCH_TASK (default testing.noop), as for asyncbench.
Output, as asyncbench's: one line "name value unit" per figure, with
"*_failed N jobs"; exit 1 when a job failed or the client failed, 2 on
a usage error. bench/celery_bench.py uses the helpers of this file.
"""

import os
import sys
import time


def count_arg(argv, index, default, prog):
    """A whole number from 1 to 100,000,000 at argv[index], or exit 2."""
    if len(argv) <= index:
        return default
    text = argv[index]
    if not text.isdigit() or not 1 <= int(text) <= 100000000:
        sys.exit("%s: N must be a number from 1 to 100000000, not '%s'" % (prog, text))
    return int(text)


def print_w2(latencies):
    """W2's p50, p90 and p99 lines from latencies in microseconds, picked
    as bench/bench_util.h's bench_print_w2 picks them."""
    lat = sorted(latencies)
    n = len(lat)
    print("w2_p50 %.0f us" % lat[n // 2])
    print("w2_p90 %.0f us" % lat[n * 9 // 10])
    print("w2_p99 %.0f us" % lat[n * 99 // 100])


def report_failed(prog, workload, failed, total):
    """The "*_failed" line; a note on stderr when any failed. 1 if any."""
    print("%s_failed %d jobs" % (workload, failed))
    if failed:
        print("%s: %s: %d of %d jobs failed" % (prog, workload, failed, total),
              file=sys.stderr)
    return 1 if failed else 0


def run_w1(prog, count, submit_all, wait_all):
    """W1: submit_all(count) sends the jobs and returns what wait_all
    takes to wait for them all and return how many failed. Prints the
    submit rate and the throughput; the exit status."""
    start = time.perf_counter()
    sent = submit_all(count)
    submitted = time.perf_counter()
    failed = wait_all(sent)
    done = time.perf_counter()
    print("w1_submit_rate %.0f jobs/s" % (count / (submitted - start)))
    print("w1_throughput %.0f jobs/s" % (count / (done - start)))
    return report_failed(prog, "w1", failed, count)


def run_w2(prog, rounds, one):
    """W2: one() runs one job from its submit to its result, False when
    the job failed; each round timed. Prints the percentiles; the exit
    status."""
    latencies = []
    failed = 0
    for _ in range(rounds):
        start = time.perf_counter()
        failed += not one()
        latencies.append((time.perf_counter() - start) * 1e6)
    print_w2(latencies)
    return report_failed(prog, "w2", failed, rounds)


def main(argv):
    prog = "pybench"
    if len(argv) < 3 or argv[2] not in ("w1", "w2"):
        sys.exit("usage: pybench.py ENDPOINT w1|w2 [N]")
    import asyncmesh

    task = os.environ.get("ASYNCBENCH_TASK") or "testing.noop"
    client = asyncmesh.Client(argv[1], timeout=60)

    spec = asyncmesh.call(task)

    def one():
        try:
            client.run(spec, wait_timeout=60)
        except asyncmesh.JobFailed:
            return False
        return True

    try:
        if argv[2] == "w1":
            return run_w1(prog, count_arg(argv, 3, 20000, prog),
                          lambda count: client.submit_many([spec] * count),
                          lambda jobs: client.wait_all(jobs, timeout=600))
        return run_w2(prog, count_arg(argv, 3, 2000, prog), one)
    except asyncmesh.Error as exc:
        print("%s: %s failed: %s" % (prog, argv[2], exc), file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
