#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
#
# t40-openstack-lab: sanity of the two-region OpenStack lab
# (scripts/openstack-lab.sh), with plain curl and python3's json: tokens for
# the admin, the demo user and the application credential; a catalog with
# both regions; a server in each region; a 1 GiB volume in RegionOne that is
# the RBD image volumes/volume-<id> in ceph1, attached (in-use), detached
# (available) and deleted; both servers deleted (which goes through the
# Neutron stand-in).
. "$(dirname "$0")/lib.sh"

# The OpenStack lab's status also checks its two Ceph clusters.
lab_require openstack

PY=/usr/bin/python3
KS=$OS_AUTH_URL
NOVA_MV="OpenStack-API-Version: compute 2.37"
VOL_MV="OpenStack-API-Version: volume 3.27"

# ---- helpers ---------------------------------------------------------------

# jget [-q] FILE PYEXPR: prints PYEXPR evaluated with `d` = the JSON in FILE.
# A FILE without JSON is said as such and fails the test (-q: only returns 1,
# for polls that may meet a passing error page).
jget() {
    local quiet=0 out
    [ "$1" = -q ] && quiet=1 && shift
    if out=$("$PY" -c 'import json, sys
text = open(sys.argv[1], errors="replace").read()
try:
    d = json.loads(text)
except ValueError as err:
    sys.exit("jget %s: no JSON (%s): %r" % (sys.argv[1], err, text[:300]))
v = eval(sys.argv[2])
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1" "$2" 2>&1); then
        echo "$out"
        return 0
    fi
    [ "$quiet" = 1 ] || _lib_helper_failed "$out"
    return 1
}

# api METHOD URL TOKEN [BODY] [HEADER...]: one call; the body lands in
# $TEST_TMP/resp.json, the HTTP status in $CODE.
CODE=
api() {
    local method=$1 url=$2 tok=$3 body=${4:-} hdrs=() h
    shift 3
    [ $# -gt 0 ] && shift
    for h in "$@"; do hdrs+=(-H "$h"); done
    if [ -n "$body" ]; then
        hdrs+=(-H "Content-Type: application/json" --data "$body")
    fi
    CODE=$(curl -s -m 60 -o "$TEST_TMP/resp.json" -w '%{http_code}' -X "$method" \
        -H "Accept: application/json" -H "X-Auth-Token: $tok" "${hdrs[@]}" "$url")
}

# auth NAME BODY: POST /v3/auth/tokens; token in $TEST_TMP/NAME.token, the
# response (catalog) in $TEST_TMP/NAME.json. Returns non-zero unless 201.
auth() {
    local code
    code=$(curl -s -m 60 -D "$TEST_TMP/$1.headers" -o "$TEST_TMP/$1.json" \
        -w '%{http_code}' -H "Content-Type: application/json" --data "$2" \
        "$KS/auth/tokens")
    tr -d '\r' <"$TEST_TMP/$1.headers" | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p' \
        >"$TEST_TMP/$1.token"
    echo "HTTP $code"
    [ "$code" = 201 ] && [ -s "$TEST_TMP/$1.token" ]
}

password_body() { # USER PASSWORD PROJECT
    printf '{"auth": {"identity": {"methods": ["password"], "password": {"user":
      {"name": "%s", "domain": {"name": "Default"}, "password": "%s"}}},
      "scope": {"project": {"name": "%s", "domain": {"name": "Default"}}}}}' "$1" "$2" "$3"
}

# endpoint NAME TYPE REGION: the public URL from NAME's token catalog.
endpoint() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for s in d["token"]["catalog"]:
    if s["type"] == sys.argv[2]:
        for e in s["endpoints"]:
            if e["region_id"] == sys.argv[3] and e["interface"] == "public":
                print(e["url"])
                sys.exit(0)
sys.exit(1)' "$TEST_TMP/$1.json" "$2" "$3"
}

# wait_status URL TOKEN KEY WANT SECONDS [HEADER]: polls GET URL until
# d[KEY]["status"] is WANT ("gone" waits for a 404); fails on "error".
wait_status() {
    local url=$1 tok=$2 key=$3 want=$4 limit=$5 hdr=${6:-X-Nothing: 1} st seen=""
    local deadline=$((SECONDS + limit))
    while :; do
        api GET "$url" "$tok" "" "$hdr"
        if [ "$CODE" = 404 ]; then st=gone; else st=$(jget -q "$TEST_TMP/resp.json" "d['$key']['status']"); fi
        [ "$st" = "${seen##* }" ] || seen="$seen $st"
        if [ "$st" = "$want" ]; then
            echo "statuses:$seen"
            return 0
        fi
        case "$st" in error | ERROR | error_*)
            echo "statuses:$seen"
            cat "$TEST_TMP/resp.json"
            return 1
            ;;
        esac
        if [ $SECONDS -ge $deadline ]; then
            echo "statuses:$seen (after ${limit}s, wanted $want)"
            return 1
        fi
        sleep 0.5
    done
}

# Anything this test created is removed at exit, whatever happened.
SERVERS=()
VOLUMES=()
t40_cleanup() {
    local s v
    for v in "${VOLUMES[@]}"; do
        api DELETE "$v" "$(cat "$TEST_TMP/demo.token")" || true
    done
    for s in "${SERVERS[@]}"; do
        api DELETE "$s" "$(cat "$TEST_TMP/demo.token")" || true
    done
}
# shellcheck disable=SC2154 # _t40_rc is set by the trap itself
trap '_t40_rc=$?; t40_cleanup >/dev/null 2>&1; (exit $_t40_rc); _lib_exit' EXIT

# ---- tokens and catalog ----------------------------------------------------

expect_success "admin token (password, project admin)" \
    auth admin "$(password_body admin "$OS_PASSWORD" admin)"
expect_success "demo token (member of project demo)" \
    auth demo "$(password_body "$RBM_OS_DEMO_USERNAME" "$RBM_OS_DEMO_PASSWORD" demo)"
expect_success "application credential token" auth appcred "$(printf '{"auth":
    {"identity": {"methods": ["application_credential"], "application_credential":
    {"id": "%s", "secret": "%s"}}}}' "$RBM_OS_APPCRED_ID" "$RBM_OS_APPCRED_SECRET")"
expect_equal "the application credential acts in project demo" "$RBM_OS_DEMO_PROJECT_ID" \
    "$(jget "$TEST_TMP/appcred.json" "d['token']['project']['id']")"
expect_failure "a wrong password gets no token" \
    auth wrong "$(password_body admin not-the-password admin)"

for region in RegionOne RegionTwo; do
    for type in identity compute volumev3 placement image network; do
        expect_success "catalog: $type in $region" endpoint admin $type $region
    done
done
expect_equal "catalog regions" "RegionOne RegionTwo" "$(jget "$TEST_TMP/admin.json" \
    "' '.join(sorted({e['region_id'] for s in d['token']['catalog'] for e in s['endpoints']}))")"
expect_equal "clouds.yaml names the three clouds" "rbdmove-appcred rbdmove-demo rbdmove-lab" \
    "$("$PY" -c 'import sys, yaml
print(" ".join(sorted(yaml.safe_load(open(sys.argv[1]))["clouds"])))' "$OS_CLIENT_CONFIG_FILE")"

DEMO=$(cat "$TEST_TMP/demo.token")
NOVA1=$(endpoint demo compute RegionOne)
NOVA2=$(endpoint demo compute RegionTwo)
CINDER1=$(endpoint demo volumev3 RegionOne)
GLANCE=$(endpoint demo image RegionOne)
if [ -z "$NOVA1" ] || [ -z "$NOVA2" ] || [ -z "$CINDER1" ] || [ -z "$GLANCE" ]; then
    bail "the demo user's catalog lacks compute, volumev3 or image"
fi

# ---- servers -----------------------------------------------------------------

api GET "$GLANCE/v2/images?name=$RBM_OS_IMAGE_NAME" "$DEMO"
IMAGE=$(jget "$TEST_TMP/resp.json" "d['images'][0]['id']" 2>/dev/null)
expect_success "image $RBM_OS_IMAGE_NAME visible to demo" test -n "$IMAGE"

create_server() { # NOVA_URL NAME: prints the server URL
    local flavor body
    api GET "$1/flavors" "$DEMO" "" "$NOVA_MV"
    flavor=$(jget "$TEST_TMP/resp.json" \
        "[f['id'] for f in d['flavors'] if f['name'] == '$RBM_OS_FLAVOR_NAME'][0]") || return 1
    body=$(printf '{"server": {"name": "%s", "imageRef": "%s", "flavorRef": "%s", "networks": "none"}}' \
        "$2" "$IMAGE" "$flavor")
    api POST "$1/servers" "$DEMO" "$body" "$NOVA_MV"
    [ "$CODE" = 202 ] || {
        echo "HTTP $CODE: $(cat "$TEST_TMP/resp.json")" >&2
        return 1
    }
    echo "$1/servers/$(jget "$TEST_TMP/resp.json" "d['server']['id']")"
}

S1=$(create_server "$NOVA1" "$(unique_name t40-r1)") && SERVERS+=("$S1")
expect_success "create a server in RegionOne (networks none)" test -n "$S1"
S2=$(create_server "$NOVA2" "$(unique_name t40-r2)") && SERVERS+=("$S2")
expect_success "create a server in RegionTwo (networks none)" test -n "$S2"
expect_success "RegionOne server ACTIVE" wait_status "$S1" "$DEMO" server ACTIVE 90 "$NOVA_MV"
expect_success "RegionTwo server ACTIVE" wait_status "$S2" "$DEMO" server ACTIVE 90 "$NOVA_MV"
api GET "$S1" "$(cat "$TEST_TMP/admin.token")" "" "$NOVA_MV"
expect_equal "the RegionOne server runs on $RBM_OS_HOST_R1 (as the admin sees)" "$RBM_OS_HOST_R1" \
    "$(jget "$TEST_TMP/resp.json" "d['server'].get('OS-EXT-SRV-ATTR:host')")"
api GET "${S2%/servers/*}/os-hypervisors" "$(cat "$TEST_TMP/admin.token")" "" "$NOVA_MV"
expect_equal "RegionTwo's hypervisor is $RBM_OS_HOST_R2" "$RBM_OS_HOST_R2" \
    "$(jget "$TEST_TMP/resp.json" "d['hypervisors'][0]['hypervisor_hostname']")"

# ---- a volume in RegionOne: RBD image, attach, detach, delete ------------------

api POST "$CINDER1/volumes" "$DEMO" \
    "{\"volume\": {\"size\": 1, \"name\": \"$(unique_name t40-vol)\"}}" "$VOL_MV"
expect_equal "create a 1 GiB volume in RegionOne" 202 "$CODE"
VOL=$(jget "$TEST_TMP/resp.json" "d['volume']['id']" 2>/dev/null || true)
[ -n "$VOL" ] || bail "no volume id: $(cat "$TEST_TMP/resp.json")"
VOLURL=$CINDER1/volumes/$VOL
VOLUMES+=("$VOLURL")
expect_success "volume available" wait_status "$VOLURL" "$DEMO" volume available 90 "$VOL_MV"
api GET "$VOLURL" "$DEMO" "" "$VOL_MV"
expect_equal "its type is the default, $RBM_OS_VOLUME_TYPE" "$RBM_OS_VOLUME_TYPE" \
    "$(jget "$TEST_TMP/resp.json" "d['volume']['volume_type']")"
expect_success "its RBD image volumes/volume-$VOL exists in ceph1" \
    rbd1 info "volumes/volume-$VOL"
expect_equal "the RBD image is 1 GiB" 1073741824 \
    "$(rbd1 info --format json "volumes/volume-$VOL" | json_get size)"
expect_failure "...and not in ceph2" rbd2 info "volumes/volume-$VOL"

api POST "$S1/os-volume_attachments" "$DEMO" "{\"volumeAttachment\": {\"volumeId\": \"$VOL\"}}" "$NOVA_MV"
expect_equal "attach (POST os-volume_attachments)" 200 "$CODE"
expect_success "volume in-use" wait_status "$VOLURL" "$DEMO" volume in-use 60 "$VOL_MV"
grep -o 'statuses:.*' "$LAST_OUTPUT" | sed 's/^/# attach /'
api GET "$S1/os-volume_attachments" "$DEMO" "" "$NOVA_MV"
expect_equal "the server lists the attachment" "$VOL" \
    "$(jget "$TEST_TMP/resp.json" "d['volumeAttachments'][0]['volumeId']" 2>/dev/null)"

api DELETE "$S1/os-volume_attachments/$VOL" "$DEMO" "" "$NOVA_MV"
expect_equal "detach (DELETE os-volume_attachments/<volume>)" 202 "$CODE"
expect_success "volume available again" wait_status "$VOLURL" "$DEMO" volume available 60 "$VOL_MV"
grep -o 'statuses:.*' "$LAST_OUTPUT" | sed 's/^/# detach /'

api DELETE "$VOLURL" "$DEMO" "" "$VOL_MV"
expect_equal "delete the volume" 202 "$CODE"
expect_success "volume gone" wait_status "$VOLURL" "$DEMO" volume gone 60 "$VOL_MV"
expect_failure "its RBD image is gone from ceph1" rbd1 info "volumes/volume-$VOL"
VOLUMES=()

# ---- server delete (asks the Neutron stand-in for ports) ---------------------

for s in "$S1" "$S2"; do
    api DELETE "$s" "$DEMO" "" "$NOVA_MV"
    expect_equal "delete server ${s##*/}" 204 "$CODE"
done
expect_success "RegionOne server gone" wait_status "$S1" "$DEMO" server gone 60 "$NOVA_MV"
expect_success "RegionTwo server gone" wait_status "$S2" "$DEMO" server gone 60 "$NOVA_MV"
SERVERS=()
expect_success "server delete went through the Neutron stand-in" \
    grep -q 'GET /v2.0/ports' "$RBDMOVE_LAB/openstack/log/neutron-standin.out"
