#!/usr/bin/env bash
#   Quickstart step 2: subprocess.call runs a program in the node's working
#   directory. `openssl genrsa -out key.pem 1024` returns 0 and leaves a
#   valid key.pem there.
source "$(dirname "$0")/../helpers/lib.sh"
command -v openssl >/dev/null || am_fail "openssl is not installed"

am_broker_start
am_node_start node1

am_check "subprocess.call '[\"openssl\",\"genrsa\",\"-out\",\"key.pem\",\"1024\"]' returns 0"
[ ! -e "$AM_TMP/node1/key.pem" ] || am_fail "key.pem exists before the job ran"
id=$(am_ctl submit subprocess.call '["openssl","genrsa","-out","key.pem","1024"]')
am_say "job $id"
result=$(am_ctl wait "$id" --timeout 60s)
am_assert_eq "result of subprocess.call" 0 "$result"

am_check "key.pem is in the working directory of the node that ran the job"
node=$(am_job_field "$id" .node)
name=$(am_node_name "$node") || am_fail "job ran on node '$node', not one of ours"
key=$AM_TMP/$name/key.pem
[ -s "$key" ] || am_fail "$key does not exist (files there: $(ls "$AM_TMP/$name"))"

am_check "openssl rsa -check -noout -in key.pem passes"
openssl rsa -check -noout -in "$key" >"$AM_TMP/openssl.out" 2>&1 \
    || am_fail "openssl rsa -check failed: $(cat "$AM_TMP/openssl.out")"
am_say "PASS"
