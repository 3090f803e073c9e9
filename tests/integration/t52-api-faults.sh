#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 900
#
# t52-api-faults: moves through API faults the real services cannot be made
# to show on demand, caused by a fault-injecting proxy
# (scripts/openstack/fault-proxy.py) in front of Nova and Cinder. The lab's
# "internal" endpoints of both services are pointed at the proxy and
# rbdmove runs with interface internal, so only its requests pass it. The
# faults: the destination attach answered 500; 500s while rbdmove waits
# for the detach; the destination create's answer lost after Cinder made
# the volume; a `move --server` whose second detach fails while the first
# is still detaching. After each: exactly one destination volume, the
# source attached to its server or the destination attached and verified
# (never both, never neither), and `status` telling the truth.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack

os_lab_init
STATE=$TEST_TMP/state
T=$TEST_TMP
PROXY=$(dirname "$(dirname "$_LIB_DIR")")/scripts/openstack/fault-proxy.py
ENDPOINTS=$_LIB_DIR/os_endpoints.py

# ---- the proxy -----------------------------------------------------------------
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# rules JSON: what the proxy does from now on (replaced atomically); with
# rules (not '[]': the end of a case) the proxy's log starts anew, so that
# injected and requests count this case only.
rules() {
    [ "$1" = '[]' ] || : >"$T/proxy.log"
    echo "$1" >"$T/rules.tmp" && mv "$T/rules.tmp" "$T/rules.json"
}
rules '[]'
declare -A PORT OLD
args=()
for r in $R1 $R2; do
    for s in compute volumev3; do
        old=$(/usr/bin/python3 "$ENDPOINTS" $s $r internal) ||
            bail "cannot read the $s endpoint of $r"
        p=$(free_port)
        PORT[$s.$r]=$p
        OLD[$s.$r]=$old
        origin=$(echo "$old" | sed -E 's#^(https?://[^/]+).*#\1#')
        args+=("$p=$origin")
    done
done
/usr/bin/python3 "$PROXY" "$T/rules.json" "$T/proxy.log" "${args[@]}" \
    >"$T/proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
    grep -q listening "$T/proxy.out" && break
    sleep 0.1
done
grep -q listening "$T/proxy.out" || bail "the fault proxy did not start: $(cat "$T/proxy.out")"

restore_endpoints() {
    local k
    for k in "${!OLD[@]}"; do
        /usr/bin/python3 "$ENDPOINTS" "${k%%.*}" "${k#*.}" internal "${OLD[$k]}" \
            >/dev/null 2>&1 || echo "t52: cannot restore the $k endpoint" >&2
    done
    kill "$proxy_pid" 2>/dev/null
    wait "$proxy_pid" 2>/dev/null
}
trap 'rc=$?; restore_endpoints; os_cleanup; (exit $rc); _lib_exit' EXIT
for k in "${!OLD[@]}"; do
    new=$(echo "${OLD[$k]}" | sed -E "s#^(https?://)[^/]+#\\1127.0.0.1:${PORT[$k]}#")
    /usr/bin/python3 "$ENDPOINTS" "${k%%.*}" "${k#*.}" internal "$new" >/dev/null ||
        bail "cannot point the $k endpoint at the proxy"
done
# rbdmove's own clouds.yaml: the lab's, with interface internal.
sed 's/interface: public/interface: internal/' "$OS_CLIENT_CONFIG_FILE" \
    >"$T/clouds.yaml"
chmod 600 "$T/clouds.yaml"

# injected RULE-INDEX: how many requests rule RULE-INDEX answered in this
# case; requests: how many matched PATTERN ("METHOD PATH" regex)
injected() {
    grep -c "\"rule\": $1," "$T/proxy.log" 2>/dev/null || true
}
requests() {
    /usr/bin/python3 -c 'import json, re, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += bool(re.search(sys.argv[2], r["method"] + " " + r["path"]))
print(n)' "$T/proxy.log" "$1"
}

os_servers src_srv $R1 "$(unique_name t52-src)" \
    dst_srv $R2 "$(unique_name t52-dst)" \
    g_srv $R1 "$(unique_name t52-group)"

# fmove LOG VOLUME|--server SERVER [options...]: a move through the proxy
fmove() {
    local log=$1
    shift
    OS_CLIENT_CONFIG_FILE=$T/clouds.yaml "$RBDMOVE" move \
        --os-cloud rbdmove-demo --os-region-name $R1 \
        --dst-os-region-name $R2 --dst-server "$dst_srv" \
        --src-conf "$CEPH1_CONF" --dst-conf "$CEPH2_CONF" \
        --state-dir "$STATE" --progress never "$@" >"$log" 2>&1
}
# tagged ID: the destination volumes tagged with move ID (rbdmove.move_id)
tagged() {
    "$TOOL" --os-cloud rbdmove-demo --os-region-name $R2 volume-list \
        "rbdmove.move_id=$1" 2>/dev/null | sed -n 's/^id=//p'
}
# where VOLUME-SRC VOLUME-DST: "SRC-STATUS SRC-SERVER / DST-STATUS DST-SERVER"
where() {
    echo "$(volume_field $R1 "$1" status) $(volume_field $R1 "$1" attached.0 | cut -d' ' -f1)" \
        "/ $(volume_field $R2 "$2" status) $(volume_field $R2 "$2" attached.0 | cut -d' ' -f1)"
}
# status_of ID KEY: what `rbdmove status` reports of move ID
status_of() {
    "$RBDMOVE" status --state-dir "$STATE" --json "$1" 2>/dev/null |
        json_get "$2"
}
status_phase() {
    status_of "$1" phase
}
# record ID: the destination volume, queued for removal
record() {
    local d
    d=$(dst_of "$1")
    [ -n "$d" ] && VOLUMES+=("$R2 $d")
    for d in $(tagged "$1"); do
        VOLUMES+=("$R2 $d")
    done
}

# ---- the destination attach answered 500 -----------------------------------------
v1=$(new_volume "$(unique_name t52-attach)" 16M) || bail "cannot make a volume"
rules "[{\"port\": ${PORT[compute.$R2]}, \"method\": \"POST\",
  \"path\": \"/os-volume_attachments\$\", \"action\": \"500\"}]"
fmove "$T/m1" "$v1"
rc=$?
id1=$(move_id "$T/m1")
record "$id1"
d1=$(dst_of "$id1")
rules '[]'
[ $rc -ge 1 ] && [ $rc -le 127 ] && pass "attach 500: the move fails" ||
    fail "attach 500: exit status $rc"
expect_equal "attach 500: the proxy answered the attach with 500" 1 "$(injected 0)"
expect_equal "attach 500: source back on its server, destination not attached" \
    "in-use $src_srv / available " "$(where "$v1" "$d1")"
expect_equal "attach 500: one destination volume" "$d1" "$(tagged "$id1")"
expect_equal "attach 500: status says rolled-back" rolled-back "$(status_phase "$id1")"
grep -q "attached to server $src_srv again" "$T/m1" &&
    pass "attach 500: says the source was put back" ||
    fail "attach 500: message: $(tail -3 "$T/m1")"
expect_success "attach 500: abort cleans up" \
    "$RBDMOVE" abort --state-dir "$STATE" "$id1"

# ---- 500s while waiting for the detach ---------------------------------------------
# Every GET of the source volume after the detach request answers 500,
# three times: a poll is a question, asked again; the move goes on.
v2=$(new_volume "$(unique_name t52-detachwait)" 16M) || bail "cannot make a volume"
rules "[{\"port\": ${PORT[volumev3.$R1]}, \"method\": \"GET\",
  \"path\": \"/volumes/$v2\$\", \"after\": \"DELETE .*os-volume_attachments/$v2\",
  \"times\": 3, \"action\": \"500\"}]"
fmove "$T/m2" "$v2"
rc=$?
id2=$(move_id "$T/m2")
record "$id2"
d2=$(dst_of "$id2")
rules '[]'
expect_equal "detach wait 500: the move succeeds" 0 "$rc"
[ "$(injected 0)" -ge 1 ] && pass "detach wait 500: the proxy answered $(injected 0) polls with 500" ||
    fail "detach wait 500: no poll was answered with 500"
expect_equal "detach wait 500: destination in use, source detached" \
    "available  / in-use $dst_srv" "$(where "$v2" "$d2")"
expect_equal "detach wait 500: data equal" \
    "$(image_checksum 1 "volumes/volume-$v2")" "$(image_checksum 2 "volumes/volume-$d2")"
expect_equal "detach wait 500: one destination volume" "$d2" "$(tagged "$id2")"
expect_equal "detach wait 500: status says done" done "$(status_phase "$id2")"

# ---- the create's answer lost ---------------------------------------------------------
# Cinder makes the volume, the answer never arrives: rbdmove must find that
# volume by its tags and go on, never ask for a second one.
v3=$(new_volume "$(unique_name t52-lost)" 16M) || bail "cannot make a volume"
rules "[{\"port\": ${PORT[volumev3.$R2]}, \"method\": \"POST\",
  \"path\": \"/volumes\$\", \"action\": \"lost\"}]"
fmove "$T/m3" "$v3"
rc=$?
id3=$(move_id "$T/m3")
record "$id3"
d3=$(dst_of "$id3")
rules '[]'
expect_equal "lost create: the proxy cut the create's answer" 1 "$(injected 0)"
expect_equal "lost create: one create was sent, not repeated" 1 \
    "$(requests '^POST .*/volumes$')"
expect_equal "lost create: the move succeeds" 0 "$rc"
expect_equal "lost create: exactly one destination volume, the one used" \
    "$d3" "$(tagged "$id3")"
expect_equal "lost create: destination in use, source detached" \
    "available  / in-use $dst_srv" "$(where "$v3" "$d3")"
expect_equal "lost create: data equal" \
    "$(image_checksum 1 "volumes/volume-$v3")" "$(image_checksum 2 "volumes/volume-$d3")"
expect_equal "lost create: status says done" done "$(status_phase "$id3")"

# ---- move --server: the second detach fails while the first is detaching ----------
ga=$(new_volume "$(unique_name t52-ga)" 8M "$g_srv") || bail "cannot make a volume"
gb=$(new_volume "$(unique_name t52-gb)" 8M "$g_srv") || bail "cannot make a volume"
# The volumes detach in device order; the one attached second is second.
rules "[{\"port\": ${PORT[compute.$R1]}, \"method\": \"DELETE\",
  \"path\": \"/os-volume_attachments/$gb\$\", \"action\": \"500\"}]"
fmove "$T/m4" --server "$g_srv"
rc=$?
gid=$(move_id "$T/m4")
rules '[]'
[ $rc -ge 1 ] && [ $rc -le 127 ] && pass "group detach 500: the move fails" ||
    fail "group detach 500: exit status $rc"
expect_equal "group detach 500: the proxy refused the second detach" 1 "$(injected 0)"
members=$(status_of "$gid" group.members | tr ',' ' ')
expect_equal "group detach 500: two members" 2 "$(echo $members | wc -w)"
for m in $members; do
    src=$(status_of "$m" src.volume)
    record "$m"
    d=$(dst_of "$m")
    expect_equal "group detach 500: $src back on its server, its copy not attached" \
        "in-use $g_srv / available " "$(where "$src" "$d")"
    expect_equal "group detach 500: one destination volume for $src" \
        "$d" "$(tagged "$m")"
    expect_equal "group detach 500: status of $src says rolled-back" \
        rolled-back "$(status_phase "$m")"
done
expect_success "group detach 500: abort cleans up" \
    "$RBDMOVE" abort --state-dir "$STATE" "$gid"
