#!/usr/bin/env bash
#   The zc.async quickstart, replayed with asyncmesh: starts a broker and
#   two nodes, runs each step, prints what it does, stops everything.
#
#   examples/quickstart/run.sh            (after building into build/)
#   ASYNC_QUICKSTART_PORT=9999            the broker's port (default 9999; 0 = any free)
#   ASYNC_BUILD=build                     where the build is
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${ASYNC_BUILD:-$top/build}" && pwd)
port=${ASYNC_QUICKSTART_PORT:-9999}
if [ "$port" = 0 ]; then          #   0: any free port (tests)
    #   below the kernel's range for client ports, so no connection takes it
    port=$(( 20000 + RANDOM % 12000 ))
    while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$(( 20000 + RANDOM % 12000 )); done
fi
endpoint="tcp://127.0.0.1:$port"
var=$(mktemp -d "${TMPDIR:-/tmp}/asyncmesh-quickstart.XXXXXX")
pids=()

stop_all () {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$var"
}
trap stop_all EXIT

fail () {
    echo "quickstart: FAILED: $*" >&2
    for log in "$var"/*.log; do echo "--- $log"; tail -n 20 "$log"; done >&2
    exit 1
}

ctl () { "$build/bin/asyncctl" --broker "$endpoint" "$@"; }
step () { printf '\n== %s\n' "$*"; }

if ss -ltn 2>/dev/null | grep -q ":$port "; then
    fail "port $port is taken; set ASYNC_QUICKSTART_PORT to a free port"
fi

step "start asyncbroker (RocksDB in $var/broker) and two asyncnode processes"
"$build/bin/asyncbroker" --data "$var/broker" --bind "$endpoint" 2>"$var/broker.log" &
pids+=($!)
for i in $(seq 100); do
    ctl --timeout 1s status >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || fail "asyncbroker did not start"
    sleep 0.1
done
for n in 1 2; do
    mkdir -p "$var/node$n"
    #   Like the quickstart's pi2.py: agent 'samples' (size 1) takes only
    #   pi.generate_sample, agent 'main' (size 3) takes everything else
    (cd "$var/node$n" && exec "$build/bin/asyncnode" --broker "$endpoint" \
        --module "$build/modules/pi.so" --module "$build/modules/testing.so" \
        --agent 'samples:1:pi.generate_sample' --agent 'main:3:!pi.generate_sample' \
        2>"$var/node$n.log") &
    pids+=($!)
done
for i in $(seq 100); do
    [ "$(ctl nodes 2>/dev/null | wc -l)" = 2 ] && break
    sleep 0.1
done
[ "$(ctl nodes 2>/dev/null | wc -l)" = 2 ] || fail "the two nodes did not connect"
ctl nodes | jq -c '{uuid, agents: [.agents[] | "\(.name):\(.size) \(.filter)"]}'

step "1. time.time as a job"
echo '$ asyncctl submit --wait time.time'
t=$(ctl submit --wait --wait-timeout 60s time.time)
now=$(date +%s.%N)
echo "$t   (now: $now)"
awk -v a="$t" -v b="$now" 'BEGIN { d = a - b; exit !(d < 5 && d > -5) }' \
    || fail "time.time returned $t, not close to $now"

step "2. subprocess.call: openssl genrsa -out key.pem 1024"
echo "\$ asyncctl submit subprocess.call '[\"openssl\",\"genrsa\",\"-out\",\"key.pem\",\"1024\"]'"
id=$(ctl submit subprocess.call '["openssl","genrsa","-out","key.pem","1024"]')
rc=$(ctl wait "$id" --timeout 60s)
node=$(ctl job "$id" | jq -r .node)
echo "result: $rc (ran on node $node)"
[ "$rc" = 0 ] || fail "subprocess.call returned $rc"
dir=$(grep -l "^$node" "$var"/node*/uuid.txt | xargs dirname)
openssl rsa -check -noout -in "$dir/key.pem" || fail "$dir/key.pem is not a valid key"
echo "$dir/key.pem passes openssl rsa -check"

step "3. Monte Carlo pi: parallel(pi.generate_sample x3, postprocess=pi.process_samples)"
echo "\$ asyncctl parallel --wait --postprocess pi.process_samples pi.generate_sample pi.generate_sample pi.generate_sample"
pi=$(ctl parallel --wait --wait-timeout 120s --postprocess pi.process_samples pi.generate_sample pi.generate_sample \
     pi.generate_sample)
echo "pi ~ $pi"
awk -v p="$pi" 'BEGIN { d = p - 3.14159265; exit !(d < 0.02 && d > -0.02) }' \
    || fail "$pi is not within 0.02 of pi"

step "4. with closures: pi.generate_sample 1000000 and size=1000000"
echo "\$ asyncctl parallel --wait --postprocess pi.process_samples 'pi.generate_sample 1000000' 'pi.generate_sample size=1000000' 'pi.generate_sample 1000000'"
pi=$(ctl parallel --wait --wait-timeout 120s --postprocess pi.process_samples 'pi.generate_sample 1000000' \
     'pi.generate_sample size=1000000' 'pi.generate_sample 1000000')
echo "pi ~ $pi"
awk -v p="$pi" 'BEGIN { d = p - 3.14159265; exit !(d < 0.02 && d > -0.02) }' \
    || fail "$pi is not within 0.02 of pi"

step "5. two nodes like pi2.py: 2 x 5,000,000 samples in parallel vs 1 x 10,000,000"
#   Times are the broker's: from submit to completion of each job
elapsed () {
    ctl job "$1" | jq -r '"\(.submitted) \(.completed_at)"' | {
        read -r a b
        awk -v a="$(date -d "$a" +%s.%N)" -v b="$(date -d "$b" +%s.%N)" \
            'BEGIN { printf "%.3f", b - a }'
    }
}
best () { tr ' ' '\n' | sort -n | head -n 1; }
pars= sers=
for round in 1 2 3 4 5 6 7 8 9; do   #   best of nine: the machine may be busy
    id=$(ctl parallel --postprocess pi.process_samples 'pi.generate_sample 5000000' \
         'pi.generate_sample 5000000')
    pi=$(ctl wait "$id" --timeout 120s)
    pars="$pars $(elapsed "$id")"
    nodes=$(ctl job "$id" | jq -r '.children[]' | while read -r c; do ctl job "$c" | jq -r .node; done | sort -u | wc -l)
    [ "$nodes" = 2 ] || fail "the two children did not run on two nodes"
    id=$(ctl submit pi.generate_sample 10000000)
    one=$(ctl wait "$id" --timeout 120s)
    sers="$sers $(elapsed "$id")"
done
par=$(echo $pars | best)
ser=$(echo $sers | best)
echo "parallel 2 x 5,000,000 on 2 nodes: ${par}s (pi ~ $pi; best of:$pars)"
echo "single   1 x 10,000,000:           ${ser}s ($one; best of:$sers)"
awk -v p="$par" -v s="$ser" 'BEGIN { exit !(p < s) }' \
    || fail "the parallel job was not faster than the single one"

step "6. the same steps through the C client API (examples/quickstart/quickstart.c)"
"$build/bin/quickstart" "$endpoint" || fail "the C quickstart failed"

step "done: stopping the broker and the nodes"
