#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 400
#
# t41-openstack-client: the OpenStack client layer (openstack/) and
# `rbdmove plan` against the real two-region lab: password, application
# credential (by id and by name) and token auth; region selection; a wrong
# password; unknown regions; unknown volumes and servers; a volume in
# error status; a Keystone that is down; TLS through a TLS proxy;
# create/attach/detach/delete and manage-existing flows with the status
# sequences Cinder went through; and the plan of a real attached volume, as
# text and as JSON. The client is driven by tests/tools/rbm-os-client (the
# library itself) and by rbdmove plan.
. "$(dirname "$0")/lib.sh"

lab_require openstack

TOOL=${RBM_OS_CLIENT:-$(dirname "$(dirname "$RBDMOVE")")/tests/tools/rbm-os-client}
[ -x "$TOOL" ] || bail "rbm-os-client not found at $TOOL (build tests/tools)"

# The lab's environment file exports the admin's OS_* variables. Keep them
# for the environment-only checks, and clear them so that each check says
# which cloud it uses (OS_* variables override clouds.yaml, as with the
# openstack CLI).
ADMIN_PASSWORD=$OS_PASSWORD
AUTH_URL=$OS_AUTH_URL
for v in $(env | grep -o '^OS_[A-Z_]*'); do
    [ "$v" = OS_CLIENT_CONFIG_FILE ] || unset "$v"
done
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$RBDMOVE_LAB/openstack/clouds.yaml}
DEMO=rbdmove-demo
ADMIN=rbdmove-lab
R1=RegionOne
R2=RegionTwo

# client ARGS...: rbm-os-client with the cloud named in ARGS (lib.sh's osc
# is always the demo cloud).
client() {
    "$TOOL" "$@"
}

# last KEY: the value of KEY=... in the last command's output.
last() {
    value "$1" "$LAST_OUTPUT"
}

# expect_output "title" pattern: grep -E the last command's output.
expect_output() {
    if grep -qE -- "$2" "$LAST_OUTPUT"; then
        pass "$1"
    else
        _lib_fail "$1"
        echo "#   no line matches: $2"
        sed 's/^/#     /' "$LAST_OUTPUT" | tail -n 30
    fi
}

expect_no_output() {
    if grep -qF -- "$2" "$LAST_OUTPUT"; then
        _lib_fail "$1"
        echo "#   found: $2"
    else
        pass "$1"
    fi
}

# ---- servers: rbdmove's client only attaches, so servers are made here ------
# (os_server and os_cleanup: lib.sh)

SERVERS=()
VOLUMES=()
SOCAT_PID=
trap 'rc=$?; os_cleanup; [ -n "$SOCAT_PID" ] && kill "$SOCAT_PID" 2>/dev/null; (exit $rc); _lib_exit' EXIT
export RBM_AUTH_URL=$AUTH_URL

# ---- authentication and regions -------------------------------------------

expect_success "password auth (cloud $DEMO)" client --os-cloud $DEMO auth
expect_equal "authenticated as demo" demo "$(last user)"
expect_equal "scoped to the demo project" "$RBM_OS_DEMO_PROJECT_ID" \
    "$(last project_id)"
expect_output "RegionOne's Cinder by default (region_name)" "^cinder=.*:18776/v3/$RBM_OS_DEMO_PROJECT_ID$"
expect_output "RegionOne's Nova" '^nova=.*:18774/'

expect_success "region selection: --os-region-name $R2" \
    client --os-cloud $DEMO --os-region-name $R2 auth
expect_output "RegionTwo's Cinder" '^cinder=.*:18786/v3/'
expect_output "RegionTwo's Nova" '^nova=.*:18784/'

expect_success "region selection: OS_REGION_NAME=$R2" \
    env OS_REGION_NAME=$R2 "$TOOL" --os-cloud $DEMO auth
expect_output "OS_REGION_NAME picks RegionTwo" '^cinder=.*:18786/'

expect_success "application credential by id (cloud rbdmove-appcred)" \
    client --os-cloud rbdmove-appcred --os-region-name $R2 auth
expect_equal "the credential acts as demo" "$RBM_OS_DEMO_PROJECT_ID" \
    "$(last project_id)"

expect_success "application credential by name + user (OS_* only)" \
    env OS_AUTH_URL="$AUTH_URL" OS_AUTH_TYPE=v3applicationcredential \
    OS_APPLICATION_CREDENTIAL_NAME="$RBM_OS_APPCRED_NAME" \
    OS_APPLICATION_CREDENTIAL_SECRET="$RBM_OS_APPCRED_SECRET" \
    OS_USERNAME=demo OS_USER_DOMAIN_NAME=Default OS_REGION_NAME=$R1 \
    "$TOOL" auth
expect_equal "...scoped to its project" "$RBM_OS_DEMO_PROJECT_ID" \
    "$(last project_id)"

expect_success "password auth from OS_* variables alone" \
    env OS_AUTH_URL="$AUTH_URL" OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" \
    OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=$R2 "$TOOL" auth
expect_equal "...as admin, with the admin role" "admin yes" \
    "$(last user) $(last admin)"

token=$(env OS_AUTH_URL="$AUTH_URL" OS_USERNAME=admin \
    OS_PASSWORD="$ADMIN_PASSWORD" OS_PROJECT_NAME=admin \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    /usr/bin/python3 -c '
import json, os, urllib.request
E = os.environ
b = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"}, "password": E["OS_PASSWORD"]}}}}}
r = urllib.request.urlopen(urllib.request.Request(E["OS_AUTH_URL"] + "/auth/tokens",
    json.dumps(b).encode(), {"Content-Type": "application/json"}), timeout=30)
print(r.headers["X-Subject-Token"])')
expect_success "token auth (an unscoped token rescoped to a project)" \
    env OS_AUTH_URL="$AUTH_URL" OS_AUTH_TYPE=token OS_TOKEN="$token" \
    OS_PROJECT_NAME=admin OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=$R1 \
    "$TOOL" auth
expect_output "...scoped to admin" '^project=admin$'

# ---- re-authentication: a token revoked during a session ---------------------

# ks_admin METHOD PATH [JSON]: a Keystone admin call; prints the JSON answer.
ks_admin() {
    /usr/bin/python3 - "$@" <<'PY'
import json, os, sys, urllib.error, urllib.request
E = os.environ
method, path = sys.argv[1:3]
body = sys.argv[3] if len(sys.argv) > 3 else None
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"},
    "password": E["RBM_ADMIN_PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
h = {"Content-Type": "application/json"}
r = urllib.request.urlopen(urllib.request.Request(
    E["RBM_AUTH_URL"] + "/auth/tokens", json.dumps(auth).encode(), h), timeout=30)
h["X-Auth-Token"] = r.headers["X-Subject-Token"]
req = urllib.request.Request(E["RBM_AUTH_URL"] + path,
                             body.encode() if body else None, h, method=method)
try:
    text = urllib.request.urlopen(req, timeout=30).read()
except urllib.error.HTTPError as e:
    sys.exit("%s %s: %s %s" % (method, path, e.code, e.read().decode()))
print(text.decode())
PY
}
export RBM_ADMIN_PASSWORD=$ADMIN_PASSWORD

ra_user=$(unique_name t41-reauth)
ra_pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
ra_id=$(ks_admin POST /users "{\"user\": {\"name\": \"$ra_user\",
    \"password\": \"$ra_pass\", \"domain_id\": \"default\"}}" | json_get user id)
member=$(ks_admin GET "/roles?name=member" | json_get roles 0 id)
if [ -n "$ra_id" ] && [ -n "$member" ] &&
    ks_admin PUT "/projects/$RBM_OS_DEMO_PROJECT_ID/users/$ra_id/roles/$member" >/dev/null; then
    cat >"$TEST_TMP/reauth.yaml" <<YAML
clouds:
  reauth:
    auth:
      auth_url: $AUTH_URL
      username: $ra_user
      password: "$ra_pass"
      project_id: $RBM_OS_DEMO_PROJECT_ID
      user_domain_name: Default
    region_name: $R2
YAML
    OS_CLIENT_CONFIG_FILE="$TEST_TMP/reauth.yaml" "$TOOL" -v --os-cloud reauth \
        reauth-check "$TEST_TMP/revoked" >"$TEST_TMP/reauth.out" 2>&1 &
    ra_pid=$!
    for _ in $(seq 100); do
        grep -q '^first=ok' "$TEST_TMP/reauth.out" && break
        sleep 0.2
    done
    # Disabling a user revokes its tokens; enabling it lets it log in again.
    # Revocation has a resolution of one second: wait on both sides.
    ks_admin PATCH "/users/$ra_id" '{"user": {"enabled": false}}' >/dev/null
    sleep 1.2
    ks_admin PATCH "/users/$ra_id" '{"user": {"enabled": true}}' >/dev/null
    sleep 1.2
    touch "$TEST_TMP/revoked"
    wait "$ra_pid"
    ra_rc=$?
    cp "$TEST_TMP/reauth.out" "$LAST_OUTPUT"
    expect_equal "a request after the token was revoked succeeds" 0 "$ra_rc"
    expect_output "...after authenticating again" "token refused by .*; authenticating again"
    expect_output "...and the request went through" '^second=ok$'
    ks_admin DELETE "/users/$ra_id" >/dev/null
else
    fail "could not create the user $ra_user for the re-authentication check"
fi

# ---- failures ------------------------------------------------------------------

plan() {
    rbdmove plan "$@"
}

expect_exit 1 "wrong password: plan fails with exit status 1" \
    env OS_PASSWORD=not-the-password "$RBDMOVE" plan --os-cloud $DEMO \
    --dst-os-region-name $R2 --dst-server x some-volume
expect_output "...and says it could not authenticate (HTTP 401)" \
    "source: cannot authenticate as 'demo' at $AUTH_URL: .*\(HTTP 401\)"
expect_no_output "...without printing the password" not-the-password

expect_exit 1 "unknown source region (not in the cloud's regions list)" \
    plan --os-cloud $DEMO --os-region-name RegionNine \
    --dst-os-region-name $R2 --dst-server x some-volume
expect_output "...named, with the regions there are" \
    "region 'RegionNine' is not a region of cloud '$DEMO' \(regions: RegionOne, RegionTwo\)"

expect_exit 1 "unknown destination region (checked against the catalog)" \
    env OS_AUTH_URL="$AUTH_URL" OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" \
    OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=$R1 \
    "$RBDMOVE" plan --dst-os-region-name RegionNine --dst-server x some-volume
expect_output "...as not in the service catalog" \
    "destination: region 'RegionNine' is not in the service catalog .*\(regions: RegionOne, RegionTwo\)"

missing_vol=$(unique_name no-such-volume)
expect_exit 1 "unknown volume and unknown server" \
    plan --os-cloud $DEMO --os-region-name $R1 --dst-os-region-name $R2 \
    --dst-server no-such-server "$missing_vol"
expect_output "...the volume is named" "source: no volume with name or id '$missing_vol'"
expect_output "...the server is named" "destination: no server with name or id 'no-such-server'"
expect_exit 1 "an unknown volume id" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 --dst-server x \
    00000000-0000-4000-8000-000000000000
expect_output "...is not found either" "no volume with name or id '00000000-0000-4000-8000-000000000000'"

# A Keystone that is down: a closed port on loopback. Bounded retries, then
# a clear transport error.
cat >"$TEST_TMP/down.yaml" <<EOF
clouds:
  down:
    auth:
      auth_url: http://127.0.0.1:9/v3
      username: demo
      password: x
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: $R1
EOF
t0=$(date +%s)
expect_exit 1 "a service that is down (closed port)" \
    env OS_CLIENT_CONFIG_FILE="$TEST_TMP/down.yaml" "$RBDMOVE" plan \
    --os-cloud down --dst-os-region-name $R2 --dst-server x v
t1=$(date +%s)
expect_output "...reports the connection failure" \
    "source: cannot authenticate as 'demo' at http://127.0.0.1:9/v3: POST http://127.0.0.1:9/v3/auth/tokens: .*(refused|connect)"
expect_success "...after bounded retries ($((t1 - t0)) s)" test $((t1 - t0)) -lt 30

expect_exit 2 "plan without --dst-server is a usage error" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 v
expect_exit 2 "plan without a volume is a usage error" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 --dst-server x

# ---- TLS: Keystone behind a TLS proxy with a private CA ----------------------

if command -v socat >/dev/null && command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$TEST_TMP/tls.key" \
        -out "$TEST_TMP/tls.crt" >/dev/null 2>&1
    tls_port=15443
    socat "OPENSSL-LISTEN:$tls_port,bind=127.0.0.1,reuseaddr,fork,verify=0,cert=$TEST_TMP/tls.crt,key=$TEST_TMP/tls.key" \
        TCP:127.0.0.1:15000 2>/dev/null &
    SOCAT_PID=$!
    sleep 0.5
    tls_env=(env OS_AUTH_URL="https://127.0.0.1:$tls_port/v3" OS_USERNAME=admin
        OS_PASSWORD="$ADMIN_PASSWORD" OS_PROJECT_NAME=admin
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
        OS_REGION_NAME=$R1)
    expect_failure "TLS: an unknown CA is refused by default" "${tls_env[@]}" "$TOOL" auth
    expect_output "...with the reason and the way out" "(certificate|SSL).*--os-cacert"
    expect_success "TLS: --os-cacert with the CA" "${tls_env[@]}" "$TOOL" \
        --os-cacert "$TEST_TMP/tls.crt" auth
    expect_success "TLS: OS_CACERT with the CA" "${tls_env[@]}" \
        OS_CACERT="$TEST_TMP/tls.crt" "$TOOL" auth
    expect_success "TLS: --insecure skips the check" "${tls_env[@]}" "$TOOL" \
        --insecure auth
    expect_failure "TLS: a missing CA file is a clear error" "${tls_env[@]}" \
        "$TOOL" --os-cacert "$TEST_TMP/nope.pem" auth
    expect_output "...naming the file" "cannot read CA certificate file"
    kill "$SOCAT_PID" 2>/dev/null
    SOCAT_PID=
else
    fail "socat and openssl are needed for the TLS checks"
fi

# ---- flows: create, attach, detach, delete ------------------------------------

vol=$(unique_name t41-vol)
expect_success "create a 1 GiB volume in $R1" client --os-cloud $DEMO volume-create 1 "$vol"
vol_id=$(last id)
[ -n "$vol_id" ] && VOLUMES+=("$R1 $vol_id")
expect_output "...Cinder answered 'creating'" '^created_status=creating$'
expect_output "...and it became available" '^seen=(creating,)*available$'
expect_success "...its RBD image exists: volumes/volume-$vol_id on ceph1" \
    rbd1 info "volumes/volume-$vol_id"

expect_success "show it by name" client --os-cloud $DEMO volume-show "$vol"
expect_equal "...same id" "$vol_id" "$(last id)"
expect_equal "...rbd image name" "volume-$vol_id" "$(last rbd_image)"
expect_success "set metadata" client --os-cloud $DEMO metadata-set "$vol_id" rbdmove.note=t41
expect_success "...shown" client --os-cloud $DEMO volume-show "$vol_id"
expect_output "...with the new key" '^meta.rbdmove.note=t41$'

src_srv=$(unique_name t41-src)
dst_srv=$(unique_name t41-dst)
src_id=$(os_server create $R1 "$src_srv") && SERVERS+=("$R1 $src_id")
dst_id=$(os_server create $R2 "$dst_srv") && SERVERS+=("$R2 $dst_id")
expect_success "servers created in both regions" test -n "$src_id" -a -n "$dst_id"

expect_success "attach the volume to $src_srv" client --os-cloud $DEMO attach "$src_srv" "$vol"
expect_output "...Nova chose a device" '^device=/dev/[a-z]+$'
device=$(last device)
expect_output "...status went through reserved/attaching to in-use" \
    '^seen=(reserved,|attaching,)*in-use$'
expect_success "the server lists the attachment" client --os-cloud $DEMO server-show "$src_id"
expect_output "...with the volume" "^volume.0=$vol_id $device$"

# ---- plan of a real attached volume ----------------------------------------

expect_exit 0 "plan (demo, by names): the move can proceed" \
    plan --os-cloud $DEMO --os-region-name $R1 --dst-os-region-name $R2 \
    --dst-server "$dst_srv" "$vol"
expect_output "...source volume" "^  volume +$vol_id '$vol'$"
expect_output "...size" '^  size +1 GiB'
expect_output "...type" "^  type +$RBM_OS_VOLUME_TYPE$"
expect_output "...status" '^  status +in-use$'
expect_output "...attachment" "^  attached to +server $src_id '$src_srv' \(ACTIVE\) as $device$"
expect_output "...rbd image (pool unknown to a non-admin)" "^  rbd image +\(pool unknown\)/volume-$vol_id$"
expect_output "...warning why the pool is unknown" "admins only"
expect_output "...destination server" "^  server +$dst_id '$dst_srv' \(ACTIVE"
expect_output "...the new volume" "^  new volume +'$vol', 1 GiB, type $RBM_OS_VOLUME_TYPE"
expect_output "...the quota" '^  quota used +volumes [0-9]+ of [0-9]+, gigabytes [0-9]+ of [0-9]+$'
expect_output "...the earlier rbdmove metadata is a warning" "carries metadata of an earlier rbdmove run"
expect_output "...result" '^result: the move can proceed$'

expect_exit 0 "plan as admin, by ids: the RBD pool is known" \
    plan --os-cloud $ADMIN --os-region-name $R1 --dst-os-region-name $R2 \
    --dst-server "$dst_id" "$vol_id"
expect_output "...pool and image" "^  rbd image +volumes/volume-$vol_id$"
expect_output "...ceph fsid of ceph1" "^  ceph fsid +$(ceph1 fsid)$"
expect_output "...backend host" "^  backend +$RBM_OS_HOST_R1@"
expect_output "...destination pool" '^  rbd pool +volumes$'

expect_exit 0 "plan --json" plan --json --os-cloud $ADMIN --os-region-name $R1 \
    --dst-os-region-name $R2 --dst-server "$dst_id" "$vol_id"
cp "$LAST_OUTPUT" "$TEST_TMP/plan.json"
expect_success "...is one JSON object with the fields" /usr/bin/python3 - \
    "$TEST_TMP/plan.json" "$vol_id" "$src_id" "$dst_id" "$device" <<'PY'
import json, sys
path, vol, src, dst, dev = sys.argv[1:6]
p = json.load(open(path))
assert p["ok"] is True, p
s, d = p["source"], p["destination"]
assert s["region"] == "RegionOne" and d["region"] == "RegionTwo", (s, d)
assert s["authenticated"] and d["authenticated"]
assert s["volume"]["id"] == vol and s["volume"]["status"] == "in-use", s
assert s["volume"]["size_gib"] == 1
assert s["attachments"][0]["server_id"] == src, s
assert s["attachments"][0]["device"] == dev, s
assert s["rbd"]["image"] == "volume-" + vol and s["rbd"]["pool"] == "volumes", s
assert d["server"]["id"] == dst and d["server"]["status"] == "ACTIVE", d
assert d["volume"]["size_gib"] == 1 and d["volume"]["type"] == "ceph", d
assert d["quota"]["volumes_max"] is not None, d
assert p["problems"] == [], p["problems"]
assert any("earlier rbdmove run" in w["message"] for w in p["warnings"]), p
PY

expect_exit 1 "plan with a volume type missing in the destination" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 --dst-server "$dst_srv" \
    --dst-volume-type gold "$vol"
expect_output "...names the type and the way out" "volume type 'gold' does not exist in region 'RegionTwo' .*--dst-volume-type"

expect_success "detach it" client --os-cloud $DEMO detach "$src_srv" "$vol"
expect_output "...status went through detaching to available" \
    '^seen=(in-use,|detaching,)*available$'
expect_exit 0 "plan of the detached volume: can proceed" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 --dst-server "$dst_srv" "$vol"
expect_output "...attached to nothing" '^  attached to +nothing$'

# ---- a volume in error status ------------------------------------------------

expect_success "force the volume to 'error' (admin os-reset_status)" \
    client --os-cloud $ADMIN reset-status "$vol_id" error
t0=$(date +%s)
expect_failure "waiting for 'available' fails fast on 'error'" \
    client --os-cloud $DEMO volume-wait "$vol_id" available 60
t1=$(date +%s)
expect_output "...naming the status" "went to status 'error' while waiting for 'available'"
expect_success "...at once ($((t1 - t0)) s)" test $((t1 - t0)) -lt 10
expect_exit 1 "plan of a volume in error status" \
    plan --os-cloud $DEMO --dst-os-region-name $R2 --dst-server "$dst_srv" "$vol"
expect_output "...is a problem" "source: volume $vol_id is in status 'error'"
expect_success "reset it to available" client --os-cloud $ADMIN reset-status "$vol_id" available

expect_failure "creating a volume of an unknown type" \
    client --os-cloud $DEMO volume-create 1 "$(unique_name t41-bad)" no-such-type
expect_output "...Cinder's own message" "cannot create a 1 GiB volume .*: .*no-such-type.*\(HTTP 404\)"

expect_success "delete the volume" client --os-cloud $DEMO volume-delete "$vol_id"
expect_output "...status went through deleting to gone" '^seen=(available,)?(deleting,)*deleted$'
VOLUMES=()

# ---- manage-existing (admin) -----------------------------------------------------

img=$(unique_name t41-manage)
expect_success "an RBD image made outside Cinder" make_image 1 "volumes/$img" 1G
host="$RBM_OS_HOST_R1@ceph#ceph"
expect_success "Cinder lists it as manageable on $host" \
    client --os-cloud $ADMIN manageable "$host"
expect_output "...safe to manage" "^manageable\.[0-9]+=$img size=1 safe=yes$"
expect_success "manage it" client --os-cloud $ADMIN manage "$host" "$img" "$img"
mid=$(last id)
[ -n "$mid" ] && VOLUMES+=("$R1 $mid")
expect_output "...it became available" '^seen=.*available$'
expect_success "...Cinder renamed the image to volume-<id>" rbd1 info "volumes/volume-$mid"
track_image 1 "volumes/volume-$mid"
expect_success "unmanage it" client --os-cloud $ADMIN unmanage "$mid"
expect_output "...gone from Cinder" '^seen=.*deleted$'
expect_success "...the image stays" rbd1 info "volumes/volume-$mid"
VOLUMES=()

expect_success "pools as admin: RBD location info" client --os-cloud $ADMIN pools
expect_output "...pool volumes and ceph1's fsid" "rbd_pool=volumes fsid=$(ceph1 fsid)"
