#!/bin/bash
# SPDX-License-Identifier: MIT
#
# rbdmove's two-region OpenStack lab on loopback, from Debian 12's packages.
#
#   scripts/openstack-lab.sh start              start it (and the Ceph lab if needed)
#   scripts/openstack-lab.sh stop [--with-ceph] stop it (and the Ceph lab if asked)
#   scripts/openstack-lab.sh status             exit 0 when every service runs
#                                               (and both Ceph clusters answer)
#
# What runs (all on 127.0.0.1, every process started here with setsid and a
# pid file, stopped by process group):
#   MariaDB 13306, RabbitMQ 15672 (dist 25672, epmd 14369),
#   Keystone 15000 (fernet; regions RegionOne and RegionTwo),
#   Glance 19292 (file store; one 1 MiB raw image, registered in both regions),
#   Neutron stand-in 19696 (scripts/openstack/neutron-standin.py),
#   per region: Placement (18778 | 18788), Nova api/conductor/scheduler/compute
#   with fake.FakeDriver (18774 | 18784), Cinder api/scheduler/volume with the
#   RBD driver on that region's Ceph cluster, pool `volumes` (18776 | 18786).
#
# Output: $RBDMOVE_LAB/openstack/clouds.yaml (clouds rbdmove-lab, rbdmove-demo,
# rbdmove-appcred) and $RBDMOVE_LAB/openstack.env (OS_* variables, ports,
# names). Every password is generated at start and lives only in files under
# $RBDMOVE_LAB (default /tmp/rbm). Logs: $RBDMOVE_LAB/openstack/log/.
# The Ceph clusters come from scripts/ceph-lab.sh ($RBDMOVE_LAB/ceph1, ceph2).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$SRC/scripts/openstack
LAB=${RBDMOVE_LAB:-/tmp/rbm}
OSD=$LAB/openstack
PY=/usr/bin/python3 # Debian's: the OpenStack libraries live there, not in a pyenv
SPATH=/usr/sbin:/usr/bin:/sbin:/bin
# Services and tools run with this environment only: nothing of the caller's
# (OS_* variables, a pyenv's PATH) leaks in.
CLEAN_ENV=(env -i PATH="$SPATH" HOME="$OSD/home" LANG=C.UTF-8 TMPDIR="$OSD/tmp"
    PYTHONDONTWRITEBYTECODE=1)

# The port plan. RBM_OS_PORT_OFFSET (default 0) shifts every port, for a
# second lab beside the first (with its own RBDMOVE_LAB, whose ceph1 and
# ceph2 may be symlinks to the first one's clusters).
OFF=${RBM_OS_PORT_OFFSET:-0}
PORT_KEYSTONE=$((15000 + OFF))
PORT_PLACEMENT_R1=$((18778 + OFF))
PORT_PLACEMENT_R2=$((18788 + OFF))
PORT_GLANCE=$((19292 + OFF))
PORT_CINDER_R1=$((18776 + OFF))
PORT_CINDER_R2=$((18786 + OFF))
PORT_NOVA_R1=$((18774 + OFF))
PORT_NOVA_R2=$((18784 + OFF))
PORT_NEUTRON=$((19696 + OFF))
PORT_MYSQL=$((13306 + OFF))
PORT_AMQP=$((15672 + OFF))
PORT_RABBIT_DIST=$((25672 + OFF))
PORT_EPMD=$((14369 + OFF))
RABBIT_NODE=rbmlab$([ "$OFF" = 0 ] || echo "$OFF")@localhost
ALL_PORTS="$PORT_MYSQL $PORT_AMQP $PORT_RABBIT_DIST $PORT_EPMD $PORT_KEYSTONE
  $PORT_PLACEMENT_R1 $PORT_PLACEMENT_R2 $PORT_GLANCE $PORT_CINDER_R1 $PORT_CINDER_R2
  $PORT_NOVA_R1 $PORT_NOVA_R2 $PORT_NEUTRON"

T0=$EPOCHREALTIME
elapsed() { awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN { printf "%.1f", a - b }'; }
say() { echo "[openstack-lab $(elapsed)s] $*"; }
die() {
    echo "openstack-lab: $*" >&2
    exit 1
}

usage() {
    sed -n '4,9s/^# \{0,1\}//p' "$0"
    exit 2
}

# ---------------------------------------------------------------- processes
# spawn NAME CMD...: runs CMD in a new session (so its pid is also its process
# group id), with a clean environment carrying a marker that stop checks
# before it kills anything.
spawn() {
    local name=$1
    shift
    setsid "${CLEAN_ENV[@]}" RBDMOVE_OSLAB="$OSD" "$@" \
        >>"$OSD/log/$name.out" 2>&1 </dev/null 9>&- &
    echo $! >"$OSD/run/$name.pid"
    disown $!
    echo "$name" >>"$OSD/run/order"
}

# ours PID: true when PID is alive and was started by this lab.
ours() {
    [ -r "/proc/$1/environ" ] &&
        tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "RBDMOVE_OSLAB=$OSD"
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

service_names() {
    if [ -f "$OSD/run/order" ]; then cat "$OSD/run/order"; fi
}

# stop_groups SECONDS NAME...: TERM to each one's process group, KILL after
# SECONDS.
stop_groups() {
    local grace=$1 name pid pids=() deadline
    shift
    for name in "$@"; do
        pid=$(cat "$OSD/run/$name.pid" 2>/dev/null) || continue
        if ours "$pid"; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    deadline=$((SECONDS + grace))
    for pid in "${pids[@]}"; do
        while group_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        if group_alive "$pid"; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        while group_alive "$pid"; do sleep 0.1; done
    done
}

# The OpenStack services first (their state is thrown away: no need to wait
# for their graceful shutdown), then MariaDB and RabbitMQ, epmd last: an
# Erlang node that finds no epmd starts a daemon of its own, which would
# outlive the lab and hold its port.
stop_services() {
    local names name services=()
    names=$(service_names | tac)
    for name in $names; do
        case "$name" in mariadb | rabbitmq | epmd) ;; *) services+=("$name") ;; esac
    done
    stop_groups 3 "${services[@]}"
    stop_groups 15 rabbitmq mariadb
    stop_groups 5 epmd
    rm -f "$OSD"/run/*.pid "$OSD/run/order"
    rm -f "$LAB/openstack.env" "$OSD/clouds.yaml" "$OSD/openstack.env.pending"
}

# wait_port PORT SECONDS [NAME]: waits until something listens on 127.0.0.1:PORT
# (and NAME's process group is still alive, when given).
wait_port() {
    local port=$1 limit=$2 name=${3:-} deadline=$((SECONDS + $2))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        # The process itself, or its group: until the child has called
        # setsid() its group does not exist yet.
        if [ -n "$name" ] && ! kill -0 "$(cat "$OSD/run/$name.pid")" 2>/dev/null &&
            ! group_alive "$(cat "$OSD/run/$name.pid")"; then
            fail "$name exited before listening on $port"
        fi
        [ $SECONDS -lt $deadline ] || fail "nothing listens on port $port after ${limit}s"
        sleep 0.2
    done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# fail MSG: ends the start with MSG; on_exit then cleans up.
fail() {
    echo "openstack-lab: start FAILED after $(elapsed)s: $*" >&2
    exit 1
}

# While starting, any failure (fail, or a command failing under set -e) shows
# the errors in the logs and stops everything this start began.
STARTING=
on_exit() {
    local rc=$?
    [ $rc -ne 0 ] && [ -n "$STARTING" ] || return 0
    STARTING=
    local f i
    for i in "${!BG_PIDS[@]}"; do
        # A Ceph lab half-way through its start is left to finish it.
        [ "${BG_NAMES[$i]}" = ceph-lab ] ||
            kill -KILL -- "-${BG_PIDS[$i]}" 2>/dev/null || true
    done
    for f in "$OSD"/log/*; do
        [ -s "$f" ] || continue
        if grep -qE 'ERROR|CRITICAL|Traceback|error' "$f" 2>/dev/null; then
            echo "---- $f (last error lines)" >&2
            grep -E 'ERROR|CRITICAL|Traceback|[Ee]rror' "$f" | tail -n 5 >&2
        fi
    done
    echo "openstack-lab: stopping what was started; logs kept in $OSD/log" >&2
    stop_services
    exit $rc
}

# ---------------------------------------------------------------- packages
# The package list is OPENSTACK_PACKAGES in scripts/install-deps.sh, which
# does nothing when everything is installed.
ensure_packages() {
    "$SRC/scripts/install-deps.sh" --openstack >"$OSD/log/install-deps.out" 2>&1 || {
        tail -n 20 "$OSD/log/install-deps.out" >&2
        fail "scripts/install-deps.sh --openstack failed"
    }
}

# ---------------------------------------------------------------- Ceph
ceph_ok() {
    local c
    for c in ceph1 ceph2; do
        [ -f "$LAB/$c/ceph.conf" ] || return 1
        timeout 20 rados -c "$LAB/$c/ceph.conf" lspools 2>/dev/null |
            grep -qx volumes || return 1
    done
}

# ---------------------------------------------------------------- secrets
gen_secret() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write_secrets() {
    local k
    umask 077
    {
        echo "# rbdmove OpenStack lab secrets (generated at start)"
        for k in ADMIN DEMO NOVA CINDER PLACEMENT GLANCE DB RABBIT; do
            echo "export RBM_PW_$k=$(gen_secret)"
        done
    } >"$OSD/secrets.env"
    umask 022
}

# Variables labtool.py and the config writers need.
export_lab_env() {
    local v
    export RBM_LAB="$LAB" RBM_OSD="$OSD" RBM_HOST_R1=rbm-r1 RBM_HOST_R2=rbm-r2
    export RBM_IMAGE_NAME=rbdmove-tiny RBM_FLAVOR_NAME=m1.tiny
    export RBM_DB_USER=rbmlab RBM_RABBIT_USER=rbmlab
    export RBM_RABBIT_VHOSTS="nova_r1 nova_r2 cinder_r1 cinder_r2"
    for v in KEYSTONE PLACEMENT_R1 PLACEMENT_R2 GLANCE CINDER_R1 CINDER_R2 NOVA_R1 \
        NOVA_R2 NEUTRON MYSQL AMQP RABBIT_DIST EPMD; do
        eval "export RBM_PORT_$v=\$PORT_$v"
    done
    # shellcheck disable=SC1091
    . "$OSD/secrets.env"
}

db_url() { echo "mysql+pymysql://$RBM_DB_USER:$RBM_PW_DB@127.0.0.1:$PORT_MYSQL/$1?charset=utf8"; }
rabbit_url() { echo "rabbit://$RBM_RABBIT_USER:$RBM_PW_RABBIT@127.0.0.1:$PORT_AMQP/$1"; }

# ksauth SECTION USER PASSWORD [REGION]: a keystoneauth password section.
ksauth() {
    cat <<EOF
[$1]
auth_type = password
auth_url = http://127.0.0.1:$PORT_KEYSTONE/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $3
EOF
    [ -z "${4:-}" ] || echo "region_name = $4"
    echo "valid_interfaces = public"
    echo
}

authtoken() {
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$PORT_KEYSTONE/v3
auth_url = http://127.0.0.1:$PORT_KEYSTONE/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $2
service_token_roles_required = true
interface = public

EOF
}

# ---------------------------------------------------------------- configs
write_configs() {
    local r
    # AF_UNIX paths are limited to 107 bytes.
    MYSQL_SOCK=$OSD/run/mysqld.sock
    if [ ${#MYSQL_SOCK} -gt 100 ]; then
        MYSQL_SOCK=/tmp/rbm-mysqld-$(printf '%s' "$OSD" | cksum | cut -d' ' -f1).sock
    fi
    mkdir -p "$OSD"/{etc,log,run,home,tmp,mysql,rabbitmq,keystone,glance/images,glance/staging,glance/cache}

    cat >"$OSD/etc/my.cnf" <<EOF
[mysqld]
user = root
datadir = $OSD/mysql
socket = $MYSQL_SOCK
pid-file = $OSD/run/mysqld.pidfile
log-error = $OSD/log/mariadb.log
port = $PORT_MYSQL
bind-address = 127.0.0.1
skip-name-resolve
skip-log-bin
tmpdir = $OSD/tmp
max_connections = 1000
performance_schema = OFF
innodb_buffer_pool_size = 96M
innodb_log_file_size = 64M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
innodb_flush_method = nosync
sync_binlog = 0
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
[client]
socket = $MYSQL_SOCK
EOF

    # RabbitMQ: no plugins, one user and four vhosts loaded at boot.
    echo '[].' >"$OSD/rabbitmq/enabled_plugins"
    echo '[].' >"$OSD/rabbitmq/advanced.config"
    : >"$OSD/rabbitmq/rabbitmq-env.conf"
    "$PY" "$HERE/labtool.py" rabbit-defs >"$OSD/rabbitmq/definitions.json"
    chmod 600 "$OSD/rabbitmq/definitions.json"
    cat >"$OSD/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$PORT_AMQP
distribution.listener.interface = 127.0.0.1
distribution.listener.port_range.min = $PORT_RABBIT_DIST
distribution.listener.port_range.max = $PORT_RABBIT_DIST
load_definitions = $OSD/rabbitmq/definitions.json
loopback_users = none
log.file = $OSD/log/rabbitmq.log
log.file.level = warning
log.console = false
disk_free_limit.absolute = 50MB
EOF

    cat >"$OSD/etc/keystone.conf" <<EOF
[DEFAULT]
log_file = $OSD/log/keystone.log
[database]
connection = $(db_url keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $OSD/keystone/fernet-keys
[fernet_receipts]
key_repository = $OSD/keystone/fernet-keys
[credential]
key_repository = $OSD/keystone/credential-keys
[identity]
password_hash_rounds = 4
# Keystone without a cache checks a token with hundreds of queries (strace
# counted 916 for one): 0.6-3 s per check on this machine, paid by every
# service for every new token. Production runs it with a cache
# (memcached); one keystone process here, so its own memory serves.
[cache]
enabled = true
backend = oslo_cache.dict
expiration_time = 600
EOF

    cat >"$OSD/etc/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT_GLANCE
workers = 1
log_file = $OSD/log/glance-api.log
image_cache_dir = $OSD/glance/cache
node_staging_uri = file://$OSD/glance/staging
[database]
connection = $(db_url glance)
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $OSD/glance/images
[paste_deploy]
flavor = keystone
config_file = $HERE/glance-api-paste.ini
[oslo_concurrency]
lock_path = $OSD/glance/lock
$(authtoken glance "$RBM_PW_GLANCE")
EOF

    for r in 1 2; do
        local region=RegionOne host=$RBM_HOST_R1
        [ $r = 1 ] || region=RegionTwo host=$RBM_HOST_R2
        local nport=PORT_NOVA_R$r cport=PORT_CINDER_R$r
        mkdir -p "$OSD/etc/placement-r$r" "$OSD/nova-r$r/instances" "$OSD/cinder-r$r"

        cat >"$OSD/etc/placement-r$r/placement.conf" <<EOF
[DEFAULT]
log_file = $OSD/log/placement-r$r.log
[placement_database]
connection = $(db_url placement_r$r)
[api]
auth_strategy = keystone
$(authtoken placement "$RBM_PW_PLACEMENT")
EOF

        cat >"$OSD/etc/nova-r$r.conf" <<EOF
[DEFAULT]
host = $host
my_ip = 127.0.0.1
state_path = $OSD/nova-r$r
instances_path = $OSD/nova-r$r/instances
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = ${!nport}
osapi_compute_workers = 1
transport_url = $(rabbit_url nova_r$r)
graceful_shutdown_timeout = 5
heal_instance_info_cache_interval = -1
periodic_fuzzy_delay = 0
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $HERE/nova-api-paste.ini
[api_database]
connection = $(db_url nova_api_r$r)
max_pool_size = 5
max_overflow = 10
[database]
connection = $(db_url nova_r$r)
max_pool_size = 5
max_overflow = 10
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[vnc]
enabled = false
[oslo_messaging_notifications]
driver = noop
[oslo_concurrency]
lock_path = $OSD/nova-r$r/lock
[glance]
region_name = $region
valid_interfaces = public
$(authtoken nova "$RBM_PW_NOVA")
[service_user]
send_service_user_token = true
$(ksauth service_user nova "$RBM_PW_NOVA" | tail -n +2)
$(ksauth placement nova "$RBM_PW_NOVA" $region)
$(ksauth neutron nova "$RBM_PW_NOVA" $region)
$(ksauth cinder nova "$RBM_PW_NOVA")
os_region_name = $region
catalog_info = volumev3::publicURL
EOF

        awk '/^\[/ { skip = ($0 == "[database]" || $0 == "[api_database]") } !skip' \
            "$OSD/etc/nova-r$r.conf" >"$OSD/etc/nova-compute-r$r.conf"

        local cephconf=$LAB/ceph$r/ceph.conf
        cat >"$OSD/etc/cinder-r$r.conf" <<EOF
[DEFAULT]
host = $host
my_ip = 127.0.0.1
state_path = $OSD/cinder-r$r
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = ${!cport}
osapi_volume_workers = 1
transport_url = $(rabbit_url cinder_r$r)
auth_strategy = keystone
api_paste_config = $HERE/cinder-api-paste.ini
enabled_backends = ceph
default_volume_type = ceph
periodic_interval = 10
periodic_fuzzy_delay = 0
scheduler_driver_init_wait_time = 20
graceful_shutdown_timeout = 5
# The fault tests keep each case's volumes until they end: more than
# Cinder's default of 10 per project (t50 tests a refusal with its own).
quota_volumes = 40
[database]
connection = $(db_url cinder_r$r)
max_pool_size = 5
max_overflow = 10
[oslo_concurrency]
lock_path = $OSD/cinder-r$r/lock
[oslo_messaging_notifications]
driver = noop
[coordination]
backend_url = file://$OSD/cinder-r$r/coordination
$(authtoken cinder "$RBM_PW_CINDER")
$(ksauth nova cinder "$RBM_PW_CINDER" $region)
interface = public
[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = volumes
rbd_ceph_conf = $cephconf
rbd_user = admin
rbd_exclusive_cinder_pool = true
rbd_flatten_volume_from_snapshot = false
rados_connect_timeout = 60
report_discard_supported = true
EOF
    done
    chmod 600 "$OSD"/etc/*.conf "$OSD"/etc/*/*.conf
}

# ---------------------------------------------------------------- pieces
start_mariadb() {
    mariadb-install-db --defaults-file="$OSD/etc/my.cnf" --skip-test-db \
        --auth-root-authentication-method=socket >"$OSD/log/mariadb-install.out" 2>&1 ||
        fail "mariadb-install-db failed (see $OSD/log/mariadb-install.out)"
    spawn mariadb /usr/sbin/mariadbd --defaults-file="$OSD/etc/my.cnf"
}

create_databases() {
    local db sql=""
    for db in keystone glance placement_r1 placement_r2 nova_api_r1 nova_r1 nova_cell0_r1 \
        nova_api_r2 nova_r2 nova_cell0_r2 cinder_r1 cinder_r2; do
        sql+="CREATE DATABASE $db; "
    done
    sql+="CREATE USER '$RBM_DB_USER'@'127.0.0.1' IDENTIFIED BY '$RBM_PW_DB'; "
    sql+="GRANT ALL PRIVILEGES ON *.* TO '$RBM_DB_USER'@'127.0.0.1'; FLUSH PRIVILEGES;"
    mariadb --defaults-file="$OSD/etc/my.cnf" -uroot <<<"$sql" ||
        fail "creating the databases failed"
}

start_rabbit() {
    # epmd first, in its own group: Erlang would otherwise start a daemon
    # that outlives the lab.
    spawn epmd /usr/bin/epmd -d -port "$PORT_EPMD" -address 127.0.0.1
    wait_port "$PORT_EPMD" 10 epmd
    spawn rabbitmq env RABBITMQ_NODENAME="$RABBIT_NODE" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT_AMQP" \
        RABBITMQ_DIST_PORT="$PORT_RABBIT_DIST" ERL_EPMD_PORT="$PORT_EPMD" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_CONFIG_FILE="$OSD/rabbitmq/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$OSD/rabbitmq/advanced.config" \
        RABBITMQ_CONF_ENV_FILE="$OSD/rabbitmq/rabbitmq-env.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$OSD/rabbitmq/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$OSD/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$OSD/log" \
        RABBITMQ_PID_FILE="$OSD/run/rabbitmq.pidfile" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none" \
        /usr/lib/rabbitmq/bin/rabbitmq-server
}

# bg [-n] NAME CMD...: a setup step in the background, output in
# log/NAME.out; -n runs it niced.
BG_PIDS=()
BG_NAMES=()
bg() {
    local nice=
    [ "$1" != -n ] || {
        nice=1
        shift
    }
    local name=$1
    shift
    set -m # its own process group, so that a failed start can end all of it
    (
        trap - EXIT INT TERM
        exec 9>&- # the lock stays with this script, not with daemons
        [ -z "$nice" ] || renice -n 10 -p $BASHPID >/dev/null
        "$@"
    ) >"$OSD/log/$name.out" 2>&1 &
    set +m
    BG_PIDS+=($!)
    BG_NAMES+=("$name")
}

# bg_wait NAME: waits for one background step, fails when it failed.
bg_wait() {
    local i
    for i in "${!BG_NAMES[@]}"; do
        if [ "${BG_NAMES[$i]}" = "$1" ]; then
            wait "${BG_PIDS[$i]}" || fail "$1 failed: see $OSD/log/$1.out"
            return 0
        fi
    done
    fail "internal: no background step $1"
}

run() { # run NAME MODULE:FUNC ARGS... (a tool, in the foreground, clean environment)
    if [ "$1" = env ]; then # run env VAR=VALUE... CMD...: more environment
        shift
        "${CLEAN_ENV[@]}" "$@"
    else
        "${CLEAN_ENV[@]}" "$PY" "$HERE/run.py" "$@"
    fi
}

setup_keystone() {
    local c=(--config-file "$OSD/etc/keystone.conf") u=(--keystone-user root --keystone-group root)
    # The admin password reaches keystone-manage through its environment
    # (OS_BOOTSTRAP_PASSWORD), not its command line.
    run env OS_BOOTSTRAP_PASSWORD="$RBM_PW_ADMIN" "$PY" "$HERE/run.py" keystone-manage keystone_lab:main \
        --step "${c[@]}" db_sync \
        --step "${c[@]}" fernet_setup "${u[@]}" \
        --step "${c[@]}" credential_setup "${u[@]}" \
        --step "${c[@]}" bootstrap --bootstrap-username admin --bootstrap-project-name admin \
        --bootstrap-role-name admin --bootstrap-region-id RegionOne \
        --bootstrap-admin-url "http://127.0.0.1:$PORT_KEYSTONE/v3" \
        --bootstrap-internal-url "http://127.0.0.1:$PORT_KEYSTONE/v3" \
        --bootstrap-public-url "http://127.0.0.1:$PORT_KEYSTONE/v3" \
        --step lab-setup "${c[@]}" "$OSD/keystone/lab-spec.json" "$OSD/keystone/lab-ids.json"
}

setup_nova() { # setup_nova R: cells v2 for region R
    local r=$1 c=(--config-file "$OSD/etc/nova-r$1.conf")
    run nova-manage nova.cmd.manage:main \
        --step "${c[@]}" api_db sync \
        --step "${c[@]}" cell_v2 map_cell0 --database_connection "$(db_url "nova_cell0_r$r")" \
        --step "${c[@]}" cell_v2 create_cell --name cell1 \
        --step "${c[@]}" db sync
}

uwsgi_app() { # uwsgi_app NAME PORT MODULE THREADS ENV...
    local name=$1 port=$2 module=$3 threads=$4
    shift 4
    spawn "$name" env "$@" /usr/bin/uwsgi-core --plugin python3 \
        --http-socket "127.0.0.1:$port" --module "$module" --need-app \
        --master --processes 1 --threads "$threads" --die-on-term \
        --add-header 'Connection: close' --buffer-size 65535 \
        --logto "$OSD/log/$name-uwsgi.log" --disable-logging
}

pyservice() { # pyservice NAME MODULE:FUNC CONFIG
    spawn "$1" "$PY" "$HERE/run.py" "$1" "$2" --config-file "$3" --log-file "$OSD/log/$1.log"
}

# zygote_line NAME MODULE:FUNC AFTER_FILE AFTER_REGEX CONFIG: one service for
# run.py --zygote (tab-separated; "-" for no AFTER), registered for stop.
zygote_line() {
    printf '%s\t' "$1" "$2" "$OSD/log/$1.out" "$OSD/run/$1.pid" "$3" "$4" \
        --config-file "$5" --log-file
    printf '%s\n' "$OSD/log/$1.log"
    echo "$1" >>"$OSD/run/order"
}

# ---------------------------------------------------------------- commands
all_running() {
    local name pid any=
    for name in $(service_names); do
        any=1
        pid=$(cat "$OSD/run/$name.pid" 2>/dev/null) || return 1
        ours "$pid" || return 1
    done
    [ -n "$any" ] && [ -f "$LAB/openstack.env" ]
}

# group_mem PGID: "PSS RSS" in KiB, summed over the process group.
group_mem() {
    local p pss=0 rss=0 a b
    for p in $(pgrep -g "$1"); do
        read -r a b < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
            "/proc/$p/smaps_rollup" 2>/dev/null || echo 0 0)
        pss=$((pss + a))
        rss=$((rss + b))
    done
    echo "$pss $rss"
}

cmd_status() {
    local name pid state rc=0 any='' pss rss tpss=0 trss=0
    for name in $(service_names); do
        [ -n "$any" ] || printf '%-22s %-8s %-8s %9s %9s\n' SERVICE PGID STATE PSS_MiB RSS_MiB
        any=1
        pid=$(cat "$OSD/run/$name.pid" 2>/dev/null || echo -)
        pss=0 rss=0
        if [ "$pid" != - ] && ours "$pid"; then
            state=running
            read -r pss rss < <(group_mem "$pid")
        else
            state=DEAD
            rc=1
        fi
        tpss=$((tpss + pss))
        trss=$((trss + rss))
        printf '%-22s %-8s %-8s %9d %9d\n' "$name" "$pid" "$state" $((pss / 1024)) $((rss / 1024))
    done
    if [ -z "$any" ]; then
        echo "openstack lab: stopped"
        return 3
    fi
    printf '%-22s %-8s %-8s %9d %9d\n' total "" "" $((tpss / 1024)) $((trss / 1024))
    if ! ceph_ok; then
        echo "openstack lab: its Ceph clusters ($LAB/ceph1, ceph2: pool volumes) do not answer"
        rc=1
    fi
    if [ $rc = 0 ] && [ ! -f "$LAB/openstack.env" ]; then
        echo "openstack lab: processes up, but start did not finish"
        return 1
    fi
    [ $rc = 0 ] && echo "openstack lab: running ($LAB/openstack.env)" ||
        echo "openstack lab: DEGRADED"
    return $rc
}

cmd_stop() {
    local with_ceph=
    [ "${1:-}" = --with-ceph ] && with_ceph=1
    [ -n "${1:-}" ] && [ -z "$with_ceph" ] && usage
    if [ -d "$OSD/run" ]; then
        stop_services
        say "openstack lab stopped"
    fi
    if [ -n "$with_ceph" ]; then
        "$SRC/scripts/ceph-lab.sh" stop
    fi
}

cmd_start() {
    if all_running; then
        say "already running ($LAB/openstack.env)"
        return 0
    fi
    [ -d "$OSD/run" ] && stop_services
    local p
    for p in $ALL_PORTS; do
        port_in_use "$p" && die "port $p on 127.0.0.1 is already in use: $(ss -Hltnp "sport = :$p" | head -n1)"
    done
    rm -rf "$OSD"
    mkdir -p "$OSD/log" "$OSD/run"
    STARTING=1
    trap on_exit EXIT
    trap 'exit 130' INT TERM
    ensure_packages
    write_secrets
    export_lab_env
    write_configs

    # Ceph in the background while the rest comes up.
    local ceph_started=
    if ! ceph_ok; then
        [ -x "$SRC/scripts/ceph-lab.sh" ] || fail "the Ceph lab is not running and scripts/ceph-lab.sh is missing"
        say "starting the Ceph lab (scripts/ceph-lab.sh start)"
        bg ceph-lab "$SRC/scripts/ceph-lab.sh" start
        ceph_started=1
    fi

    start_mariadb
    start_rabbit
    spawn neutron-standin "$PY" "$HERE/neutron-standin.py" --port "$PORT_NEUTRON"
    wait_port "$PORT_MYSQL" 60 mariadb
    create_databases
    say "MariaDB up, databases created"

    # Keystone is on the critical path: the other schema syncs run niced.
    local m=--config-file
    "$PY" "$HERE/labtool.py" keystone-spec "$OSD/keystone/lab-spec.json"
    bg keystone-setup setup_keystone
    bg -n glance-db run glance-manage glance.cmd.manage:main $m "$OSD/etc/glance-api.conf" db_sync
    bg -n placement-db run placement-manage placement.cmd.manage:main \
        --step $m "$OSD/etc/placement-r1/placement.conf" db sync \
        --step $m "$OSD/etc/placement-r2/placement.conf" db sync
    bg -n nova-db-r1 setup_nova 1
    bg -n nova-db-r2 setup_nova 2
    bg -n cinder-db run cinder-manage cinder.cmd.manage:main \
        --step $m "$OSD/etc/cinder-r1.conf" db sync --step $m "$OSD/etc/cinder-r2.conf" db sync

    bg_wait keystone-setup
    say "keystone database, fernet keys, bootstrap, catalog and users done"
    uwsgi_app keystone "$PORT_KEYSTONE" 'keystone.server.wsgi:initialize_public_application()' 4 \
        OS_KEYSTONE_CONFIG_FILES="$OSD/etc/keystone.conf"
    wait_port "$PORT_KEYSTONE" 60 keystone
    "$PY" "$HERE/labtool.py" keystone >"$OSD/log/labtool-keystone.out" 2>&1 ||
        fail "keystone setup failed: $(tail -n 3 "$OSD/log/labtool-keystone.out")"
    say "keystone up: tokens work, application credential created"

    wait_port "$PORT_AMQP" 90 rabbitmq
    say "RabbitMQ up"

    bg_wait placement-db
    for r in 1 2; do
        p=PORT_PLACEMENT_R$r
        uwsgi_app placement-r$r "${!p}" 'placement.wsgi:init_application()' 1 \
            OS_PLACEMENT_CONFIG_DIR="$OSD/etc/placement-r$r"
    done
    bg_wait glance-db
    pyservice glance-api glance.cmd.api:main "$OSD/etc/glance-api.conf"

    # Nova's eight services from one import, Cinder's six from another.
    # nova-compute reaches the databases only through the conductor, and
    # talks to it once it listens; cinder-volume starts once Ceph answers.
    local nova_spec=$OSD/run/nova.zygote cinder_spec=$OSD/run/cinder.zygote
    for r in 1 2; do
        for p in conductor scheduler api; do
            zygote_line nova-$p-r$r nova.cmd.$p:main - - "$OSD/etc/nova-r$r.conf"
        done >>"$nova_spec"
        zygote_line nova-compute-r$r nova.cmd.compute:main \
            "$OSD/log/nova-conductor-r$r.log" 'Starting conductor node' \
            "$OSD/etc/nova-compute-r$r.conf" >>"$nova_spec"
        for p in api scheduler; do
            zygote_line cinder-$p-r$r cinder.cmd.$p:main - - "$OSD/etc/cinder-r$r.conf"
        done >>"$cinder_spec"
    done
    for r in 1 2; do
        zygote_line cinder-volume-r$r cinder.cmd.volume:main "$OSD/run/ceph-ready" ok \
            "$OSD/etc/cinder-r$r.conf" >>"$cinder_spec"
    done
    bg_wait nova-db-r1
    bg_wait nova-db-r2
    bg nova-zygote "${CLEAN_ENV[@]}" RBDMOVE_OSLAB="$OSD" "$PY" "$HERE/run.py" --zygote "$nova_spec"
    bg_wait cinder-db
    bg cinder-zygote "${CLEAN_ENV[@]}" RBDMOVE_OSLAB="$OSD" "$PY" "$HERE/run.py" --zygote "$cinder_spec"

    if [ -n "$ceph_started" ]; then
        bg_wait ceph-lab
    fi
    ceph_ok || fail "the Ceph lab does not answer (pool volumes in $LAB/ceph1 and $LAB/ceph2)"
    echo ok >"$OSD/run/ceph-ready"
    bg_wait nova-zygote
    bg_wait cinder-zygote
    say "Ceph ready; placement, glance, nova and cinder started"

    "$PY" "$HERE/labtool.py" ready >"$OSD/log/labtool-ready.out" 2>&1 ||
        fail "lab not ready: $(tail -n 3 "$OSD/log/labtool-ready.out")"
    STARTING=
    say "OpenStack lab ready: $LAB/openstack.env, $OSD/clouds.yaml"
}

# One start or stop at a time (tests may autostart the lab).
lock() {
    mkdir -p "$LAB"
    exec 9>"$LAB/.openstack-lab.lock"
    flock -w 600 9 || die "another openstack-lab.sh holds $LAB/.openstack-lab.lock"
}

case "${1:-}" in
start)
    lock
    cmd_start
    ;;
stop)
    shift
    lock
    cmd_stop "$@"
    ;;
status) cmd_status ;;
*) usage ;;
esac
