#!/usr/bin/env bash
#   A network partition (docs/spec.md section 3): the broker runs in network
#   namespace ns0, node1 in ns1 and node2 in ns2, each node joined to ns0 by
#   its own veth pair (10.200.1.0/24 and 10.200.2.0/24, addresses that exist
#   only inside these namespaces). node1 runs testing.sleep 4; node1's link
#   is cut (ip link set down): the broker declares it dead after 2 s and the
#   job moves to node2, where it completes. The link is restored: node1
#   rejoins (asyncctl nodes lists it again), its late result is rejected,
#   and it takes new work.
#   Needs root (ip netns): reported as skipped otherwise.
source "$(dirname "$0")/../helpers/lib.sh"

if [ "$(id -u)" != 0 ]; then
    am_skip "needs root for network namespaces (running as uid $(id -u))"
fi
command -v ip >/dev/null || am_fail "'ip' is not installed (apt-get install iproute2)"

#   Names unique to this run: other tests may build namespaces too
tag=am$$
NS0=${tag}b
NS1=${tag}n1
NS2=${tag}n2
s_netns_cleanup () {
    local ns
    for ns in "$NS0" "$NS1" "$NS2"; do ip netns del "$ns" 2>/dev/null || true; done
}
#   On exit: lib.sh's cleanup stops the processes; the namespaces (and the
#   veth pairs in them) go with the last process in them
trap 's_rc=$?; trap - ERR; set +e; s_netns_cleanup; (exit $s_rc); s_am_cleanup' EXIT

for ns in "$NS0" "$NS1" "$NS2"; do
    ip netns add "$ns" || am_fail "ip netns add $ns failed (no CAP_SYS_ADMIN?)"
    ip -n "$ns" link set lo up
done
for i in 1 2; do
    ns=${tag}n$i
    ip link add "b$i" netns "$NS0" type veth peer name "n$i" netns "$ns" \
        || am_fail "could not create the veth pair for node$i"
    ip -n "$NS0" addr add "10.200.$i.1/24" dev "b$i"
    ip -n "$ns" addr add "10.200.$i.2/24" dev "n$i"
    ip -n "$NS0" link set "b$i" up
    ip -n "$ns" link set "n$i" up
done
am_say "namespaces $NS0 (broker), $NS1 (node1), $NS2 (node2)"

#   The broker listens on every address of ns0: loopback for asyncctl, the
#   veth ends for the nodes. Nothing else runs in ns0: a fixed port will do
PORT=9999
AM_ENDPOINT=tcp://127.0.0.1:$PORT
am_ctl () { ip netns exec "$NS0" "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" "$@"; }

ip netns exec "$NS0" "$AM_BIN/asyncbroker" --data "$AM_DATA" --bind "tcp://*:$PORT" \
    --insecure-bind --dead-after 2s --heartbeat 500ms >>"$AM_TMP/broker.log" 2>&1 &
AM_BROKER_PID=$!
AM_PIDS+=("$AM_BROKER_PID")
am_wait_for "the broker in $NS0 to answer" 15 am_ctl --timeout 500ms status

#   s_node NAME NS BROKER_ADDRESS: asyncnode in NS, in $AM_TMP/NAME
s_node () {
    local name=$1 ns=$2 address=$3 dir=$AM_TMP/$1 pid uuid
    mkdir -p "$dir"
    (cd "$dir" && exec ip netns exec "$ns" "$AM_BIN/asyncnode" \
        --broker "tcp://$address:$PORT" --module "$AM_TESTING_SO" --agent main:1 \
        --heartbeat 500ms) >>"$AM_TMP/$name.log" 2>&1 &
    pid=$!
    AM_PIDS+=("$pid")
    AM_NODE_PID[$name]=$pid
    am_wait_for "node $name to write uuid.txt" 10 test -s "$dir/uuid.txt"
    uuid=$(head -n 1 "$dir/uuid.txt")
    AM_NODE_UUID[$name]=$uuid
    am_wait_for "node $name to be listed" 15 am_node_listed "$uuid"
    am_say "node $name pid $pid uuid $uuid in $ns via $address"
}
s_node node1 "$NS1" 10.200.1.1
id=$(am_ctl submit testing.sleep 4)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of the job" "${AM_NODE_UUID[node1]}" "$(am_job_field "$id" .node)"
s_node node2 "$NS2" 10.200.2.1
am_ctl nodes | jq -r '.uuid + " " + .address' | sed "s/^/$AM_TEST: node /"

am_check "cut node1's link: its job moves to node2 and completes there"
t0=$(am_now)
ip -n "$NS1" link set n1 down
am_wait_for "job $id to move to node2" 6 am_job_on "$id" "${AM_NODE_UUID[node2]}"
am_say "failover: on node2 $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the cut"
s_not_listed () { ! am_node_listed "${AM_NODE_UUID[node1]}"; }
am_wait_for "node1 to be gone from 'asyncctl nodes'" 2 s_not_listed
result=$(am_ctl wait "$id" --timeout 10s)
am_assert_eq "result" 4 "$result"
job=$(am_ctl job "$id")
am_assert_eq "node" "${AM_NODE_UUID[node2]}" "$(jq -r .node <<<"$job")"
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
am_say "completed on node2 $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the cut"
am_pid_gone "${AM_NODE_PID[node1]}" && am_fail "node1 exited during the partition"

am_check "restore the link: node1 rejoins and takes new work"
t1=$(am_now)
ip -n "$NS1" link set n1 up
am_wait_for "node1 to be listed again" 30 am_node_listed "${AM_NODE_UUID[node1]}"
am_say "node1 listed again $(am_calc 'b - a' a="$t1" b="$(am_now)") s after the restore"
s_rejected () { grep -q "job.reassigned job=$id node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log"; }
am_wait_for "the broker to reject node1's late result" 15 s_rejected
am_assert_eq "result after node1 came back" 4 "$(am_job_field "$id" .result)"
am_assert_eq "attempts after node1 came back" 2 "$(am_job_field "$id" .attempts)"
ids=()
for i in 1 2 3 4; do ids+=("$(am_ctl submit testing.sleep 1)"); done
for j in "${ids[@]}"; do am_ctl wait "$j" --timeout 20s >/dev/null; done
on1=$(am_jobs_ran_on "${AM_NODE_UUID[node1]}" "${ids[@]}")
am_say "$on1 of 4 new jobs ran on node1"
[ $on1 -ge 1 ] || am_fail "node1 took no new work after the link came back"
am_say "PASS"
