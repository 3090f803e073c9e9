#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 600
# rbdmove copy and verify to ssh:// destinations through the lab sshd: seed
# and incremental rounds equal by content, parallel streams, compression,
# a rate limit, the compatibility mode (--receiver=rbd: plain rbd
# import-diff there), host key and key refusals, a missing receiver, and a
# connection killed mid-stream (no to-snap left; a later copy succeeds).
. "$(dirname "$0")/lib.sh"
lab_require ceph sshd

T=$TEST_TMP
# The remote command line runs in the ssh user's home: an absolute path.
REMOTE_RBDMOVE=$(readlink -f "$(command -v "$RBDMOVE")")
URL=ssh://$SSH_USER@$SSH_HOST:$SSH_PORT
FINGERPRINT=$(ssh-keygen -lf "$SSH_HOST_KEY_PUB" | awk '{ print $2 }')

# scopy [OPTIONS...] SRC DST_IMAGE: copy to DST_IMAGE on cluster 2 over ssh
# with the lab's key and known_hosts (options given later win).
scopy() {
    local n=$(($# - 1))
    rbdmove copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
        --progress never -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
        --remote-rbdmove "$REMOTE_RBDMOVE" "${@:1:n}" "$URL/${!#}"
}
# sverify [OPTIONS...] SRC@SNAP DST_IMAGE@SNAP
sverify() {
    local n=$(($# - 1))
    rbdmove verify --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
        --progress never -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
        --remote-rbdmove "$REMOTE_RBDMOVE" "${@:1:n}" "$URL/${!#}"
}
# expect_same_at_base TITLE SRC DST: one rbdmove snapshot on DST, also on
# SRC (which may hold the bases of other copies too), equal there
expect_same_at_base() {
    local b
    b=$(base_of 2 "$3")
    expect_equal "$1: one base snapshot on the destination" 1 \
        "$(echo "$b" | wc -w)"
    case " $(base_of 1 "$2") " in
    *" $b "*) pass "$1: the same base on the source" ;;
    *) fail "$1: base '$b' is not on the source" ;;
    esac
    expect_equal "$1: equal by content at the base" \
        "$(image_checksum 1 "$2@$b")" "$(image_checksum 2 "$3@$b")"
}
# expect_grep TITLE PATTERN: the last command's output matches
expect_grep() {
    grep -q -- "$2" "$LAST_OUTPUT" && pass "$1" || {
        fail "$1"
        echo "#   pattern: $2"
        sed 's/^/#     /' "$LAST_OUTPUT" | tail -n 20
    }
}
image_absent() {
    ! rbd2 info "$1" >/dev/null 2>&1
}
# new_dst PREFIX: a fresh destination name on cluster 2 in $NEW, removed
# at exit (not in a subshell: unique_name and track_image keep state).
new_dst() {
    NEW=volumes/$(unique_name "$1")
    track_image 2 "$NEW"
}

# ---- seed and incremental rounds, default streams ---------------------------
src=volumes/$(unique_name src)
make_image 1 "$src" 128M
write_random 1 "$src" 0 24M
write_random 1 "$src" 80M 8M
new_dst dst
dst=$NEW
expect_success "seed over ssh" scopy --json "$src" "$dst"
expect_same_at_base "seed" "$src" "$dst"
base=$(base_of 2 "$dst")
write_random 1 "$src" 40M 2M
expect_success "incremental copy over ssh" scopy --json "$src" "$dst"
moved=$(json_event "$LAST_OUTPUT" round_done data_bytes)
[ "$moved" -ge 2097152 ] && [ "$moved" -le 2306867 ] &&
    pass "the round moved only the 2 MiB delta ($moved bytes)" ||
    fail "the round moved $moved bytes for a 2 MiB change"
expect_same_at_base "incremental" "$src" "$dst"
[ "$(base_of 2 "$dst")" != "$base" ] && pass "a new base replaced the old" ||
    fail "the base did not move"
expect_success "a copy with nothing changed" scopy --json "$src" "$dst"
expect_equal "no round when nothing changed" 0 \
    "$(json_event "$LAST_OUTPUT" "done" rounds)"
expect_success "copy --verify over ssh" scopy --verify "$src" "$dst"
expect_grep "... says it verified" "verified equal"

# ---- one stream and three streams --------------------------------------------
for n in 1 3; do
    new_dst "streams$n"
    d=$NEW
    expect_success "--streams $n: seed" scopy --json --streams "$n" "$src" "$d"
    expect_same_at_base "--streams $n seed" "$src" "$d"
    # Each stream walks all the extents: they count once, not n times (a
    # move plans its final round on the rate they give).
    ext=$(json_event "$LAST_OUTPUT" round_done extent_bytes)
    data=$(json_event "$LAST_OUTPUT" round_done data_bytes)
    [ "$ext" -ge "$data" ] && [ "$ext" -lt $((data * 3 / 2)) ] &&
        pass "--streams $n: extents counted once ($ext bytes, $data of data)" ||
        fail "--streams $n: extent_bytes $ext for $data bytes of data"
    write_random 1 "$src" $((60 + n))M 3M
    expect_success "--streams $n: incremental" scopy --streams "$n" "$src" "$d"
    expect_same_at_base "--streams $n incremental" "$src" "$d"
    [ "$n" = 1 ] && dst1=$d
done

# ---- data sessions: a direct channel, or a join where forwarding is off -------
# The lab's sshd allows local forwarding: sshd connects each data session
# straight to the receiver's socket. A key with no-port-forwarding (as a
# hardened host's AllowTcpForwarding=no) makes it run `receive --join`.
new_dst direct
d=$NEW
expect_success "direct data channels: seed" scopy -vv --streams 2 "$src" "$d"
expect_grep "... sshd connected them to the receiver's socket" \
    "a direct channel to /"
expect_same_at_base "direct channels" "$src" "$d"
new_dst joined
d=$NEW
expect_success "forwarding refused: seed through joins" \
    scopy -vv --streams 2 -i "$SSH_KEY_NOFORWARD" --compress "$src" "$d"
expect_grep "... the host refused the direct channel" "refused a direct channel"
expect_same_at_base "joins" "$src" "$d"
write_random 1 "$src" 70M 1M
expect_success "forwarding refused: incremental" \
    scopy --streams 2 -i "$SSH_KEY_NOFORWARD" --compress "$src" "$d"
expect_same_at_base "joins incremental" "$src" "$d"

# ---- compression and a rate limit (correctness only) ---------------------------
new_dst zstd
d=$NEW
write_zeros 1 "$src" 100M 4M
expect_success "--compress: seed" scopy --compress "$src" "$d"
expect_same_at_base "--compress seed" "$src" "$d"
write_random 1 "$src" 90M 1M
expect_success "--compress=3: incremental" scopy --compress=3 --streams 2 \
    "$src" "$d"
expect_same_at_base "--compress=3 incremental" "$src" "$d"
new_dst bwlimit
d=$NEW
expect_success "--bwlimit 12M, 3 streams" scopy --bwlimit 12M --compress \
    --streams 3 --json "$src" "$d"
expect_same_at_base "--bwlimit" "$src" "$d"
# Progress is the sum of the streams': the last report, about a second
# before the end of a 3 s seed, is past half of it (it once counted the
# first stream's alone: a third, with a rate a third and an ETA 3x long).
prog=$(/usr/bin/python3 -c '
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "progress" and e.get("phase") == "seed":
        last = e
print("none" if last is None else
      "%d %d" % (last["done"], last["total"]))' "$LAST_OUTPUT")
read -r pdone ptotal <<<"$prog"
[ "$pdone" != none ] && [ "$((pdone * 2))" -gt "$ptotal" ] &&
    pass "progress sums the streams (last report $pdone of $ptotal)" ||
    fail "progress over 3 streams: last report '$prog'"

# ---- rbdmove verify with an ssh:// destination ----------------------------------
b=$(base_of 2 "$dst")
expect_exit 0 "verify ssh://: equal" sverify "$src@$b" "$dst@$b"
expect_grep "... says equal" "are equal"
b1=$(base_of 2 "$dst1")
write_random 2 "$dst1" 50M 4K
rbd2 snap create "$dst1@planted" >/dev/null 2>&1
expect_exit 1 "verify ssh://: a planted difference is found" \
    sverify "$src@$b1" "$dst1@planted"
expect_grep "... naming the differing range" "differ in \[50331648, 54525952)"
expect_exit 1 "verify ssh:// --receiver=rbd: the same difference" \
    sverify --receiver=rbd "$src@$b1" "$dst1@planted"
expect_grep "... naming the same range" "differ in \[50331648, 54525952)"

# ---- compatibility mode: plain rbd import-diff on the host ---------------------
csrc=volumes/$(unique_name csrc)
make_image 1 "$csrc" 64M --object-size 1M
write_random 1 "$csrc" 0 6M
write_random 1 "$csrc" 30M 2M
new_dst cdst
cdst=$NEW
# --remote-rbdmove /nonexistent: nothing of rbdmove runs on the host.
expect_success "--receiver=rbd: seed into rbd import-diff" \
    scopy --receiver=rbd --remote-rbdmove /nonexistent --streams 3 --compress \
    --json "$csrc" "$cdst"
expect_grep "... warns that --streams does not apply" \
    "--streams does not apply with --receiver=rbd"
expect_grep "... and that --compress does not apply" \
    "--compress does not apply with --receiver=rbd"
expect_same_at_base "--receiver=rbd seed" "$csrc" "$cdst"
expect_equal "--receiver=rbd keeps the 1 MiB object size" 20 \
    "$(rbd2 info --format json "$cdst" | json_get order)"
write_random 1 "$csrc" 3M 1M
discard_range 1 "$csrc" 30M 1M
expect_success "--receiver=rbd: second (incremental) run" \
    scopy --receiver=rbd --json "$csrc" "$cdst"
expect_equal "... ran one round" 1 "$(json_event "$LAST_OUTPUT" "done" rounds)"
expect_same_at_base "--receiver=rbd incremental" "$csrc" "$cdst"
write_random 1 "$csrc" 40M 64K
expect_success "--receiver=rbd: a third run with --verify" \
    scopy --receiver=rbd --verify "$csrc" "$cdst"
expect_grep "... verified equal" "verified equal"
expect_same_at_base "--receiver=rbd third run" "$csrc" "$cdst"
b=$(base_of 2 "$cdst")
expect_exit 0 "verify --receiver=rbd: equal" sverify --receiver=rbd \
    "$csrc@$b" "$cdst@$b"
expect_success "an rbdmove receiver continues a --receiver=rbd copy" \
    scopy "$csrc" "$cdst"
write_random 2 "$cdst" 10M 64K
csnaps=$(snap_names 1 "$csrc" rbdmove-)
expect_failure "--receiver=rbd: a destination written after its base is refused" \
    scopy --receiver=rbd "$csrc" "$cdst"
expect_grep "... saying so" "was modified after its base snapshot"
# Over SSH the source is snapshotted while the login goes on: a copy that
# stops after it takes that snapshot away again.
expect_equal "... and leaves no new snapshot on the source" "$csnaps" \
    "$(snap_names 1 "$csrc" rbdmove-)"

# ---- host keys and user keys -----------------------------------------------------
ssnaps=$(snap_names 1 "$src" rbdmove-)
new_dst keys
kdst=$NEW
: >"$T/known_hosts"
expect_failure "unknown host refused" \
    scopy --known-hosts "$T/known_hosts" "$src" "$kdst"
expect_grep "... naming the host and its SHA256 fingerprint ($FINGERPRINT)" \
    "unknown.*$FINGERPRINT"
expect_equal "... nothing recorded" 0 "$(wc -c <"$T/known_hosts")"
image_absent "$kdst" && pass "... nothing created on the destination" ||
    fail "an image was created for an unknown host"
expect_success "--accept-new-host-key records the host and copies" \
    scopy --known-hosts "$T/known_hosts" --accept-new-host-key "$src" "$kdst"
grep -q "^\[$SSH_HOST\]:$SSH_PORT ssh-ed25519 " "$T/known_hosts" &&
    pass "... the host key is in the known_hosts file" ||
    fail "the host key was not recorded"
expect_same_at_base "copy after --accept-new-host-key" "$src" "$kdst"
expect_success "... and the next run needs no --accept-new-host-key" \
    scopy --known-hosts "$T/known_hosts" "$src" "$kdst"
expect_failure "changed host key refused" \
    scopy --known-hosts "$SSH_KNOWN_HOSTS_CHANGED" "$src" "$kdst"
expect_grep "... saying it CHANGED" "host key for .* has CHANGED"
expect_failure "changed host key refused even with --accept-new-host-key" \
    scopy --known-hosts "$SSH_KNOWN_HOSTS_CHANGED" --accept-new-host-key \
    "$src" "$kdst"
new_dst wrongkey
kdst2=$NEW
expect_failure "a key that is not authorized is refused" \
    scopy -i "$SSH_KEY_WRONG" "$src" "$kdst2"
expect_grep "... saying the key was refused" "key '$SSH_KEY_WRONG' .* refused"
expect_failure "an RSA key is refused" scopy -i "$SSH_KEY_RSA" "$src" "$kdst2"
expect_grep "... explaining libssh2 1.10 and RSA" \
    "libssh2 1.10 signs RSA keys only with ssh-rsa (SHA-1)"
image_absent "$kdst2" && pass "... nothing created on the destination" ||
    fail "an image was created without authentication"
# The refusals (before the first copy into kdst, and into kdst2) left no
# snapshot on the source: each new one is held by kdst too.
stray=""
for n in $(snap_names 1 "$src" rbdmove-); do
    [[ " $ssnaps " == *" $n "* ]] || snap_exists 2 "$kdst@$n" || stray+=" $n"
done
expect_equal "... and no snapshot of a refused copy stays on the source" "" \
    "$stray"

# ---- move cannot use --receiver=rbd ----------------------------------------------
# Its cutover's final check hashes single blocks, which only rbdmove's
# receiver does: refused before any connection (no cloud named here exists).
expect_exit 2 "move --receiver=rbd is refused as a usage error" \
    rbdmove move --os-cloud no-such-cloud --dst-os-region-name R2 \
    --dst-server s --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
    --ssh "$SSH_TARGET" --receiver=rbd some-volume
expect_grep "... saying why" "--receiver=rbd cannot serve a move"

# ---- remote receiver missing -----------------------------------------------------
expect_failure "a missing remote receiver is a clear error" \
    scopy --remote-rbdmove /nonexistent/rbdmove "$src" "$kdst2"
expect_grep "... saying no receiver answered" "no rbdmove receiver answered"
expect_grep "... and pointing at --remote-rbdmove" "--remote-rbdmove"
image_absent "$kdst2" && pass "... nothing created on the destination" ||
    fail "an image was created without a receiver"

# ---- connection killed mid-stream ---------------------------------------------------
# receiver_pids DST_IMAGE: the rbdmove receive processes serving DST_IMAGE:
# the control process, and the data processes joined to its socket.
receiver_pids() {
    local serve inodes path
    for serve in $(pgrep -f "receive --serve .*$1\$"); do
        echo "$serve"
        inodes=" $(readlink "/proc/$serve/fd/"* 2>/dev/null |
            sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ') "
        # shellcheck disable=SC2013 # socket paths have no spaces
        for path in $(awk -v l="$inodes" 'NR > 1 && $8 != "" &&
                index(l, " " $7 " ") { print $8 }' /proc/net/unix | sort -u); do
            pgrep -f "receive --join $path\$"
        done
    done
}
# wait_gone PID...: until none of these processes is left (10 s), then
# SIGKILL those that are (by pid: a pattern could hit another run's).
wait_gone() {
    local pid alive
    for _ in $(seq 100); do
        alive=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null
}
# killed_copy TITLE PROCESS_PATTERN FINDER DST_IMAGE COPY_ARGS...: start a
# slow copy round, wait for the pattern, drop its ssh sessions, check it.
killed_copy() {
    local title=$1 pattern=$2 finder=$3 kd=$4 before rc sess pids
    shift 4
    before=$(base_of 2 "$kd")
    write_random 1 "$ksrc" 0 40M
    "$RBDMOVE" copy --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
        --progress never -i "$SSH_KEY" --known-hosts "$SSH_KNOWN_HOSTS" \
        --remote-rbdmove "$REMOTE_RBDMOVE" --bwlimit 4M "$@" "$ksrc" \
        "$URL/$kd" >"$T/killed.log" 2>&1 &
    local cpid=$!
    for _ in $(seq 200); do
        pgrep -f "$pattern" >/dev/null && break
        sleep 0.1
    done
    # The round is streaming (40 MiB at 4 MiB/s, in offset order): past the
    # 4 MiB the seed wrote.
    wait_head_used 2 "$kd" $((4 << 20))
    pids=$($finder "$kd")
    # shellcheck disable=SC2086 # one pid per word
    sess=$(kill_sessions $pids)
    wait $cpid
    rc=$?
    cp "$T/killed.log" "$LAST_OUTPUT"
    [ -n "${pids// /}" ] && [ -n "${sess// /}" ] &&
        pass "$title: ssh sessions killed mid-stream (sshd pids:$sess)" ||
        fail "$title: no session found to kill"
    [ "$rc" -ge 1 ] && [ "$rc" -le 127 ] &&
        pass "$title: rbdmove fails (exit status $rc)" ||
        fail "$title: rbdmove exit status $rc, expected a failure"
    expect_grep "$title: with a clear message" \
        "connection to .* lost\|remote command .* killed\|lost the connection"
    # shellcheck disable=SC2086 # one pid per word
    wait_gone $pids
    expect_equal "$title: no new snapshot (to-snap) on the destination" \
        "$before" "$(base_of 2 "$kd")"
    expect_success "$title: a later copy succeeds" scopy "$@" "$ksrc" "$kd"
    expect_same_at_base "$title: later copy" "$ksrc" "$kd"
}
# import_diff_pids DST_IMAGE: the rbd import-diff writing into it
import_diff_pids() {
    pgrep -f "import-diff --no-progress - $1\$"
}

ksrc=volumes/$(unique_name ksrc)
make_image 1 "$ksrc" 64M
write_random 1 "$ksrc" 0 4M
new_dst killed
kd=$NEW
expect_success "seed before the cut" scopy "$ksrc" "$kd"
# With the no-forwarding key every data session is a join process of its
# own, so the cut drops the data sessions as well as the control session.
killed_copy "cut (rbdmove receiver)" "receive --serve .*$kd\$" receiver_pids \
    "$kd" --streams 2 -i "$SSH_KEY_NOFORWARD"
new_dst killedrbd
kd2=$NEW
expect_success "seed before the cut (--receiver=rbd)" \
    scopy --receiver=rbd "$ksrc" "$kd2"
killed_copy "cut (--receiver=rbd)" "import-diff --no-progress - $kd2\$" \
    import_diff_pids "$kd2" --receiver=rbd
