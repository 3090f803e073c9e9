#!/bin/bash
# SPDX-License-Identifier: MIT
#
# sshd-lab.sh start|stop|status: an OpenSSH server on 127.0.0.1 for the SSH
# transport tests, with its own config, host key and authorized keys, all
# under $RBDMOVE_LAB/sshd (default /tmp/rbm/sshd). It never reads /etc/ssh.
#
# start writes $RBDMOVE_LAB/sshd.env (KEY=VALUE lines, sourced by
# tests/integration/lib.sh):
#   SSH_HOST SSH_PORT SSH_USER SSH_TARGET     where to connect (USER@HOST:PORT)
#   SSH_KEY            ed25519 client key, no passphrase (authorized)
#   SSH_KEY_ECDSA      ECDSA client key (authorized)
#   SSH_KEY_RSA        RSA client key (authorized, but libssh2 1.10 cannot
#                      sign with rsa-sha2, so OpenSSH 9.2 refuses it)
#   SSH_KEY_WRONG      ed25519 key that is not authorized
#   SSH_KEY_PASS       ed25519 key with the passphrase in SSH_KEY_PASSPHRASE
#   SSH_KEY_NOFORWARD  ed25519 key authorized with no-port-forwarding
#   SSH_KNOWN_HOSTS    known_hosts with the lab host key as [127.0.0.1]:PORT
#   SSH_KNOWN_HOSTS_HASHED   the same entry, hashed (ssh-keygen -H)
#   SSH_KNOWN_HOSTS_CHANGED  a different key recorded for the lab host
#   SSH_HOST_KEY_PUB   the host's public key (for fingerprints)
#   SSHD_PID           the listener's pid
# Keys are made once and kept across restarts; `stop` leaves them in place.
set -euo pipefail

LAB=${RBDMOVE_LAB:-/tmp/rbm}
DIR=$LAB/sshd
PORT=${RBDMOVE_SSH_PORT:-2222}
HOST=127.0.0.1
SSHD=/usr/sbin/sshd # absolute: sshd re-executes itself
PIDFILE=$DIR/sshd.pid
ENVFILE=$LAB/sshd.env

die() {
    echo "sshd-lab.sh: $*" >&2
    exit 1
}

running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A recycled pid is not our sshd.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR/sshd_config" ||
        return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

make_key() { # make_key TYPE FILE [PASSPHRASE] [BITS]
    local type=$1 file=$2 pass=${3:-} bits=${4:-}
    [ -f "$file" ] && [ -f "$file.pub" ] && return 0
    rm -f "$file" "$file.pub"
    ssh-keygen -q -t "$type" ${bits:+-b "$bits"} -N "$pass" \
        -C "rbdmove-lab-$(basename "$file")" -f "$file" </dev/null
}

make_files() {
    local user
    user=$(id -un)
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    make_key ed25519 "$DIR/ssh_host_ed25519_key"
    make_key ed25519 "$DIR/other_host_ed25519_key"
    make_key ed25519 "$DIR/id_ed25519"
    make_key ecdsa "$DIR/id_ecdsa" "" 256
    make_key rsa "$DIR/id_rsa" "" 3072
    make_key ed25519 "$DIR/id_wrong"
    make_key ed25519 "$DIR/id_pass" "lab passphrase"
    make_key ed25519 "$DIR/id_noforward"

    {
        cat "$DIR/id_ed25519.pub" "$DIR/id_ecdsa.pub" "$DIR/id_rsa.pub" \
            "$DIR/id_pass.pub"
        # As on a host that forbids forwarding to this key: rbdmove's data
        # sessions then run `receive --join` instead of a direct channel.
        printf 'no-port-forwarding %s\n' "$(cat "$DIR/id_noforward.pub")"
    } >"$DIR/authorized_keys"
    chmod 600 "$DIR/authorized_keys"

    # OpenSSH records a host on another port than 22 as [host]:port.
    printf '[%s]:%s %s\n' "$HOST" "$PORT" \
        "$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")" \
        >"$DIR/known_hosts"
    cp "$DIR/known_hosts" "$DIR/known_hosts_hashed"
    ssh-keygen -q -H -f "$DIR/known_hosts_hashed" >/dev/null 2>&1
    rm -f "$DIR/known_hosts_hashed.old"
    printf '# the lab host with a key it does not have\n[%s]:%s %s\n' \
        "$HOST" "$PORT" \
        "$(cut -d' ' -f1,2 "$DIR/other_host_ed25519_key.pub")" \
        >"$DIR/known_hosts_changed"

    cat >"$DIR/sshd_config" <<EOF
# rbdmove sshd lab: written by scripts/sshd-lab.sh, never reads /etc/ssh
Port $PORT
ListenAddress $HOST
HostKey $DIR/ssh_host_ed25519_key
PidFile $PIDFILE
AuthorizedKeysFile $DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers $user
MaxStartups 100:30:200
MaxSessions 100
MaxAuthTries 20
LoginGraceTime 30
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
# Local forwarding only: sshd connects rbdmove's data sessions straight to
# the receiver's Unix socket (direct-streamlocal), and OpenSSH checks
# AllowTcpForwarding for those channels too. Nothing is forwarded remotely.
AllowTcpForwarding local
AllowStreamLocalForwarding local
PermitTunnel no
LogLevel VERBOSE
# The logged-in user's shell reads \$HOME/.bashrc when sshd starts it (as
# Debian's bash does for every remote command). The lab stands in for a
# storage host's service account, not for this machine's root, whose
# ~/.bashrc may run anything: on one machine here 'pyenv init', 0.56 s
# added to every remote command. An empty home of the lab's own instead.
SetEnv HOME=$DIR/home
EOF
    mkdir -p "$DIR/home"

    cat >"$ENVFILE" <<EOF
SSH_HOST=$HOST
SSH_PORT=$PORT
SSH_USER=$user
SSH_TARGET=$user@$HOST:$PORT
SSH_DIR=$DIR
SSH_KEY=$DIR/id_ed25519
SSH_KEY_ECDSA=$DIR/id_ecdsa
SSH_KEY_RSA=$DIR/id_rsa
SSH_KEY_WRONG=$DIR/id_wrong
SSH_KEY_PASS=$DIR/id_pass
SSH_KEY_PASSPHRASE='lab passphrase'
SSH_KEY_NOFORWARD=$DIR/id_noforward
SSH_KNOWN_HOSTS=$DIR/known_hosts
SSH_KNOWN_HOSTS_HASHED=$DIR/known_hosts_hashed
SSH_KNOWN_HOSTS_CHANGED=$DIR/known_hosts_changed
SSH_HOST_KEY_PUB=$DIR/ssh_host_ed25519_key.pub
SSHD_LOG=$DIR/sshd.log
EOF
}

start() {
    local pid
    command -v ssh-keygen >/dev/null || die "ssh-keygen is missing (install openssh-client)"
    [ -x "$SSHD" ] || die "$SSHD is missing (install openssh-server)"
    if pid=$(running_pid); then
        make_files
        echo "SSHD_PID=$pid" >>"$ENVFILE"
        echo "sshd-lab.sh: already running (pid $pid) on $HOST:$PORT"
        return 0
    fi
    if port_open; then
        die "$HOST:$PORT is taken by another process"
    fi
    make_files
    mkdir -p /run/sshd # privilege separation directory (as root)
    chmod 755 /run/sshd
    "$SSHD" -t -f "$DIR/sshd_config" || die "sshd rejected $DIR/sshd_config"
    : >"$DIR/sshd.log"
    "$SSHD" -f "$DIR/sshd_config" -E "$DIR/sshd.log"
    for _ in $(seq 1 50); do
        if pid=$(running_pid) && port_open; then
            echo "SSHD_PID=$pid" >>"$ENVFILE"
            echo "sshd-lab.sh: sshd (pid $pid) listening on $HOST:$PORT; env in $ENVFILE"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$DIR/sshd.log" >&2 || true
    die "sshd did not come up on $HOST:$PORT (log: $DIR/sshd.log)"
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        echo "sshd-lab.sh: not running"
        return 0
    fi
    # The listener only: sessions still open end when their clients go.
    kill "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
    fi
    rm -f "$PIDFILE"
    echo "sshd-lab.sh: stopped (pid $pid)"
}

status() {
    local pid
    if pid=$(running_pid) && port_open; then
        echo "sshd-lab.sh: running (pid $pid) on $HOST:$PORT"
        return 0
    fi
    echo "sshd-lab.sh: not running"
    return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: sshd-lab.sh start|stop|status" >&2
    exit 2
    ;;
esac
