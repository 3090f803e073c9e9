#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 600
#
# t57-ansible: ansible/batch.yml runs one plan across two hosts with
# ansible-core. The two inventory hosts are the lab's sshd (host keys
# verified against its known_hosts), each with a state directory and an
# rbdmove of its own (the role copies the binary). Host 1 of 2 runs
# `rbdmove batch --shard 1/2`, host 2 the rest: two moves of a server's
# volumes and a sync. The controller's report lists every job once, on the
# host whose shard it is; every volume is compared by content with its
# copy afterwards.
. "$(dirname "$0")/lib.sh"

lab_require ceph sshd openstack
command -v ansible-playbook >/dev/null ||
    bail "ansible-playbook not found: scripts/install-deps.sh installs ansible-core"

os_lab_init
T=$TEST_TMP
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$RBDMOVE_LAB/sshd.env"

os_servers src_srv $R1 "$(unique_name t57-src)" \
    dst_srv $R2 "$(unique_name t57-dst)"
v1=$(new_volume "$(unique_name t57-1)" 16M) || bail "cannot make a volume"
v2=$(new_volume "$(unique_name t57-2)" 16M) || bail "cannot make a volume"
v3=$(new_volume "$(unique_name t57-3)" 16M) || bail "cannot make a volume"

{
    batch_plan_defaults
    cat <<EOF
jobs:
  - move: $v1
    dst-server: $dst_srv
  - move: $v2
    dst-server: $dst_srv
  - sync: $v3
EOF
} >"$T/plan.yaml"

mkdir -p "$T/h1/bin" "$T/h2/bin"
cat >"$T/inventory.yml" <<EOF
rbdmove_gateways:
  vars:
    ansible_host: $SSH_HOST
    ansible_port: $SSH_PORT
    ansible_user: $SSH_USER
    ansible_ssh_private_key_file: $SSH_KEY
    ansible_ssh_common_args: -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
    ansible_python_interpreter: /usr/bin/python3
    rbdmove_install_deps: false
    rbdmove_environment:
      OS_CLIENT_CONFIG_FILE: $OS_CLIENT_CONFIG_FILE
  hosts:
    gw1:
      rbdmove_workdir: $T/h1
      rbdmove_bin: $T/h1/bin/rbdmove
    gw2:
      rbdmove_workdir: $T/h2
      rbdmove_bin: $T/h2/bin/rbdmove
EOF

# The async directory is named, not left to '~': ansible's async_status
# finds '~' through the controller's 'echo ~user' (the passwd entry), while
# async_wrapper expands it with the session's HOME, which the sshd lab sets
# to an empty directory of its own.
export ANSIBLE_HOME=$T/ansible ANSIBLE_LOCAL_TEMP=$T/ansible/tmp \
    ANSIBLE_REMOTE_TEMP=$T/ansible/remote ANSIBLE_ASYNC_DIR=$T/ansible/async \
    ANSIBLE_NOCOLOR=1 \
    ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_FORCE_COLOR=0
expect_success "ansible-playbook runs the plan on two hosts" \
    ansible-playbook -i "$T/inventory.yml" "$REPO/ansible/batch.yml" \
    -e "rbdmove_plan=$T/plan.yaml" -e "rbdmove_binary=$RBDMOVE" \
    -e "rbdmove_report=$T/report.json"

/usr/bin/python3 - "$T/report.json" >"$T/report.check" 2>&1 <<'EOF' &&
import json, sys
r = json.load(open(sys.argv[1]))
hosts = {h["host"]: h for h in r["hosts"]}
assert set(hosts) == {"gw1", "gw2"}, hosts
assert hosts["gw1"]["shard"] == "1/2" and hosts["gw2"]["shard"] == "2/2", hosts
where = {j["job"]: j["host"] for j in r["jobs"]}
assert where == {1: "gw1", 2: "gw2", 3: "gw1"}, where
assert all(j["result"] == "done" for j in r["jobs"]), r["jobs"]
assert r["ok"] is True
assert hosts["gw1"]["state_dir"].endswith("/h1/state"), hosts["gw1"]
assert all(h["batch"] for h in hosts.values()), hosts
print("ok")
EOF
    pass "the report lists jobs 1 and 3 on gw1, 2 on gw2, all done, with each batch and state directory" ||
    fail "report: $(cat "$T/report.check") $(cat "$T/report.json" 2>/dev/null | head -40)"
ls "$T/h1/state/"*.journal >/dev/null 2>&1 && ls "$T/h2/state/"*.journal >/dev/null 2>&1 &&
    pass "each host kept its batch in its own state directory" ||
    fail "state: $(ls -R "$T/h1" "$T/h2" | head -20)"

for v in "$v1" "$v2"; do
    d=
    for j in "$T"/h*/state/*.batch/job-*/*.journal; do
        [ "$(sed -n 's/^src.volume //p' "$j")" = "$v" ] &&
            d=$(sed -n 's/^dst.volume //p' "$j")
    done
    [ -n "$d" ] || {
        fail "no copy of $v"
        continue
    }
    VOLUMES+=("$R2 $d")
    expect_equal "moved $v: equal at the destination" \
        "$(image_checksum 1 "volumes/volume-$v")" "$(image_checksum 2 "volumes/volume-$d")"
    expect_equal "moved $v: attached to the destination server" "in-use $dst_srv" \
        "$(volume_field $R2 "$d" status) $(volume_field $R2 "$d" attached.0 | cut -d' ' -f1)"
done
c=$(sed -n 's/^rbdmove: volume \([0-9a-f-]*\) holds the source.*/\1/p' "$T"/h1/state/*.batch/job-3/log | tail -n 1)
[ -n "$c" ] && VOLUMES+=("$R2 $c")
expect_equal "synced $v3: equal in its copy" \
    "$(image_checksum 1 "volumes/volume-$v3")" "$(image_checksum 2 "volumes/volume-$c")"
