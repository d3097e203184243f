#!/usr/bin/env bash
#   Without CURVE the broker binds to loopback only, judged by the address
#   the endpoint's host stands for, not by how it is spelt. ZeroMQ takes a
#   network interface's name as a bind host: in a network namespace of its
#   own whose loopback interface is renamed "127.nic" and holds only
#   10.213.7.1 (nothing is ever sent to it), `--bind tcp://127.nic:PORT`
#   would listen on 10.213.7.1; it is refused with exit 2, as tcp://0.0.0.0
#   is. Needs root (namespaces): reported as skipped otherwise.
source "$(dirname "$0")/../helpers/lib.sh"

[ "$(id -u)" = 0 ] || am_skip "needs root for namespaces (running as uid $(id -u))"
command -v unshare >/dev/null || am_skip "unshare is not installed"
unshare --net true 2>/dev/null || am_skip "unshare --net is not allowed here"

s_in_namespace () {     #   s_in_namespace COMMAND...: in a new network namespace
    unshare --net bash -c '
        ip link set lo name 127.nic && ip link set 127.nic up \
            && ip addr add 10.213.7.1/32 dev 127.nic \
            && ip addr del 127.0.0.1/8 dev 127.nic || exit 99
        exec "$@"' bash "$@"
}
rc=0; s_in_namespace true || rc=$?
[ $rc != 99 ] || am_skip "cannot set up the namespace's interface here"

am_check "--bind tcp://127.nic:PORT (an interface whose address is 10.213.7.1) is refused"
rc=0
s_in_namespace timeout 5 "$AM_BIN/asyncbroker" --data "$AM_TMP/data" \
    --bind "tcp://127.nic:$AM_PORT" >"$AM_TMP/refused.log" 2>&1 || rc=$?
am_assert_eq "exit code" 2 "$rc"
grep -q "refusing to bind tcp://127.nic:$AM_PORT beyond loopback" "$AM_TMP/refused.log" \
    || am_fail "no refusal line: $(cat "$AM_TMP/refused.log")"

am_check "tcp://10.213.7.1:PORT is refused; tcp://127.0.0.1:PORT is accepted"
rc=0
s_in_namespace timeout 5 "$AM_BIN/asyncbroker" --data "$AM_TMP/data2" \
    --bind "tcp://10.213.7.1:$AM_PORT" >/dev/null 2>&1 || rc=$?
am_assert_eq "exit code for the address itself" 2 "$rc"
am_broker_start
am_say "PASS"
