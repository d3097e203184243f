#!/usr/bin/env python3
"""cdp.py - drive a headless chromium through the DevTools protocol, for
the dashboard's tests. Python's standard library only: the WebSocket
client (RFC 6455, client side) is the few lines below.

    cdp.py [--chromium PATH] [--profile DIR] [--artifacts DIR]
           [--size WxH] < SCRIPT

Starts chromium headless with its own profile (DIR, made if missing),
opens one page and runs SCRIPT, one step per line (blank lines and lines
starting with # are skipped):

    open URL                 load URL, wait for its load event (30 s;
                             a URL that differs from the page's in its
                             #fragment only: until the page is told)
    wait SECONDS JS          until the expression JS is truthy, polled
                             every 100 ms (an exception counts as false);
                             fails after SECONDS
    click SELECTOR           click the first element matching the CSS
                             SELECTOR (scrolled into view, the DOM's
                             click())
    type SELECTOR TEXT       focus an input (SELECTOR: no spaces), set its value and fire
                             "input" and "change"
    eval JS                  print the value of JS (awaited when it is a
                             promise) as one line of JSON
    screenshot NAME          save a PNG of the page as ARTIFACTS/NAME
    dialogs accept|dismiss   how to answer confirm() and alert() from
                             now on (default: accept); each dialog's
                             message is printed as "dialog: MESSAGE"

Every step prints "step N: ..." before it runs. The first step that
fails prints "cdp.py: step N (LINE): REASON" on stderr and ends the run:
exit 1. A JavaScript exception thrown by the page is printed as
"page error: ..." and fails the next wait, click or eval. Exit 2 on a
usage error or when chromium cannot be started or reached (in 30 s).
Chromium is stopped on every exit.
"""

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

STEP_TIMEOUT = 30.0             # seconds for any one reply of chromium
MAX_MESSAGE = 64 * 1024 * 1024  # a screenshot is a few MB of base64


class Failed(Exception):
    """A step failed; the message says why."""


class WebSocket:
    """A client WebSocket over TCP: text messages only, as CDP needs."""

    def __init__(self, url, timeout):
        if not url.startswith("ws://"):
            raise Failed("not a ws:// URL: %s" % url)
        rest = url[len("ws://"):]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key))
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failed("chromium closed the WebSocket handshake")
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failed("WebSocket refused: %s" % head.split(b"\r\n")[0].decode())

    def send(self, text):
        payload = text.encode()
        header = bytearray([0x81])      # FIN, text
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(header) + mask + masked)

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                raise Failed("chromium closed the WebSocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def recv(self):
        """The next text message (fragments joined; pings answered)."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            if second & 0x80:
                raise Failed("chromium sent a masked frame")
            if length > MAX_MESSAGE or len(message) + length > MAX_MESSAGE:
                raise Failed("a message of over %d bytes" % MAX_MESSAGE)
            payload = self._read(length)
            if opcode == 0x8:
                raise Failed("chromium closed the WebSocket")
            if opcode == 0x9:           # ping: answer with a pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)])
                                  + b"\0\0\0\0" + payload)
                continue
            if opcode in (0x1, 0x2, 0x0):
                message += payload
                if first & 0x80:
                    return message.decode()


class Page:
    """One page of the browser, and the steps run on it."""

    def __init__(self, ws, artifacts):
        self.ws = ws
        self.artifacts = artifacts
        self.next_id = 0
        self.events = []
        self.accept_dialogs = True
        self.page_errors = []

    def call(self, method, timeout=STEP_TIMEOUT, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                message = json.loads(self.ws.recv())
            except socket.timeout:
                raise Failed("no answer to %s within %.0f s" % (method, timeout))
            if message.get("id") == ident:
                if "error" in message:
                    raise Failed("%s: %s" % (method, message["error"].get("message")))
                return message.get("result", {})
            self._event(message)

    def _event(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Page.javascriptDialogOpening":
            print("dialog: %s" % params.get("message", ""), flush=True)
            self.ws.send(json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": self.accept_dialogs}}))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            print("page error: %s" % text, flush=True)
            self.page_errors.append(text)
        self.events.append(method)

    def _check_errors(self):
        if self.page_errors:
            raise Failed("the page threw: %s" % self.page_errors[0])

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise Failed("JavaScript threw: %s" % (
                details.get("exception", {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")

    def open(self, url):
        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + STEP_TIMEOUT
        while ("Page.loadEventFired" not in self.events
               and "Page.navigatedWithinDocument" not in self.events):
            if time.monotonic() > deadline:
                raise Failed("%s did not load within %.0f s" % (url, STEP_TIMEOUT))
            self.ws.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._event(json.loads(self.ws.recv()))
            except socket.timeout:
                pass

    def wait(self, seconds, expression):
        deadline = time.monotonic() + seconds
        while True:
            self._check_errors()
            #  A condition that throws (an element not there yet) is false
            #  for now; the last exception is the reason if it stays so
            threw = None
            try:
                if self.evaluate("!!(%s)" % expression):
                    return
            except Failed as error:
                threw = error
            if time.monotonic() > deadline:
                raise Failed("still %s after %g s: %s" % (
                    "throwing (%s)" % threw if threw else "false", seconds, expression))
            time.sleep(0.1)

    def click(self, selector):
        self._check_errors()
        found = self.evaluate(
            "(() => { const e = document.querySelector (%s); if (!e) return false;"
            " e.scrollIntoView (); e.click (); return true; }) ()" % json.dumps(selector))
        if not found:
            raise Failed("no element matches %s" % selector)

    def type(self, selector, text):
        found = self.evaluate(
            "(() => { const e = document.querySelector (%s); if (!e) return false;"
            " e.focus (); e.value = %s; e.dispatchEvent (new Event ('input', {bubbles: true}));"
            " e.dispatchEvent (new Event ('change', {bubbles: true})); return true; }) ()"
            % (json.dumps(selector), json.dumps(text)))
        if not found:
            raise Failed("no element matches %s" % selector)

    def screenshot(self, name):
        if "/" in name or name.startswith("."):
            raise Failed("a screenshot's name is a file name, not %r" % name)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(self.artifacts, exist_ok=True)
        path = os.path.join(self.artifacts, name)
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))
        print("screenshot: %s" % path, flush=True)


def start_chromium(chromium, profile, size):
    """Chromium's process and the WebSocket URL of its first page."""
    os.makedirs(profile, exist_ok=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    if os.path.exists(port_file):
        os.unlink(port_file)
    log = open(os.path.join(profile, "chromium.log"), "ab")
    process = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--user-data-dir=" + profile,
         "--window-size=" + size, "about:blank"],
        stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failed("chromium exited with status %d (see %s/chromium.log)"
                         % (process.returncode, profile))
        try:
            with open(port_file) as f:
                port = int(f.readline())
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=5) as answer:
                targets = json.load(answer)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return process, pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise Failed("chromium did not open its DevTools port within 30 s")


def stop_chromium(process):
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run(page, lines):
    number = 0
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        number += 1
        verb, _, rest = line.partition(" ")
        print("step %d: %s" % (number, line if len(line) < 200 else line[:200] + "..."),
              flush=True)
        try:
            if verb == "open" and rest:
                page.open(rest)
            elif verb == "wait":
                seconds, _, expression = rest.partition(" ")
                try:
                    seconds = float(seconds)
                except ValueError:
                    seconds = -1
                if not 0 < seconds <= 600 or not expression:
                    raise Failed("wait takes SECONDS (0 to 600) and an expression")
                page.wait(seconds, expression)
            elif verb == "click" and rest:
                page.click(rest)
            elif verb == "type" and rest:
                selector, _, text = rest.partition(" ")
                page.type(selector, text)
            elif verb == "eval" and rest:
                page._check_errors()
                print(json.dumps(page.evaluate(rest)), flush=True)
            elif verb == "screenshot" and rest:
                page.screenshot(rest)
            elif verb == "dialogs" and rest in ("accept", "dismiss"):
                page.accept_dialogs = rest == "accept"
            else:
                raise Failed("unknown step (see cdp.py's help)")
        except (Failed, OSError) as error:
            print("cdp.py: step %d (%s): %s" % (number, line[:200], error), file=sys.stderr)
            return 1
    return 0


def main(argv):
    options = {"--chromium": shutil.which("chromium") or shutil.which("chromium-browser"),
               "--profile": None, "--artifacts": ".", "--size": "1280,900"}
    args = argv[1:]
    while args:
        if args[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        if args[0] not in options or len(args) < 2:
            print("cdp.py: unknown option or missing value: %s (see --help)" % args[0],
                  file=sys.stderr)
            return 2
        options[args[0]] = args[1]
        args = args[2:]
    if not options["--chromium"]:
        print("cdp.py: chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    size = options["--size"].replace("x", ",")
    profile = options["--profile"] or os.path.join(os.getcwd(), "chromium-profile")
    process = None
    try:
        try:
            process, url = start_chromium(options["--chromium"], profile, size)
            page = Page(WebSocket(url, STEP_TIMEOUT), options["--artifacts"])
            page.call("Page.enable")
            page.call("Runtime.enable")
        except (Failed, OSError) as error:
            print("cdp.py: %s" % error, file=sys.stderr)
            return 2
        return run(page, sys.stdin)
    finally:
        stop_chromium(process)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
