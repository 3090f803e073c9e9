#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 1800
#
# t50-move: rbdmove move against the real two-region OpenStack lab, with a
# stand-in VM (vm_writer.py) that keeps writing into the volume until Nova
# detaches it. Then faults, each ending with the volume attached somewhere
# and nothing lost: kill -9 during the seed, during a round and during the
# cutover (before and after the final round, after the attach), then resume
# (and separately abort); the SSH connection cut mid-seed; the destination
# server deleted before the attach (rollback); Cinder in the destination
# refusing to create the volume; kill -9 once Nova took the detach or the
# attach request (resume, and abort); `move --server` (two volumes, one
# cutover), and the same killed with one volume detached and the other
# detaching, then resumed.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=$TEST_TMP/state

# Every server the test uses, made at once; tmp_srv is deleted by the
# test itself (its removal at exit then finds it gone).
os_servers src_srv $R1 "$(unique_name t50-src)" \
    dst_srv $R2 "$(unique_name t50-dst)" \
    tmp_srv $R2 "$(unique_name t50-gone)" \
    grp_src $R1 "$(unique_name t50-grp)" \
    grp_dst $R2 "$(unique_name t50-grpdst)"

# move VOLUME [options...]
move() {
    local vol=$1
    shift
    rbdmove move --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --dst-server "$dst_srv" \
        --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
        --state-dir "$STATE" --progress never "$@" "$vol"
}
# check_moved SRCVOL DSTVOL TITLE: data equal, dst attached to dst_srv,
# src detached, no temporary snapshots left
check_moved() {
    expect_equal "$3: data equal" \
        "$(image_checksum 1 "volumes/volume-$1")" \
        "$(image_checksum 2 "volumes/volume-$2")"
    expect_equal "$3: destination attached to the destination server" \
        "in-use $dst_srv" \
        "$(volume_field $R2 "$2" status) $(volume_field $R2 "$2" attached.0 | cut -d' ' -f1)"
    expect_equal "$3: source detached" available "$(volume_field $R1 "$1" status)"
    expect_equal "$3: no temporary snapshots left" "0 0" \
        "$(rbdmove_snaps 1 "volumes/volume-$1") $(rbdmove_snaps 2 "volumes/volume-$2")"
}

# held_move POINT:SECONDS VOL LOG [OPTION...]: start a move of VOL in the
# background that pauses at POINT (RBDMOVE_TEST_HOLD, see migrate.h) for a
# fault to be injected there; to $MOVE_DST if set, else dst_srv. Sets mpid
# (its pid) and mid (its id).
held_move() {
    local hold=$1 vol=$2 log=$3
    shift 3
    RBDMOVE_TEST_HOLD=$hold "$RBDMOVE" move --os-cloud rbdmove-demo \
        --os-region-name $R1 --dst-os-region-name $R2 \
        --dst-server "${MOVE_DST:-$dst_srv}" --src-conf "$CEPH1_CONF" \
        --dst-conf "$CEPH2_CONF" --state-dir "$STATE" --progress never \
        "$@" "$vol" >"$log" 2>&1 &
    mpid=$!
    mid=$(bg_id "$log")
}

# kill_held PHASE: once the held move reaches PHASE, kill -9 it. Sets mdst
# (its destination volume, queued for removal); fails if PHASE never came.
kill_held() {
    local rc=0
    wait_phase "$mid" "$1" || rc=1
    kill_move
    return $rc
}

# kill_at POINT: once the held move says it holds at POINT (a point that
# is not a phase: detach-requested, attach-requested), kill -9 it. Sets
# mdst like kill_held.
kill_at() {
    local rc=1
    for _ in $(seq 1200); do
        grep -q "holding at $1 " "$STATE/$mid.log" 2>/dev/null && rc=0 && break
        sleep 0.1
    done
    kill_move
    return $rc
}

# kill_move: kill -9 the held move (mpid); mdst gets its destination
# volume, queued for removal.
kill_move() {
    kill -9 $mpid
    wait $mpid 2>/dev/null
    mdst=$(dst_of "$mid")
    [ -n "$mdst" ] && VOLUMES+=("$R2 $mdst")
}

# release_sources: delete the source volumes made so far (the lab's quota
# of volumes per project is finite); those still in use stay tracked.
release_sources() {
    local v
    [ -f "$TEST_TMP/volumes" ] || return 0
    while read -r v; do
        "$TOOL" --os-cloud rbdmove-lab --os-region-name "${v%% *}" \
            volume-delete "${v#* }" >/dev/null 2>&1 || echo "$v"
    done <"$TEST_TMP/volumes" >"$TEST_TMP/volumes.kept"
    mv "$TEST_TMP/volumes.kept" "$TEST_TMP/volumes"
}

# ---- a move while the server keeps writing ------------------------------------
v1=$(new_volume "$(unique_name t50-live)" 128M) || bail "cannot make a volume"
/usr/bin/python3 "$HERE/vm_writer.py" "$CEPH1_CONF" "volumes/volume-$v1" \
    4000000 "$v1" $R1 300 >"$TEST_TMP/writer1" 2>&1 &
wpid=$!
wait_watched 1 "volumes/volume-$v1"
expect_success "move an attached volume while it is written to" \
    move "$v1" --json
cp "$LAST_OUTPUT" "$TEST_TMP/move1"
wait $wpid
written=$(tail -n 1 "$TEST_TMP/writer1")
[ "${written:-0}" -gt 0 ] && pass "the writer wrote until the detach ($written bytes)" ||
    fail "the writer did not run: $(cat "$TEST_TMP/writer1")"
d1=$(json_event "$TEST_TMP/move1" done dst_volume_id)
VOLUMES+=("$R2 $d1")
check_moved "$v1" "$d1" "live move"
dt=$(json_event "$TEST_TMP/move1" done downtime_s)
[ "$dt" != None ] && pass "done event reports the downtime ($dt s)" ||
    fail "no downtime in the done event"
grep -q '"event":"verify"' "$TEST_TMP/move1" && pass "verification reported" ||
    fail "no verify event"
expect_equal "source marked as moved" moved "$(volume_field $R1 "$v1" meta.rbdmove.state)"
id1=$(move_id "$TEST_TMP/move1")
expect_success "status lists the move" rbdmove status --state-dir "$STATE"
grep -q "$id1  done" "$LAST_OUTPUT" && pass "status says done" || fail "status"
expect_failure "resume of a finished move is refused" \
    rbdmove resume --state-dir "$STATE" "$id1"
grep -q "is already done" "$LAST_OUTPUT" && ! grep -q "goes on" "$LAST_OUTPUT" &&
    pass "... saying it is done, without offering to go on" ||
    fail "resume of a done move: $(tail -2 "$LAST_OUTPUT")"

# ---- a damaged journal is refused and left as it is -------------------------------
# Issue 11: resume removed a journal it could not make sense of. The finished
# move's journal with one line changed: its checksum no longer matches.
cp "$STATE/$id1.journal" "$TEST_TMP/journal1.good"
sed -i 's/^phase done$/phase dome/' "$STATE/$id1.journal"
cp "$STATE/$id1.journal" "$TEST_TMP/journal1.damaged"
expect_failure "resume of a damaged journal is refused" \
    rbdmove resume --state-dir "$STATE" "$id1"
grep -q "journal $id1 is damaged" "$LAST_OUTPUT" && pass "resume says the journal is damaged" ||
    fail "resume did not say the journal is damaged"
cmp -s "$STATE/$id1.journal" "$TEST_TMP/journal1.damaged" && [ -f "$STATE/$id1.log" ] &&
    pass "the damaged journal and its log are left as they are" ||
    fail "the damaged journal or its log was changed"
cp "$TEST_TMP/journal1.good" "$STATE/$id1.journal"

# ---- kill -9 during the seed, then resume ----------------------------------------
v2=$(new_volume "$(unique_name t50-seed)" 192M) || bail "cannot make a volume"
"$RBDMOVE" move --os-cloud rbdmove-demo --os-region-name $R1 \
    --dst-os-region-name $R2 --dst-server "$dst_srv" --src-conf "$CEPH1_CONF" \
    --dst-conf "$CEPH2_CONF" --state-dir "$STATE" --progress never \
    --bwlimit 24M --checkpoint 8M "$v2" >"$TEST_TMP/m2" 2>&1 &
mpid=$!
id2=$(bg_id "$TEST_TMP/m2")
for _ in $(seq 600); do
    d2=$(dst_of "$id2" 2>/dev/null)
    [ -n "$d2" ] && rbd2 image-meta get "volumes/volume-$d2" rbdmove.seed 2>/dev/null |
        grep -q 'done=[1-9]' && break
    sleep 0.1
done
kill -9 $mpid
wait $mpid 2>/dev/null
[ -n "$d2" ] && VOLUMES+=("$R2 $d2")
expect_equal "killed during the seed" replicating "$(phase_of "$id2")"
expect_equal "...the source is still attached" in-use "$(volume_field $R1 "$v2" status)"
expect_success "resume after kill -9 in the seed" \
    rbdmove resume --state-dir "$STATE" --progress never -v "$id2"
grep -q "resuming the seed" "$LAST_OUTPUT" && pass "the seed resumed where it stopped" ||
    fail "the seed started again from zero"
check_moved "$v2" "$d2" "resumed seed"

# ---- kill -9 during a round, then resume -----------------------------------------
# seeded_round VOL LOG MOVE-OPTIONS...: start a move that pauses after its
# seed, write 48 MiB into the source meanwhile, and return once the round
# that moves them is streaming (at 8 MiB/s); sets mpid, mid and mdst.
seeded_round() {
    local vol=$1 log=$2
    shift 2
    held_move seeded:8 "$vol" "$log" --bwlimit 8M "$@"
    mdst=""
    for _ in $(seq 600); do
        mdst=$(dst_of "$mid" 2>/dev/null)
        [ -n "$mdst" ] && rbd2 image-meta get "volumes/volume-$mdst" rbdmove.base \
            >/dev/null 2>&1 && break
        sleep 0.1
    done
    [ -n "$mdst" ] && VOLUMES+=("$R2 $mdst")
    write_random 1 "volumes/volume-$vol" 0 48M || fail "cannot write into the source"
    for _ in $(seq 300); do
        rbd2 image-meta get "volumes/volume-$mdst" rbdmove.pending >/dev/null 2>&1 &&
            break
        sleep 0.1
    done
    # The round is streaming (48 MiB at 8 MiB/s, in offset order): past the
    # 16 MiB the seed wrote.
    wait_head_used 2 "volumes/volume-$mdst" $((16 << 20))
}
v10=$(new_volume "$(unique_name t50-round)" 16M) || bail "cannot make a volume"
seeded_round "$v10" "$TEST_TMP/m10"
rbd2 image-meta get "volumes/volume-$mdst" rbdmove.pending >/dev/null 2>&1 &&
    pass "killed during a round" || fail "no round in progress"
kill -9 $mpid
wait $mpid 2>/dev/null
expect_equal "killed in a round: source still attached" in-use \
    "$(volume_field $R1 "$v10" status)"
expect_success "resume after kill -9 in a round" \
    rbdmove resume --state-dir "$STATE" --progress never -v "$mid"
grep -q "finishing the interrupted round" "$LAST_OUTPUT" &&
    pass "the interrupted round was finished" ||
    fail "no interrupted round: $(tail -5 "$LAST_OUTPUT")"
check_moved "$v10" "$mdst" "resumed round"

# ---- the SSH connection cut mid-round, then resume --------------------------------
# The receiver runs on the lab's sshd; its sessions are killed while a round
# streams: the move stops with the source still attached, and resumes.
v11=$(new_volume "$(unique_name t50-ssh)" 16M) || bail "cannot make a volume"
seeded_round "$v11" "$TEST_TMP/m11" --ssh "$SSH_TARGET" -i "$SSH_KEY" \
    --known-hosts "$SSH_KNOWN_HOSTS" --remote-rbdmove "$RBDMOVE"
# shellcheck disable=SC2046 # one pid per word
sess=$(kill_sessions $(pgrep -f " receive --(serve|join) "))
[ -n "${sess// /}" ] && pass "ssh sessions cut mid-round" ||
    fail "no receiver session to cut"
wait $mpid
rc=$?
cp "$TEST_TMP/m11" "$LAST_OUTPUT"
[ $rc -ne 0 ] && [ $rc -lt 128 ] && pass "the move fails when the connection drops" ||
    fail "exit status $rc"
grep -qi "connection .*lost\|remote command .* killed\|lost the connection\|receiver" \
    "$TEST_TMP/m11" && pass "says the connection was lost" ||
    fail "message: $(tail -3 "$TEST_TMP/m11")"
expect_equal "connection cut: source still attached" in-use \
    "$(volume_field $R1 "$v11" status)"
expect_equal "connection cut: still replicating" replicating "$(phase_of "$mid")"
expect_success "resume after the connection was cut" \
    rbdmove resume --state-dir "$STATE" --progress never "$mid"
check_moved "$v11" "$mdst" "resumed over SSH"

# ---- kill -9 during the cutover, then resume -------------------------------------
v3=$(new_volume "$(unique_name t50-cut)" 32M) || bail "cannot make a volume"
held_move detached:60 "$v3" "$TEST_TMP/m3"
id3=$mid
kill_held detached && pass "reached the cutover" || fail "no cutover"
d3=$mdst
expect_equal "killed with the source detached" available "$(volume_field $R1 "$v3" status)"
expect_success "resume after kill -9 in the cutover" \
    rbdmove resume --state-dir "$STATE" --progress never "$id3"
check_moved "$v3" "$d3" "resumed cutover"

# ---- kill -9 during the cutover, then abort --------------------------------------
v4=$(new_volume "$(unique_name t50-abort)" 32M) || bail "cannot make a volume"
sum4=$(image_checksum 1 "volumes/volume-$v4")
held_move detached:60 "$v4" "$TEST_TMP/m4"
id4=$mid
kill_held detached || fail "no cutover"
d4=$mdst
expect_success "abort after kill -9 in the cutover" \
    rbdmove abort --state-dir "$STATE" "$id4"
expect_equal "abort: source attached to its server again" "in-use $src_srv" \
    "$(volume_field $R1 "$v4" status) $(volume_field $R1 "$v4" attached.0 | cut -d' ' -f1)"
expect_equal "abort: destination volume deleted" "" "$(volume_field $R2 "$d4" id)"
expect_equal "abort: no temporary snapshots on the source" 0 \
    "$(rbdmove_snaps 1 "volumes/volume-$v4")"
expect_equal "abort: source data unchanged" "$sum4" \
    "$(image_checksum 1 "volumes/volume-$v4")"
expect_equal "abort: phase recorded" aborted "$(phase_of "$id4")"

release_sources

# ---- kill -9 after the final round, before the attach, then resume ---------------
# The final round writes the source head straight into the destination head
# (no snapshot): a rerun must accept that head and redo the round.
v7=$(new_volume "$(unique_name t50-final)" 16M) || bail "cannot make a volume"
held_move attaching:60 "$v7" "$TEST_TMP/m7"
id7=$mid
kill_held attaching && pass "reached the attach" || fail "no attach"
d7=$mdst
expect_success "resume after kill -9 between the final round and the attach" \
    rbdmove resume --state-dir "$STATE" --progress never "$id7"
check_moved "$v7" "$d7" "resumed before the attach"

# ---- the same, but the source is put back and written to before the resume -------
# The resume goes back to rounds over a destination whose head holds an
# abandoned final round: the next round from the base must cover it.
v8=$(new_volume "$(unique_name t50-back)" 16M) || bail "cannot make a volume"
held_move attaching:60 "$v8" "$TEST_TMP/m8"
id8=$mid
kill_held attaching || fail "no attach"
d8=$mdst
osc --os-region-name $R1 attach "$src_srv" "$v8" >"$TEST_TMP/att8" 2>&1 &&
    pass "source attached again by hand" || fail "attach: $(cat "$TEST_TMP/att8")"
write_random 1 "volumes/volume-$v8" 8M 4M || fail "cannot write into the source"
expect_success "resume after the source was written to again" \
    rbdmove resume --state-dir "$STATE" --progress never -v "$id8"
grep -q "round 1 started (rbdmove-" "$LAST_OUTPUT" && pass "the resume went back to rounds" ||
    fail "no round after the source came back: $(tail -5 "$LAST_OUTPUT")"
check_moved "$v8" "$d8" "resumed after the source came back"

# ---- kill -9 after the attach, the new server writes, then resume ----------------
# The destination is the server's now: the resume only tidies up. It must
# not take the image's lock (the writer would stall) nor refuse the new data.
v9=$(new_volume "$(unique_name t50-tidy)" 16M) || bail "cannot make a volume"
held_move attached:60 "$v9" "$TEST_TMP/m9"
id9=$mid
kill_held attached && pass "reached the end of the cutover" || fail "no attach"
d9=$mdst
expect_equal "the destination's lock was given up before the attach" "[]" \
    "$(rbd2 lock ls --format json "volumes/volume-$d9" 2>&1)"
write_random 2 "volumes/volume-$d9" 0 4M || fail "the new server cannot write"
sum9=$(image_checksum 2 "volumes/volume-$d9")
expect_success "resume after kill -9 after the attach" \
    rbdmove resume --state-dir "$STATE" --progress never "$id9"
expect_equal "tidy resume: phase done" done "$(phase_of "$id9")"
expect_equal "tidy resume: no temporary snapshots left" "0 0" \
    "$(rbdmove_snaps 1 "volumes/volume-$v9") $(rbdmove_snaps 2 "volumes/volume-$d9")"
expect_equal "tidy resume: the new server's data untouched" "$sum9" \
    "$(image_checksum 2 "volumes/volume-$d9")"

# ---- kill -9 once Nova took the detach request, then resume ----------------------
# Nova detaches the source after rbdmove is gone: the resume must not ask
# again (Nova refuses a volume that is not attached) nor roll back.
v12=$(new_volume "$(unique_name t50-detreq)" 16M) || bail "cannot make a volume"
held_move detach-requested:60 "$v12" "$TEST_TMP/m12"
kill_at detach-requested && pass "killed after the detach request" ||
    fail "no detach request: $(tail -3 "$TEST_TMP/m12")"
expect_success "resume after kill -9 after the detach request" \
    rbdmove resume --state-dir "$STATE" --progress never "$mid"
grep -q "downtime is not known" "$LAST_OUTPUT" &&
    pass "no downtime counted from the resume" ||
    fail "summary: $(tail -1 "$LAST_OUTPUT")"
check_moved "$v12" "$mdst" "resumed after the detach request"

# ---- kill -9 once Nova took the attach request, then resume ----------------------
# The destination becomes attached after rbdmove is gone: the resume must
# see it attached, not run the final round into it nor attach it twice.
v13=$(new_volume "$(unique_name t50-attreq)" 16M) || bail "cannot make a volume"
held_move attach-requested:60 "$v13" "$TEST_TMP/m13"
kill_at attach-requested && pass "killed after the attach request" ||
    fail "no attach request: $(tail -3 "$TEST_TMP/m13")"
expect_success "resume after kill -9 after the attach request" \
    rbdmove resume --state-dir "$STATE" --progress never -v "$mid"
if grep -q "final: final round" "$LAST_OUTPUT"; then
    fail "the resume ran the final round into an attached volume"
else
    pass "the resume found the destination attached"
fi
grep -q "downtime is not known" "$LAST_OUTPUT" &&
    pass "no downtime made up for a cutover begun before the kill" ||
    fail "summary: $(tail -1 "$LAST_OUTPUT")"
check_moved "$v13" "$mdst" "resumed after the attach request"
expect_equal "the destination attached once" "" \
    "$(volume_field $R2 "$mdst" attached.1)"

# ---- the same, then abort ----------------------------------------------------------
# The destination's attach is undone before the source goes back: never
# two servers with a copy each.
v14=$(new_volume "$(unique_name t50-attabort)" 16M) || bail "cannot make a volume"
sum14=$(image_checksum 1 "volumes/volume-$v14")
held_move attach-requested:60 "$v14" "$TEST_TMP/m14"
kill_at attach-requested || fail "no attach request: $(tail -3 "$TEST_TMP/m14")"
expect_success "abort after kill -9 after the attach request" \
    rbdmove abort --state-dir "$STATE" "$mid"
grep -q "rollback: detaching volume $mdst" "$STATE/$mid.log" &&
    pass "abort after the attach: the destination detached first" ||
    fail "abort after the attach: $(tail -3 "$STATE/$mid.log")"
expect_equal "abort after the attach: source attached to its server again" \
    "in-use $src_srv" \
    "$(volume_field $R1 "$v14" status) $(volume_field $R1 "$v14" attached.0 | cut -d' ' -f1)"
expect_equal "abort after the attach: destination volume deleted" "" \
    "$(volume_field $R2 "$mdst" id)"
expect_equal "abort after the attach: source data unchanged" "$sum14" \
    "$(image_checksum 1 "volumes/volume-$v14")"

release_sources

# ---- the destination server deleted before the attach: rollback -----------------
v5=$(new_volume "$(unique_name t50-rollback)" 16M) || bail "cannot make a volume"
MOVE_DST=$tmp_srv held_move attaching:20 "$v5" "$TEST_TMP/m5"
id5=$mid
wait_phase "$id5" attaching || fail "did not reach the attach"
os_server delete $R2 "$tmp_srv" >/dev/null 2>&1
wait $mpid
rc=$?
d5=$(dst_of "$id5")
VOLUMES+=("$R2 $d5")
[ $rc -ne 0 ] && [ $rc -lt 128 ] && pass "the move fails when the attach fails" ||
    fail "exit status $rc"
grep -q "attached to server $src_srv again" "$TEST_TMP/m5" &&
    pass "says the source was put back" || fail "message: $(tail -3 "$TEST_TMP/m5")"
expect_equal "rollback: source attached to its server again" "in-use $src_srv" \
    "$(volume_field $R1 "$v5" status) $(volume_field $R1 "$v5" attached.0 | cut -d' ' -f1)"
expect_equal "rollback: recorded" rolled-back "$(phase_of "$id5")"
expect_success "abort after the rollback cleans up" \
    rbdmove abort --state-dir "$STATE" "$id5"

# ---- Cinder refuses to create the destination volume ----------------------------
v6=$(new_volume "$(unique_name t50-quota)" 0) || bail "cannot make a volume"
if [ -n "$RBM_ADMIN_PASSWORD" ]; then
    RBDMOVE_TEST_HOLD=new:8 "$RBDMOVE" move --os-cloud rbdmove-demo \
        --os-region-name $R1 --dst-os-region-name $R2 --dst-server "$dst_srv" \
        --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" --state-dir "$STATE" \
        --progress never "$v6" >"$TEST_TMP/m6" 2>&1 &
    mpid=$!
    id6=$(bg_id "$TEST_TMP/m6")
    wait_phase "$id6" new
    os_volume_quota $R2 0
    wait $mpid
    rc=$?
    os_volume_quota $R2 -1
    [ $rc -ne 0 ] && [ $rc -lt 128 ] && pass "a refused volume create fails the move" ||
        fail "exit status $rc"
    grep -qi "creating the destination volume" "$TEST_TMP/m6" &&
        pass "says Cinder refused the volume" || fail "message: $(tail -3 "$TEST_TMP/m6")"
    expect_equal "nothing changed: source still attached" in-use \
        "$(volume_field $R1 "$v6" status)"
    expect_equal "nothing changed: no destination volume recorded" "" "$(dst_of "$id6")"
else
    fail "the admin password (OS_PASSWORD) is not in the lab's environment"
fi

# ---- operator mistakes: the wrong destination cluster or pool -------------------
# Cinder makes the destination volume's image on its own cluster: rbdmove
# must find it where --dst-conf and --dst-pool say, never make one of its
# own elsewhere. Each mistake is refused before anything is written, the
# volume it had asked Cinder for is deleted again, the source stays on its
# server, and no image is left on the cluster it was wrongly pointed at.
v7=$(new_volume "$(unique_name t50-wrong)" 8M) || bail "cannot make a volume"
sum7=$(image_checksum 1 "volumes/volume-$v7")
# wrong_dst TITLE OPTION...: one mistake, and what must (not) follow
wrong_dst() {
    local title=$1 out id d
    shift
    out=$TEST_TMP/wrong.$((++wrong_n))
    rbdmove move --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --dst-server "$dst_srv" \
        --src-conf "$CEPH1_CONF" --state-dir "$STATE" --progress never \
        "$@" "$v7" >"$out" 2>&1
    rc=$?
    id=$(move_id "$out")
    d=$(dst_of "$id")
    [ -n "$d" ] && VOLUMES+=("$R2 $d")
    [ $rc -ne 0 ] && [ $rc -lt 128 ] && pass "$title: refused" ||
        fail "$title: exit status $rc"
    grep -q "nothing was written" "$out" &&
        grep -q "was deleted again" "$out" &&
        pass "$title: says nothing was written and the volume went again" ||
        fail "$title: message: $(tail -3 "$out")"
    expect_equal "$title: the source is still on its server" "in-use $src_srv" \
        "$(volume_field $R1 "$v7" status) $(volume_field $R1 "$v7" attached.0 | cut -d' ' -f1)"
    expect_equal "$title: the journal says aborted" aborted "$(phase_of "$id")"
    [ -n "$d" ] && ! "$TOOL" --os-cloud rbdmove-demo --os-region-name $R2 \
        volume-show "$d" >/dev/null 2>&1 &&
        pass "$title: the destination volume is gone" ||
        fail "$title: destination volume '$d' still there"
    expect_equal "$title: no image made on the wrong cluster" "" \
        "$(rbdc 1 ls volumes | grep -x "volume-$d")$(rbdc 2 ls other | grep -x "volume-$d")"
}
wrong_n=0
wrong_dst "--dst-conf naming the source's cluster" --dst-conf "$CEPH1_CONF"
wrong_dst "--dst-pool naming another pool" --dst-conf "$CEPH2_CONF" \
    --dst-pool other
expect_equal "the source's data is as it was" "$sum7" \
    "$(image_checksum 1 "volumes/volume-$v7")"
expect_exit 2 "--delete-source with --no-full-verify is a usage error" \
    move "$v7" --delete-source --no-full-verify

# ---- every data volume of a server, with one cutover ------------------------------
release_sources
ga=$(new_volume "$(unique_name t50-ga)" 0) || bail "cannot make a volume"
gb=$(new_volume "$(unique_name t50-gb)" 0) || bail "cannot make a volume"
for v in "$ga" "$gb"; do
    osc --os-region-name $R1 detach "$src_srv" "$v" >/dev/null 2>&1
    osc --os-region-name $R1 attach "$grp_src" "$v" >/dev/null 2>&1 ||
        fail "cannot attach $v to the group's server"
    write_random 1 "volumes/volume-$v" 0 12M
done
# A group whose pre-flight fails changed nothing: its journals go, as a
# single move's do.
n_journals=$(find "$STATE" -name '*.journal' | wc -l)
expect_exit 1 "move --server to a server that does not exist is refused" \
    rbdmove move --os-cloud rbdmove-demo --os-region-name $R1 \
    --dst-os-region-name $R2 --dst-server no-such-server-t50 \
    --server "$grp_src" --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    --state-dir "$STATE" --progress never
grep -q "nothing was changed" "$LAST_OUTPUT" &&
    pass "... saying that nothing was changed" ||
    fail "refused group: $(tail -3 "$LAST_OUTPUT")"
expect_equal "... and leaving no journal behind" "$n_journals" \
    "$(find "$STATE" -name '*.journal' | wc -l)"
expect_success "move --server moves both data volumes with one cutover" \
    rbdmove move --os-cloud rbdmove-demo --os-region-name $R1 \
    --dst-os-region-name $R2 --dst-server "$grp_dst" --server "$grp_src" \
    --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" --state-dir "$STATE" \
    --progress never --json
cp "$LAST_OUTPUT" "$TEST_TMP/mg"
python3 - "$TEST_TMP/mg" >"$TEST_TMP/pairs" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        e = json.loads(line)
        if e.get("event") == "done":
            for v in e["volumes"]:
                print(v["src_volume_id"], v["dst_volume_id"])
PY
expect_equal "the done event lists both volumes" 2 "$(wc -l <"$TEST_TMP/pairs")"
while read -r s d; do
    VOLUMES+=("$R2 $d")
    expect_equal "group: $s equal at the destination" \
        "$(image_checksum 1 "volumes/volume-$s")" \
        "$(image_checksum 2 "volumes/volume-$d")"
    expect_equal "group: $d attached to the destination server" \
        "in-use $grp_dst" \
        "$(volume_field $R2 "$d" status) $(volume_field $R2 "$d" attached.0 | cut -d' ' -f1)"
done <"$TEST_TMP/pairs"

# ---- move --server killed in the middle of its cutover, then resume ---------------
# The group's first volume is detached, the second only asked to detach: a
# resume of the group finishes each from where it stopped, with one cutover.
gc=$(new_volume "$(unique_name t50-gc)" 0) || bail "cannot make a volume"
gd=$(new_volume "$(unique_name t50-gd)" 0) || bail "cannot make a volume"
for v in "$gc" "$gd"; do
    osc --os-region-name $R1 detach "$src_srv" "$v" >/dev/null 2>&1
    osc --os-region-name $R1 attach "$grp_src" "$v" >/dev/null 2>&1 ||
        fail "cannot attach $v to the group's server"
    write_random 1 "volumes/volume-$v" 4M 8M
done
RBDMOVE_TEST_HOLD=detached:60 "$RBDMOVE" move --os-cloud rbdmove-demo \
    --os-region-name $R1 --dst-os-region-name $R2 --dst-server "$grp_dst" \
    --server "$grp_src" --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    --state-dir "$STATE" --progress never >"$TEST_TMP/mgk" 2>&1 &
mpid=$!
gid=$(bg_id "$TEST_TMP/mgk") || fail "no group id: $(cat "$TEST_TMP/mgk")"
# Values are stored %-escaped: the list's commas are "%2C".
members=$(sed -n 's/^group.members //p' "$STATE/$gid.journal" | sed 's/%2C/ /g')
held=
for _ in $(seq 1200); do
    for m in $members; do
        [ "$(phase_of "$m")" = detached ] && held=$m
    done
    [ -n "$held" ] && break
    sleep 0.1
done
kill -9 $mpid
wait $mpid 2>/dev/null
[ -n "$held" ] && pass "group killed with one volume detached" ||
    fail "the group never reached its cutover: $(tail -3 "$TEST_TMP/mgk")"
for m in $members; do
    d=$(dst_of "$m")
    [ -n "$d" ] && VOLUMES+=("$R2 $d")
done
expect_success "resume of the group after kill -9 in its cutover" \
    rbdmove resume --state-dir "$STATE" --progress never "$gid"
grep -q "downtime is not known" "$LAST_OUTPUT" &&
    pass "resumed group: no downtime made up" ||
    fail "summary: $(tail -1 "$LAST_OUTPUT")"
for m in $members; do
    s=$(sed -n 's/^src.volume //p' "$STATE/$m.journal")
    d=$(dst_of "$m")
    expect_equal "resumed group: phase of $m" done "$(phase_of "$m")"
    expect_equal "resumed group: $s equal at the destination" \
        "$(image_checksum 1 "volumes/volume-$s")" \
        "$(image_checksum 2 "volumes/volume-$d")"
    expect_equal "resumed group: $d attached to the destination server" \
        "in-use $grp_dst" \
        "$(volume_field $R2 "$d" status) $(volume_field $R2 "$d" attached.0 | cut -d' ' -f1)"
    expect_equal "resumed group: $s detached" available "$(volume_field $R1 "$s" status)"
    expect_equal "resumed group: no temporary snapshots left" "0 0" \
        "$(rbdmove_snaps 1 "volumes/volume-$s") $(rbdmove_snaps 2 "volumes/volume-$d")"
done
