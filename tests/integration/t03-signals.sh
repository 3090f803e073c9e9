#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
#
# t03-signals: a run stops soon after SIGTERM or SIGINT wherever it waits,
# with exit status 3 (the same command, or resume, goes on) and nothing
# changed: in a Ceph connect to a monitor that never answers, and in a
# Keystone request to a server that accepts and never answers. Also the
# timeouts that bound those waits are options, checked before anything
# starts. And what a cloud's settings may not do silently: TLS turned off
# by clouds.yaml is warned about, a password in auth_url never shown. No
# lab: the peers that do not answer are made here.
. "$(dirname "$0")/lib.sh"

T=$TEST_TMP
# A monitor address nothing answers (TEST-NET-1, RFC 5737).
printf '[global]\nmon_host = 192.0.2.1\nauth_client_required = none\n' >"$T/dead.conf"

# A TCP server that accepts connections and never answers.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
conns = []
while True:
    conns.append(s.accept())' "$port" >"$T/silent.out" 2>&1 &
silent_pid=$!
trap 'rc=$?; kill $silent_pid 2>/dev/null; (exit $rc); _lib_exit' EXIT
for _ in $(seq 50); do
    grep -q listening "$T/silent.out" && break
    sleep 0.1
done
cat >"$T/clouds.yaml" <<EOF
clouds:
  silent:
    auth:
      auth_url: http://127.0.0.1:$port/v3
      username: u
      password: p
      project_name: x
      user_domain_name: Default
      project_domain_name: Default
    region_name: R
EOF
chmod 600 "$T/clouds.yaml"
mkdir -m 700 "$T/state"

# stop_case TITLE SIGNAL CMD...: start CMD, send SIGNAL once it waits (after
# 1 s), expect exit status 3 within 5 s of the signal (a watchdog, not a
# measure: the run checks for a stop every 100 ms).
stop_case() {
    local title=$1 sig=$2 pid t0 t1 rc
    shift 2
    "$@" >"$T/out" 2>&1 &
    pid=$!
    sleep 1
    t0=$EPOCHREALTIME
    kill -"$sig" $pid
    for _ in $(seq 50); do
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 $pid 2>/dev/null; then
        kill -9 $pid
        wait $pid 2>/dev/null
        fail "$title: still running 5 s after SIG$sig"
        return
    fi
    wait $pid
    rc=$?
    t1=$EPOCHREALTIME
    expect_equal "$title: exit status 3 after SIG$sig" 3 "$rc"
    grep -q "stopped by signal" "$T/out" && pass "$title: says it was stopped" ||
        fail "$title: output: $(tail -2 "$T/out")"
    echo "# $title: stopped $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s after the signal"
}

stop_case "copy in a Ceph connect" TERM \
    "$RBDMOVE" copy --src-conf "$T/dead.conf" --dst-conf "$T/dead.conf" \
    volumes/a volumes/b
stop_case "move in a Keystone request" INT \
    env OS_CLIENT_CONFIG_FILE="$T/clouds.yaml" "$RBDMOVE" move \
    --os-cloud silent --os-region-name R --dst-os-region-name R \
    --dst-server s --src-conf "$T/dead.conf" --dst-conf "$T/dead.conf" \
    --state-dir "$T/state" --progress never vol
grep -q "nothing was changed" "$T/out" && pass "the stopped move changed nothing" ||
    fail "output: $(tail -2 "$T/out")"
expect_equal "no journal left of the stopped move" "" "$(ls "$T/state")"

expect_exit 2 "--ceph-timeout 0 is a usage error" \
    "$RBDMOVE" copy --ceph-timeout 0 --src-conf "$T/dead.conf" \
    --dst-conf "$T/dead.conf" volumes/a volumes/b
expect_exit 2 "--api-timeout over an hour is a usage error" \
    "$RBDMOVE" plan --api-timeout 3601 --os-cloud silent \
    --dst-os-region-name R --dst-server s vol
# --ceph-timeout bounds a connect that nobody stops.
t0=$SECONDS
expect_exit 1 "a Ceph connect gives up after --ceph-timeout" \
    "$RBDMOVE" copy --ceph-timeout 2 --src-conf "$T/dead.conf" \
    --dst-conf "$T/dead.conf" volumes/a volumes/b
[ $((SECONDS - t0)) -lt 30 ] && pass "... well before the default 60 s" ||
    fail "took $((SECONDS - t0)) s"

# ---- what a cloud's settings may not do silently ---------------------------------
# TLS verification turned off by clouds.yaml (not --insecure) is said
# loudly, and a password inside auth_url is never shown.
cat >"$T/insecure.yaml" <<EOF2
clouds:
  insecure:
    auth:
      auth_url: http://admin:s3cret-in-url@127.0.0.1:1/v3
      username: u
      password: p
      project_name: x
      user_domain_name: Default
      project_domain_name: Default
    region_name: R
    verify: false
EOF2
chmod 600 "$T/insecure.yaml"
OS_CLIENT_CONFIG_FILE=$T/insecure.yaml "$RBDMOVE" plan --os-cloud insecure \
    --dst-os-region-name R --dst-server s vol >"$T/plan.out" 2>&1
grep -q "warning: source: TLS certificates of .* are NOT verified (verify: false in clouds.yaml)" \
    "$T/plan.out" && pass "verify: false in clouds.yaml is warned about" ||
    fail "no warning: $(head -3 "$T/plan.out")"
grep -q "s3cret-in-url" "$T/plan.out" && fail "the password in auth_url is shown" ||
    pass "the password in auth_url is not shown"
OS_CLIENT_CONFIG_FILE=$T/insecure.yaml "$RBDMOVE" plan --os-cloud insecure \
    --dst-os-region-name R --dst-server s --json vol >"$T/plan.json" 2>/dev/null
grep -q "NOT verified" "$T/plan.json" && pass "... and in plan --json" ||
    fail "not in plan --json: $(head -c 300 "$T/plan.json")"
# plan says which file each side's cloud came from.
grep -q "^source: cloud 'insecure' (from $T/insecure.yaml), region 'R' at http://\*\*\*@127.0.0.1:1/v3" \
    "$T/plan.out" && pass "plan shows the clouds.yaml and auth URL of each side" ||
    fail "plan: $(grep -m1 '^source' "$T/plan.out")"
[ "$(json_get destination config_file <"$T/plan.json")" = "$T/insecure.yaml" ] &&
    pass "... and plan --json the destination's" ||
    fail "plan --json: $(head -c 300 "$T/plan.json")"

# ---- what can be checked before the first connection is -----------------------
# dead.conf's monitor never answers: any of these that connected first
# would take the whole Ceph timeout (60 s) and exit 1.
pre_connect() {
    local title=$1 t0=$SECONDS
    shift
    expect_exit 2 "$title: a usage error" "$RBDMOVE" "$@"
    [ $((SECONDS - t0)) -lt 10 ] && pass "$title: before any connection" ||
        fail "$title: took $((SECONDS - t0)) s"
}
pre_connect "copy: --window x --chunk-size over the memory cap" copy \
    --window 256 --chunk-size 64M --src-conf "$T/dead.conf" \
    --dst-conf "$T/dead.conf" volumes/a volumes/b
pre_connect "copy: --ssh-timeout past what fits" copy --ssh-timeout 3000000 \
    --src-conf "$T/dead.conf" --dst-conf "$T/dead.conf" volumes/a \
    ssh://localhost/volumes/b
pre_connect "copy: an ssh:// destination without a host" copy \
    --src-conf "$T/dead.conf" --dst-conf "$T/dead.conf" volumes/a \
    ssh:///volumes/b
pre_connect "copy: a bad destination spec" copy --src-conf "$T/dead.conf" \
    --dst-conf "$T/dead.conf" volumes/a 'volumes/'
pre_connect "copy: a bad source spec" copy --src-conf "$T/dead.conf" \
    --dst-conf "$T/dead.conf" 'volumes/a;b' volumes/b

# pre_connect_says TITLE PATTERN ARGS...: as pre_connect, and the message
# says what is wrong (grep -E PATTERN on stderr).
pre_connect_says() {
    local title=$1 pattern=$2
    shift 2
    pre_connect "$title" "$@"
    grep -qE -e "$pattern" "$LAST_OUTPUT" && pass "$title: says so" ||
        fail "$title: message: $(head -3 "$LAST_OUTPUT")"
}
D=(--src-conf "$T/dead.conf" --dst-conf "$T/dead.conf")
OS=(--dst-os-region-name R --dst-server s)
pre_connect_says "an empty pool name" "the pool name is empty" \
    copy "${D[@]}" /a volumes/b
pre_connect_says "an empty image name" "the image name is empty" \
    copy "${D[@]}" volumes/ volumes/b
pre_connect_says "an extra @" "more than one '@'" \
    export-diff -c "$T/dead.conf" volumes/a@s@t "$T/out.diff"
pre_connect_says "a namespace" "namespaces .* are not supported" \
    copy "${D[@]}" volumes/ns/a volumes/b
pre_connect_says "a bad character, named" "the image name contains ';'" \
    copy "${D[@]}" 'volumes/a;b' volumes/b
pre_connect_says "--src-id with client." "without 'client.'" \
    copy --src-id client.admin "${D[@]}" volumes/a volumes/b
pre_connect_says "a bad --dst-id" "--dst-id: the ceph client id contains" \
    copy --dst-id 'ad min' "${D[@]}" volumes/a volumes/b
pre_connect_says "a bad --id" "--id: the ceph client id" \
    export-diff -c "$T/dead.conf" --id '$(x)' volumes/a@s "$T/out.diff"
pre_connect_says "verify: a bad ssh:// destination" "invalid ssh target" \
    verify "${D[@]}" volumes/a@s 'ssh://-oProxyCommand=x/volumes/a@s'
pre_connect_says "verify: an empty destination snapshot" \
    "the snapshot name is empty" verify "${D[@]}" volumes/a@s volumes/b@
pre_connect_says "export-diff: OUT in a missing directory" "no directory" \
    export-diff -c "$T/dead.conf" volumes/a@s "$T/missing/out.diff"
pre_connect_says "export-diff: OUT is a directory" "is a directory" \
    export-diff -c "$T/dead.conf" volumes/a@s "$T"
pre_connect_says "move: a bad --ssh target" "invalid ssh target" \
    move "${OS[@]}" "${D[@]}" --ssh 'host;reboot' vol
pre_connect_says "sync: a bad --ssh port" "invalid port" \
    sync --dst-os-region-name R "${D[@]}" --ssh host:99999 vol
pre_connect_says "move: a bad --dst-pool" "--dst-pool: the pool name" \
    move "${OS[@]}" "${D[@]}" --dst-pool 'vol umes' vol
pre_connect_says "failover: a --point that is none" "--point 'yesterday' is neither" \
    failover --dst-conf "$T/dead.conf" --dst-server s --point yesterday copy
pre_connect_says "failover: no --dst-server" "--dst-server is required" \
    failover --dst-conf "$T/dead.conf" copy
pre_connect_says "failover: a bad --dst-pool" "--dst-pool: the pool name" \
    failover --dst-conf "$T/dead.conf" --dst-server s --dst-pool 'a/b' copy
[ ! -e "$T/out.diff" ] && pass "no OUT was created by a refused export-diff" ||
    fail "export-diff left $T/out.diff"
# A stream that is not one is refused before the cluster is asked.
echo "not a stream" >"$T/junk.diff"
t0=$SECONDS
expect_exit 1 "import-diff: a bad stream header fails" \
    "$RBDMOVE" import-diff -c "$T/dead.conf" "$T/junk.diff" volumes/a
[ $((SECONDS - t0)) -lt 10 ] && grep -q "not an rbd diff stream" "$LAST_OUTPUT" &&
    pass "... before any connection, saying why" ||
    fail "import-diff: $((SECONDS - t0)) s: $(head -2 "$LAST_OUTPUT")"

# ---- what the docs promise ---------------------------------------------------------
expect_success "rbdmove help move is move's help" "$RBDMOVE" help move
grep -q "^usage: rbdmove move \[--os-cloud CLOUD\]" "$LAST_OUTPUT" &&
    pass "... with the clouds optional, as they are" ||
    fail "help: $(head -2 "$LAST_OUTPUT")"
for c in copy verify; do
    if [ $c = copy ]; then spec=volumes/a; else spec=volumes/a@s; fi
    "$RBDMOVE" $c --json --ceph-timeout 1 --src-conf "$T/dead.conf" \
        --dst-conf "$T/dead.conf" "$spec" "${spec/a/b}" >"$T/$c.json" 2>/dev/null
    [ "$(json_event "$T/$c.json" error command)" = $c ] &&
        pass "$c --json prints an error event when it fails" ||
        fail "$c --json: $(cat "$T/$c.json")"
done
