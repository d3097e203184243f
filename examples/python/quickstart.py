#!/usr/bin/env python3
"""The zc.async quickstart, replayed with tasks in Python and the client
in Python: starts a broker and two nodes that run examples/python/quick.py
and pi.py, runs each step, prints what it does, stops everything.

    python3 examples/python/quickstart.py        (after building into build/)

    ASYNC_BUILD=build            where the build is (default: build/ at the top)
    ASYNC_QUICKSTART_PORT=9999   the broker's port (default 9999; 0 = any free)

Exit 0 when every step gave what it should, 1 otherwise (with the logs).
"""

import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parents[1]
BUILD = pathlib.Path(os.environ.get("ASYNC_BUILD") or TOP / "build").resolve()
sys.path.insert(0, str(BUILD / "python"))

import asyncmesh  # noqa: E402  (from the build tree)


def free_port():
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def step(text):
    print("\n== %s" % text, flush=True)


class Quickstart:
    def __init__(self):
        port = int(os.environ.get("ASYNC_QUICKSTART_PORT", "9999"))
        if not 0 <= port <= 65535:
            sys.exit("quickstart: ASYNC_QUICKSTART_PORT must be 0 to 65535")
        self.endpoint = "tcp://127.0.0.1:%d" % (port or free_port())
        self.var = pathlib.Path(tempfile.mkdtemp(prefix="asyncmesh-pyquickstart."))
        self.procs = []

    def spawn(self, name, argv, cwd=None):
        with open(self.var / (name + ".log"), "wb") as log:
            self.procs.append(subprocess.Popen(argv, cwd=cwd, stdout=log,
                                               stderr=subprocess.STDOUT))
        return self.procs[-1]

    def fail(self, text):
        print("quickstart: FAILED: %s" % text, file=sys.stderr)
        for log in sorted(self.var.glob("*.log")):
            print("--- %s\n%s" % (log, log.read_text(errors="replace")[-2000:]),
                  file=sys.stderr)
        raise SystemExit(1)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.var, ignore_errors=True)

    def start(self):
        step("start asyncbroker (RocksDB in %s/broker) and two asyncnode processes "
             "with the tasks of quick.py and pi.py" % self.var)
        broker = self.spawn("broker", [str(BUILD / "bin" / "asyncbroker"), "--data",
                                       str(self.var / "broker"), "--bind", self.endpoint])
        client = asyncmesh.Client(self.endpoint, timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.status()
                break
            except asyncmesh.Unreachable:
                if broker.poll() is not None or time.monotonic() > deadline:
                    self.fail("asyncbroker did not start")
        self.nodes = {}
        for n in (1, 2):
            cwd = self.var / ("node%d" % n)
            cwd.mkdir()
            #   Like the quickstart's pi2.py: agent 'samples' (size 1) takes
            #   only pi.generate_sample, agent 'main' (size 3) the others
            self.spawn("node%d" % n, [
                str(BUILD / "bin" / "asyncnode"), "--broker", self.endpoint,
                "--python-path", str(HERE),
                "--python-module", "quick", "--python-module", "pi",
                "--agent", "samples:1:pi.generate_sample",
                "--agent", "main:3:!pi.generate_sample"], cwd=cwd)
        deadline = time.monotonic() + 30
        while True:
            for n in (1, 2):
                uuid = self.var / ("node%d" % n) / "uuid.txt"
                if uuid.exists() and uuid.read_text().strip():
                    self.nodes[uuid.read_text().split()[0]] = uuid.parent
            live = [x for x in client.status().get("nodes", []) if not x.get("dead")]
            if len(live) == 2 and len(self.nodes) == 2:
                break
            if any(p.poll() is not None for p in self.procs) \
                    or time.monotonic() > deadline:
                self.fail("the two nodes did not connect")
            time.sleep(0.1)
        for node in live:
            print(json.dumps({"uuid": node["uuid"], "agents": [
                "%s:%s %s" % (a["name"], a["size"], a["filter"]) for a in node["agents"]]}))
        client.close()

    def run(self):
        c = asyncmesh.Client(self.endpoint)

        step("1. time.time as a job: quick.now")
        print(">>> c.submit('quick.now').wait()")
        t = c.submit("quick.now").wait(timeout=60)
        print("%r   (now: %r)" % (t, time.time()))
        if not abs(t - time.time()) < 5:
            self.fail("quick.now returned %r" % (t,))

        step("2. subprocess.call: openssl genrsa -out key.pem 1024")
        print(">>> job = c.submit('quick.call', ['openssl', 'genrsa', '-out', "
              "'key.pem', '1024'])")
        job = c.submit("quick.call", ["openssl", "genrsa", "-out", "key.pem", "1024"])
        rc = job.wait(timeout=60)
        node = job.info()["node"]
        print("result: %r (ran on node %s)" % (rc, node))
        if rc != 0:
            self.fail("quick.call returned %r" % (rc,))
        key = self.nodes[node] / "key.pem"
        check = subprocess.run(["openssl", "rsa", "-check", "-noout", "-in", str(key)],
                               capture_output=True, text=True)
        if check.returncode:
            self.fail("%s is not a valid key: %s" % (key, check.stderr))
        print("%s passes openssl rsa -check" % key)

        step("3. Monte Carlo pi: parallel(pi.generate_sample x3, "
             "postprocess=pi.process_samples)")
        print(">>> sample = asyncmesh.call('pi.generate_sample', 200000)\n"
              ">>> job = c.parallel(sample, sample, sample, "
              "postprocess=asyncmesh.call('pi.process_samples'))")
        sample = asyncmesh.call("pi.generate_sample", 200000)
        job = c.parallel(sample, sample, sample,
                         postprocess=asyncmesh.call("pi.process_samples"))
        pi = job.wait(timeout=120)
        nodes = {c.job(child).info()["node"] for child in job.info()["children"]}
        print("pi ~ %r (the samples ran on %d nodes)" % (pi, len(nodes)))
        if not abs(pi - 3.14159265) < 0.03:
            self.fail("%r is not within 0.03 of pi" % (pi,))
        if len(nodes) != 2:
            self.fail("the three samples did not run on both nodes")

        step("4. a task that fails: pi.generate_sample(-1) raises ValueError")
        try:
            c.submit("pi.generate_sample", -1).wait(timeout=60)
            self.fail("pi.generate_sample(-1) did not fail")
        except asyncmesh.JobFailed as e:
            print("JobFailed: %s: %s" % (e.type, e.message))
            print((e.detail or "").split("\n\n")[0])
            if e.type != "ValueError" or "Traceback" not in (e.detail or ""):
                self.fail("not the ValueError with its traceback: %r" % (e.failure,))
        c.close()
        step("done: stopping the broker and the nodes")


def main():
    for program in ("asyncbroker", "asyncnode"):
        if not (BUILD / "bin" / program).exists():
            sys.exit("quickstart: %s is missing; build first (cmake --build build)"
                     % (BUILD / "bin" / program))
    quickstart = Quickstart()
    try:
        quickstart.start()
        quickstart.run()
    finally:
        quickstart.stop()


if __name__ == "__main__":
    main()
