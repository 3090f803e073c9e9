#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 900
#
# t56-batch: a plan of 8 volumes over 3 servers in RegionOne, run by
# `rbdmove batch --parallel 3`: servers A and B have two volumes each and
# are moved with move-server (one cutover each); server C's four volumes
# are four move jobs to one destination server, whose cutovers must come
# one at a time. A stand-in guest writes into every volume until its
# detach, and every cutover is held 2 s (RBDMOVE_TEST_HOLD) so that
# cutovers that overlapped would show. The batch is killed with -9 once a
# job is done and others are in flight; status shows every job, resume
# finishes the rest. Then every volume is compared by content with its
# copy, and attached to the right server (C's destination is named by id in
# two jobs and by name in two: one turn all the same). Last, a batch of one
# job killed in its rounds is aborted: the volume is back on its server.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=$TEST_TMP/state
export VM_WRITER_SPAN=$((64 << 20))

# server REGION NAME: a new server's id (tracked by the caller: this runs
# in a subshell)
server() {
    os_server create "$1" "$(unique_name "$2")" || bail "cannot create a server in $1"
}
A=$(server $R1 t56-a) && SERVERS+=("$R1 $A")
B=$(server $R1 t56-b) && SERVERS+=("$R1 $B")
C=$(server $R1 t56-c) && SERVERS+=("$R1 $C")
A2=$(server $R2 t56-a2) && SERVERS+=("$R2 $A2")
B2=$(server $R2 t56-b2) && SERVERS+=("$R2 $B2")
C2_NAME=$(unique_name t56-c2)
C2=$(os_server create $R2 "$C2_NAME") && SERVERS+=("$R2 $C2")
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ -n "$A2" ] && [ -n "$B2" ] &&
    [ -n "$C2" ] || bail "cannot create the servers"

declare -A SRV_OF # volume -> its RegionOne server
vols=()
for s in A A B B C C C C; do
    v=$(new_volume "$(unique_name t56-$s)" 24M "${!s}") || bail "cannot make a volume"
    SRV_OF[$v]=$s
    vols+=("$v")
done
pass "8 volumes attached to 3 servers"

writers=()
for v in "${vols[@]}"; do
    /usr/bin/python3 "$HERE/vm_writer.py" "$CEPH1_CONF" "volumes/volume-$v" \
        1000000 "$v" $R1 600 >"$TEST_TMP/writer-$v" 2>&1 &
    writers+=($!)
done
for v in "${vols[@]}"; do
    wait_watched 1 "volumes/volume-$v" || fail "no writer on $v"
done

{
    batch_plan_defaults "max-downtime: 10"
    cat <<EOF
jobs:
  - move-server: $A
    dst-server: $A2
  - move-server: $B
    dst-server: $B2
EOF
} >"$TEST_TMP/plan.yaml"
# C2 by its id in two jobs and by its name in the other two: one server,
# one turn to cut over.
c2=$C2
for v in "${vols[@]}"; do
    [ "${SRV_OF[$v]}" = C ] || continue
    printf '  - move: %s\n    dst-server: %s\n' "$v" "$c2" >>"$TEST_TMP/plan.yaml"
    c2=$([ "$c2" = "$C2" ] && echo "$C2_NAME" || echo "$C2")
done

RBDMOVE_TEST_HOLD=attach-requested:2 "$RBDMOVE" batch --state-dir "$STATE" \
    --parallel 3 --bwlimit 3G --json "$TEST_TMP/plan.yaml" >"$TEST_TMP/b1.json" \
    2>"$TEST_TMP/b1.err" &
bpid=$!
bid=
for _ in $(seq 300); do
    bid=$(sed -n 's/^rbdmove: batch \([0-9A-Za-z-]*\) (journal.*/\1/p' "$TEST_TMP/b1.err")
    [ -n "$bid" ] && break
    sleep 0.1
done
[ -n "$bid" ] && pass "batch $bid started" || bail "no batch id: $(cat "$TEST_TMP/b1.err")"
# Kill it once one job is done and another is still running.
killed=
for _ in $(seq 3000); do
    if grep -q '^job\.[0-9]*\.state done$' "$STATE/$bid.journal" 2>/dev/null &&
        grep -q '^job\.[0-9]*\.state running$' "$STATE/$bid.journal"; then
        kill -9 $bpid && killed=1
        break
    fi
    kill -0 $bpid 2>/dev/null || break
    sleep 0.1
done
wait $bpid 2>/dev/null
[ -n "$killed" ] && pass "batch killed with -9, one job done and another running" ||
    fail "the batch was not killed in the middle: $(tail -5 "$TEST_TMP/b1.err")"

expect_success "status of the batch" rbdmove status --state-dir "$STATE" "$bid"
grep -q "^batch $bid" "$LAST_OUTPUT" && [ "$(grep -c '^  [0-9]' "$LAST_OUTPUT")" = 6 ] &&
    pass "... lists its 6 jobs" || fail "status: $(cat "$LAST_OUTPUT")"
grep -q ' done ' "$LAST_OUTPUT" && pass "... one of them done" ||
    fail "status: $(cat "$LAST_OUTPUT")"
grep -q "^batch $bid: stopped" "$LAST_OUTPUT" && ! grep -q ' running ' "$LAST_OUTPUT" &&
    pass "... and none running: the batch is gone" || fail "status: $(cat "$LAST_OUTPUT")"

RBDMOVE_TEST_HOLD=attach-requested:2 "$RBDMOVE" resume --state-dir "$STATE" \
    --json "$bid" >"$TEST_TMP/b2.json" 2>"$TEST_TMP/b2.err"
rc=$?
expect_equal "resume of the batch finishes it (exit 0)" 0 "$rc" ||
    echo "# $(tail -20 "$TEST_TMP/b2.err")"
done_line=$(grep '"event":"batch-done"' "$TEST_TMP/b2.json" | tail -1)
/usr/bin/python3 -c '
import json, sys
e = json.loads(sys.argv[1])
bad = [j for j in e["jobs"] if j["result"] != "done"]
sys.exit(1 if bad or len(e["jobs"]) != 6 else 0)' "$done_line" &&
    pass "the summary says all 6 jobs done" || fail "summary: $done_line"

for w in "${writers[@]}"; do
    wait "$w"
done

# Each job got its share of --bwlimit 3G (1G with 3 at once) when it
# started; the ones resumed kept it, from their own journals.
shares=0
for d in "$STATE/$bid.batch"/job-*; do
    grep -qx 'cli.bwlimit 1073741824' "$d"/*.journal && shares=$((shares + 1))
done
expect_equal "every job ran with its share of the batch's --bwlimit" 6 "$shares"

# Every source volume's copy, from the jobs' own journals.
declare -A DST_OF
for j in "$STATE/$bid.batch"/job-*/*.journal; do
    s=$(sed -n 's/^src.volume //p' "$j")
    d=$(sed -n 's/^dst.volume //p' "$j")
    [ -n "$s" ] && [ -n "$d" ] && DST_OF[$s]=$d
done
for v in "${vols[@]}"; do
    d=${DST_OF[$v]}
    [ -n "$d" ] || {
        fail "no copy of $v in the journals"
        continue
    }
    VOLUMES+=("$R2 $d")
    s=${SRV_OF[$v]}
    want=$(eval echo "\$${s}2")
    expect_equal "$s's volume $v: equal at the destination" \
        "$(image_checksum 1 "volumes/volume-$v")" \
        "$(image_checksum 2 "volumes/volume-$d")"
    expect_equal "$s's volume $v: attached to ${s}2" "in-use $want" \
        "$(volume_field $R2 "$d" status) $(volume_field $R2 "$d" attached.0 | cut -d' ' -f1)"
done

# One cutover at a time to C2: between a C job's detach and its end, no
# other C job detaches. From both runs' events, in the order they came.
cat "$TEST_TMP/b1.json" "$TEST_TMP/b2.json" | /usr/bin/python3 -c '
import json, sys
c_jobs = set(range(3, 7))
inside = None
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    j, ev = e.get("job"), e.get("event")
    if j not in c_jobs:
        continue
    if ev == "detach" and "detaching" in e.get("message", ""):
        if inside is not None and inside != j:
            print("job %d detached inside job %d cutover" % (j, inside))
            sys.exit(1)
        inside = j
    elif ev in ("done", "error") and inside == j:
        inside = None
' >"$TEST_TMP/overlap" && pass "the four cutovers to C2 came one at a time" ||
    fail "$(cat "$TEST_TMP/overlap")"

# ---- abort of a batch killed in its rounds --------------------------------------
v=$(new_volume "$(unique_name t56-ab)" 8M "$A") || bail "cannot make a volume"
{
    batch_plan_defaults
    cat <<EOF
jobs:
  - move: $v
    dst-server: $A2
EOF
} >"$TEST_TMP/plan2.yaml"
RBDMOVE_TEST_HOLD=seeded:60 "$RBDMOVE" batch --state-dir "$STATE" \
    "$TEST_TMP/plan2.yaml" >"$TEST_TMP/b3.out" 2>"$TEST_TMP/b3.err" &
bpid=$!
bid2=
for _ in $(seq 600); do
    bid2=$(sed -n 's/^rbdmove: batch \([0-9A-Za-z-]*\) (journal.*/\1/p' "$TEST_TMP/b3.err")
    [ -n "$bid2" ] && ls "$STATE/$bid2.batch/job-1/"*.journal >/dev/null 2>&1 &&
        grep -q '^phase replicating' "$STATE/$bid2.batch/job-1/"*.journal && break
    sleep 0.1
done
kill -9 $bpid
wait $bpid 2>/dev/null
[ -n "$bid2" ] && pass "second batch killed in its rounds" || fail "no batch: $(cat "$TEST_TMP/b3.err")"
d=$(sed -n 's/^dst.volume //p' "$STATE/$bid2.batch/job-1/"*.journal)
[ -n "$d" ] && VOLUMES+=("$R2 $d")
expect_success "abort of the batch" rbdmove abort --state-dir "$STATE" "$bid2"
expect_equal "the volume is attached to its server again" "in-use $A" \
    "$(volume_field $R1 "$v" status) $(volume_field $R1 "$v" attached.0 | cut -d' ' -f1)"
expect_success "status after the abort" rbdmove status --state-dir "$STATE" "$bid2"
grep -q "^batch $bid2: aborted" "$LAST_OUTPUT" && grep -q " aborted " <(sed 1,2d "$LAST_OUTPUT") &&
    pass "... the batch and its job aborted" || fail "status: $(cat "$LAST_OUTPUT")"
expect_failure "a resume of the aborted batch runs nothing" rbdmove resume \
    --state-dir "$STATE" "$bid2"

# A job that fails does not stop the others, and the exit status says one
# failed; with --fail-fast the rest are not started. Job 1 moves a volume
# that does not exist (its pre-flight refuses), job 2 syncs $v.
missing=$(unique_name t56-missing)
{
    batch_plan_defaults
    cat <<EOF2
jobs:
  - move: $missing
    dst-server: $A2
  - sync: $v
EOF2
} >"$TEST_TMP/plan3.yaml"
# batch_results OUT: "JOB:RESULT ..." from the batch-done event of OUT.
batch_results() {
    grep '"event":"batch-done"' "$1" | tail -1 | /usr/bin/python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
print(" ".join("%s:%s" % (j["job"], j["result"]) for j in e["jobs"]))'
}
expect_exit 1 "a batch with a failing job exits 1" rbdmove batch \
    --state-dir "$STATE" --parallel 1 --json "$TEST_TMP/plan3.yaml"
cp "$LAST_OUTPUT" "$TEST_TMP/b4.json"
copy=$(grep '"event":"done"' "$TEST_TMP/b4.json" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("dst_volume_id"):
        print(e["dst_volume_id"])' | head -1)
[ -n "$copy" ] && VOLUMES+=("$R2 $copy")
expect_equal "... after running the other job to the end" "1:failed 2:done" \
    "$(batch_results "$TEST_TMP/b4.json")"
grep -q "job 1 move $missing: failed: ..* (log " "$TEST_TMP/b4.json" &&
    pass "... and says why job 1 failed" ||
    fail "no reason: $(grep 'job 1' "$TEST_TMP/b4.json" | head -3)"
[ -n "$copy" ] && expect_equal "the synced copy equals its source at the base" \
    "$(image_checksum 1 "volumes/volume-$v@$(base_of 2 "volumes/volume-$copy")")" \
    "$(image_checksum 2 "volumes/volume-$copy@$(base_of 2 "volumes/volume-$copy")")" ||
    fail "no copy of $v from the sync job"
expect_exit 1 "with --fail-fast the batch stops at the failure" rbdmove batch \
    --state-dir "$STATE" --parallel 1 --fail-fast --json "$TEST_TMP/plan3.yaml"
expect_equal "... and never starts job 2" "1:failed 2:pending" \
    "$(batch_results "$LAST_OUTPUT")"
