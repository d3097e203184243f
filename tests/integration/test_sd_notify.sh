#!/usr/bin/env bash
#   Type=notify: run under a service manager's NOTIFY_SOCKET (here a unix
#   datagram socket read by a small python3 script), the broker and the node
#   each say READY=1 once serving, and STOPPING=1 when asked to stop
#   (SIGTERM). The broker's socket is a path, the node's one in the abstract
#   namespace ("@name"): both forms of the sd_notify protocol.
source "$(dirname "$0")/../helpers/lib.sh"

command -v python3 >/dev/null || am_skip "python3 is not installed"

#   s_listen NAME ADDRESS: read the datagrams sent to ADDRESS, one line each,
#   into $AM_TMP/NAME.notify; $AM_TMP/NAME.ready once it listens
s_listen () {
    python3 - "$2" "$AM_TMP/$1.notify" "$AM_TMP/$1.ready" <<'PY' &
import os, socket, sys
address, out, ready = sys.argv[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
open(ready, "w").close()
with open(out, "a") as f:
    while True:
        data = sock.recv(4096)
        f.write(data.decode().replace("\n", " ") + "\n")
        f.flush()
PY
    AM_PIDS+=("$!")
    am_wait_for "the $1 listener" 10 test -e "$AM_TMP/$1.ready"
}
s_has () { grep -qx "$2" "$AM_TMP/$1.notify" 2>/dev/null; }

node_socket="@asyncmesh-test-$$-$RANDOM"
s_listen broker "$AM_TMP/broker.sock"
s_listen node "$node_socket"

am_check "the broker says READY=1 once it answers"
NOTIFY_SOCKET=$AM_TMP/broker.sock am_broker_start
am_wait_for "READY=1 from the broker" 10 s_has broker READY=1
s_has broker STOPPING=1 && am_fail "STOPPING=1 from the broker before it was stopped"

am_check "the node says READY=1 once started (abstract socket)"
NOTIFY_SOCKET=$node_socket am_node_start n1 --module "$AM_TESTING_SO"
am_wait_for "READY=1 from the node" 10 s_has node READY=1
id=$(am_ctl submit testing.noop)
am_ctl wait "$id" --timeout 20s >/dev/null

am_check "SIGTERM: the node says STOPPING=1, after READY=1, and exits"
node_pid=${AM_NODE_PID[n1]}
kill -TERM "$node_pid"
am_wait_for "STOPPING=1 from the node" 10 s_has node STOPPING=1
am_wait_for "the node to exit" 10 am_pid_gone "$node_pid"
am_assert_eq "the node's notifications" "READY=1 STOPPING=1" "$(paste -sd' ' "$AM_TMP/node.notify")"

am_check "SIGTERM: the broker says STOPPING=1, after READY=1, and exits"
kill -TERM "$AM_BROKER_PID"
am_wait_for "STOPPING=1 from the broker" 10 s_has broker STOPPING=1
am_wait_for "the broker to exit" 10 am_pid_gone "$AM_BROKER_PID"
am_assert_eq "the broker's notifications" "READY=1 STOPPING=1" "$(paste -sd' ' "$AM_TMP/broker.notify")"
am_say "PASS"
