"""Fixtures of the Python client's tests: a real asyncbroker and asyncnode
of the build tree, on a free loopback port, in a temp dir (as
tests/helpers/lib.sh starts them for the shell tests).

ASYNC_BUILD names the build tree (default: build/ at the top of the
repository); its python/ directory holds the asyncmesh package.
"""

import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ASYNC_BUILD") or TOP / "build").resolve()
BIN = BUILD / "bin"
MODULES = BUILD / "modules"

if str(BUILD / "python") not in sys.path:
    sys.path.insert(0, str(BUILD / "python"))

import asyncmesh  # noqa: E402  (after the path is set)

#  The tests say which broker and keys they use: none from the caller's
#  environment
for _name in ("ASYNC_BROKER", "ASYNC_CURVE_KEY", "ASYNC_BROKER_PUBLIC_KEY"):
    os.environ.pop(_name, None)


def wait_for(what, timeout, predicate, interval=0.05):
    """Poll predicate () until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except asyncmesh.Error:
            pass
        if time.monotonic() > deadline:
            pytest.fail("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A free loopback TCP port in 20000-60000, outside the kernel's
    ephemeral range when possible."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 0, 0
    for attempt in range(500):
        port = random.randint(20000, 60000)
        if attempt < 400 and low <= port <= high:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("found no free port in 20000-60000")


class Mesh:
    """A broker and one node running pi.so and testing.so."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.endpoint = None
        self.node_uuid = None

    def _spawn(self, name, argv, cwd=None):
        log = open(self.tmp / (name + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        log.close()
        self.procs.append(proc)
        return proc

    def client(self, **kwargs):
        return asyncmesh.Client(self.endpoint, **kwargs)

    def start_broker(self, *flags, **client_kwargs):
        """Start the broker with these extra flags; wait until a client
        made with client_kwargs gets its status."""
        for _ in range(3):
            self.endpoint = "tcp://127.0.0.1:%d" % free_port()
            proc = self._spawn("broker", [str(BIN / "asyncbroker"), "--data",
                                          str(self.tmp / "broker-data"),
                                          "--bind", self.endpoint, *flags])
            probe = asyncmesh.Client(self.endpoint, timeout=0.5, **client_kwargs)
            deadline = time.monotonic() + 15
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    probe.status()
                    probe.close()
                    return
                except asyncmesh.Unreachable:
                    time.sleep(0.05)
            probe.close()
            if proc.poll() is None:
                pytest.fail("the broker did not answer on %s within 15 s" % self.endpoint)
            #   exited: the port was taken meanwhile; try another one
        pytest.fail("the broker exited at start: %s" % self.log("broker"))

    def start_node(self, *flags, name="node"):
        """Start a node with these flags (default: pi.so and testing.so) in
        tmp/NAME; wait until the broker lists it."""
        cwd = self.tmp / name
        cwd.mkdir()
        flags = flags or ("--module", str(MODULES / "pi.so"),
                          "--module", str(MODULES / "testing.so"))
        self._spawn(name, [str(BIN / "asyncnode"), "--broker", self.endpoint, *flags],
                    cwd=cwd)
        uuid_file = cwd / "uuid.txt"
        wait_for("the node to write uuid.txt", 10,
                 lambda: uuid_file.exists() and uuid_file.read_text().strip())
        self.node_uuid = uuid_file.read_text().split()[0]
        probe = self.client()

        def listed():
            nodes = probe.status().get("nodes", [])
            return any(n.get("uuid") == self.node_uuid and not n.get("dead")
                       for n in nodes)
        wait_for("the broker to list node %s" % self.node_uuid, 15, listed)
        probe.close()

    def log(self, name):
        try:
            return (self.tmp / (name + ".log")).read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    for program in ("asyncbroker", "asyncnode"):
        if not (BIN / program).exists():
            pytest.fail("%s is missing; build first (cmake --build build)" % (BIN / program))
    tmp = tmp_path_factory.mktemp("mesh")
    mesh = Mesh(tmp)
    try:
        mesh.start_broker()
        mesh.start_node()
        yield mesh
    finally:
        mesh.stop()
        for name in ("broker", "node"):
            print("----- %s.log (last 3000 bytes)\n%s" % (name, mesh.log(name)))


@pytest.fixture
def curve_mesh(tmp_path):
    """A broker of its own that speaks CURVE only, no node. Keys in
    tmp_path/keys: broker, client1 (let in), stranger (not let in)."""
    keys = tmp_path / "keys"
    (keys / "clients").mkdir(parents=True)
    for name in ("broker", "client1", "stranger"):
        subprocess.run([str(BIN / "asyncctl"), "keygen", str(keys / name)],
                       check=True, stdout=subprocess.DEVNULL)
    (keys / "clients" / "client1").write_bytes((keys / "client1").read_bytes())
    mesh = Mesh(tmp_path)
    mesh.keys = keys
    try:
        mesh.start_broker("--curve-secret", str(keys / "broker_secret"),
                          "--curve-clients", str(keys / "clients"),
                          curve_key=str(keys / "client1_secret"),
                          broker_public_key=str(keys / "broker"))
        yield mesh
    finally:
        mesh.stop()
        print("----- broker.log (last 3000 bytes)\n%s" % mesh.log("broker"))


@pytest.fixture
def client(mesh):
    c = mesh.client()
    yield c
    c.close()
