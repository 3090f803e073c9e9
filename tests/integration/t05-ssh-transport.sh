#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 300
#
# t05-ssh-transport: transport/ssh.c against the real sshd of the lab,
# driven by ssh_probe: data through a remote `cat` and parallel sessions
# compared by sha256; host key checks (unknown, accept-new, changed,
# hashed); key authentication (ed25519, ECDSA, passphrase from a variable,
# ssh-agent, wrong key, RSA refused with the reason); remote exit status
# and stderr; a flood of stderr that must not stall stdout; a connection
# killed or frozen mid-stream must fail fast, never hang. Throughput of 1
# and 4 sessions is printed, not asserted (the machine is shared).
. "$(dirname "$0")/lib.sh"

lab_require sshd

PROBE=${SSH_PROBE:-}
for _p in "$(dirname "$RBDMOVE")/../tests/integration/ssh_probe" \
    "$RBDMOVE_SRC"/build*/tests/integration/ssh_probe; do
    if [ -z "$PROBE" ] && [ -x "$_p" ]; then
        PROBE=$_p
    fi
done
[ -n "$PROBE" ] || bail "ssh_probe is not built (cmake --build ... --target ssh_probe)"

# probe ARGS...: the lab's key and known_hosts unless the test passes others
# (later options win).
probe() {
    "$PROBE" -i "$SSH_KEY" -k "$SSH_KNOWN_HOSTS" "$@"
}

# probe_io IN OUT ARGS...: probe with stdin from IN and stdout into OUT;
# stderr goes to $LAST_OUTPUT through expect_*.
probe_io() {
    local in=$1 out=$2
    shift 2
    probe "$@" <"$in" >"$out"
}

sha() {
    sha256sum "$1" | cut -d' ' -f1
}

# sshd_pids_of PID: the sshd processes serving PID's connections to the lab.
sshd_pids_of() {
    local port
    for port in $(ss -tnpH state established "( dport = :$SSH_PORT )" |
        awk -v pid="pid=$1," '$0 ~ pid { n = split($3, a, ":"); print a[n] }'); do
        ss -tnpH state established "( sport = :$SSH_PORT and dport = :$port )" |
            grep -o 'pid=[0-9]*' | cut -d= -f2
    done | sort -u
}

# wait_session PID: until PID has a session (10 s at most); prints its pids.
wait_session() {
    local i pids
    for i in $(seq 1 100); do
        pids=$(sshd_pids_of "$1")
        if [ -n "$pids" ]; then
            echo "$pids"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# wait_exit PID LIMIT: PID's exit status, or 124 after killing it when it
# is still running LIMIT seconds later.
wait_exit() {
    local pid=$1 limit=$2 i=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$i" -ge $((limit * 10)) ]; then
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return 124
        fi
        sleep 0.1
        i=$((i + 1))
    done
    wait "$pid"
}

now() {
    date +%s.%N
}

# elapsed_below START LIMIT: less than LIMIT seconds since START.
elapsed_below() {
    awk -v s="$1" -v e="$(now)" -v l="$2" 'BEGIN { exit !(e - s < l) }'
}

fingerprint=$(ssh-keygen -lf "$SSH_HOST_KEY_PUB" | awk '{ print $2 }')

# ---- data ------------------------------------------------------------------

head -c 200M /dev/urandom >"$TEST_TMP/in200"
expect_success "200 MiB round trip through a remote cat" \
    probe_io "$TEST_TMP/in200" "$TEST_TMP/out200" "$SSH_TARGET" cat
expect_equal "the round trip returns the same bytes (sha256)" \
    "$(sha "$TEST_TMP/in200")" "$(sha "$TEST_TMP/out200")"
rm -f "$TEST_TMP/out200"

head -c 64M "$TEST_TMP/in200" >"$TEST_TMP/in64"
want=$(sha "$TEST_TMP/in64")
expect_success "4 sessions in parallel, 64 MiB each into a remote sha256sum" \
    probe -j 4 -f "$TEST_TMP/in64" -o "$TEST_TMP/par" "$SSH_TARGET" sha256sum
for i in 0 1 2 3; do
    expect_equal "session $i delivered the data intact" \
        "$want" "$(cut -d' ' -f1 "$TEST_TMP/par.$i")"
done

expect_success "download: 50 MiB from a remote head" \
    probe_io /dev/null "$TEST_TMP/dl" "$SSH_TARGET" 'head -c 50M /dev/zero'
expect_equal "download size" 52428800 "$(stat -c %s "$TEST_TMP/dl")"

# ---- host keys ---------------------------------------------------------------

kh=$TEST_TMP/known_hosts
expect_failure "an unknown host is refused" \
    probe -k "$kh" "$SSH_TARGET" true </dev/null
expect_success "... naming the host and its SHA256 fingerprint ($fingerprint)" \
    grep -q "unknown.*\[127.0.0.1\]:$SSH_PORT.*$fingerprint" "$LAST_OUTPUT"
expect_failure "... and nothing was recorded" test -s "$kh"

expect_success "--accept-new records an unknown host and connects" \
    probe -a -k "$kh" "$SSH_TARGET" true </dev/null
expect_success "... the entry is [127.0.0.1]:$SSH_PORT with the host key" \
    grep -q "^\[127.0.0.1\]:$SSH_PORT $(cut -d' ' -f1,2 "$SSH_HOST_KEY_PUB")" "$kh"
expect_success "... and the next connection needs no --accept-new" \
    probe -k "$kh" "$SSH_TARGET" true </dev/null
expect_equal "... and added nothing more" 1 "$(grep -c . "$kh")"

expect_failure "a changed host key is refused" \
    probe -k "$SSH_KNOWN_HOSTS_CHANGED" "$SSH_TARGET" true </dev/null
expect_success "... saying CHANGED with the file and line" \
    grep -q "CHANGED: $SSH_KNOWN_HOSTS_CHANGED:2 .*$fingerprint" "$LAST_OUTPUT"
expect_failure "a changed host key is refused even with --accept-new" \
    probe -a -k "$SSH_KNOWN_HOSTS_CHANGED" "$SSH_TARGET" true </dev/null
expect_success "... and the file is left alone" \
    cmp -s "$SSH_KNOWN_HOSTS_CHANGED" <(printf '# the lab host with a key it does not have\n[127.0.0.1]:%s %s\n' \
        "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/other_host_ed25519_key.pub")")
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_KEY_ECDSA.pub")" \
    >"$TEST_TMP/kh_ecdsa"
expect_failure "a host known only by a key of another type is refused, even with --accept-new" \
    probe -a -k "$TEST_TMP/kh_ecdsa" "$SSH_TARGET" true </dev/null
expect_success "... as a changed key" \
    grep -q "CHANGED: .*records ecdsa-sha2-nistp256 .* but the server shows ssh-ed25519" \
    "$LAST_OUTPUT"
expect_success "a hashed known_hosts entry is recognised" \
    probe -k "$SSH_KNOWN_HOSTS_HASHED" "$SSH_TARGET" true </dev/null

# ---- keys ------------------------------------------------------------------

expect_failure "a key that is not authorized is refused" \
    probe -i "$SSH_KEY_WRONG" "$SSH_TARGET" true </dev/null
expect_success "... with the key named" \
    grep -q "cannot log in.*id_wrong' (ssh-ed25519) refused" "$LAST_OUTPUT"
expect_failure "an RSA key is refused" \
    probe -i "$SSH_KEY_RSA" "$SSH_TARGET" true </dev/null
expect_success "... explaining libssh2 1.10 and RSA" \
    grep -q "RSA keys only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse" "$LAST_OUTPUT"
expect_success "an ECDSA key works" \
    probe -i "$SSH_KEY_ECDSA" "$SSH_TARGET" true </dev/null
expect_failure "a key with a passphrase and no variable is refused" \
    probe -i "$SSH_KEY_PASS" "$SSH_TARGET" true </dev/null
expect_success "... saying it needs the passphrase variable" \
    grep -q "has a passphrase" "$LAST_OUTPUT"
expect_success "the passphrase comes from the variable named by -P" \
    env LAB_PASSPHRASE="$SSH_KEY_PASSPHRASE" \
    "$PROBE" -P LAB_PASSPHRASE -i "$SSH_KEY_PASS" -k "$SSH_KNOWN_HOSTS" \
    "$SSH_TARGET" true </dev/null
expect_failure "a wrong passphrase is refused" \
    env LAB_PASSPHRASE=wrong \
    "$PROBE" -P LAB_PASSPHRASE -i "$SSH_KEY_PASS" -k "$SSH_KNOWN_HOSTS" \
    "$SSH_TARGET" true </dev/null

home=$TEST_TMP/home
mkdir -p "$home/.ssh"
expect_failure "no key at all: refused" \
    env HOME="$home" SSH_AUTH_SOCK= "$PROBE" -k "$SSH_KNOWN_HOSTS" \
    "$SSH_TARGET" true </dev/null
expect_success "... saying there was nothing to offer" \
    grep -q "no key to offer" "$LAST_OUTPUT"
agent_out=$(ssh-agent -s -a "$TEST_TMP/agent.sock")
agent_pid=$(echo "$agent_out" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
if [ -n "$agent_pid" ]; then
    SSH_AUTH_SOCK=$TEST_TMP/agent.sock ssh-add -q "$SSH_KEY_RSA" 2>/dev/null
    expect_failure "ssh-agent holding only an RSA key: refused" \
        env HOME="$home" SSH_AUTH_SOCK="$TEST_TMP/agent.sock" \
        "$PROBE" -k "$SSH_KNOWN_HOSTS" "$SSH_TARGET" true </dev/null
    expect_success "... explaining RSA" grep -q "agent key.*ssh-rsa.*SHA-1" \
        "$LAST_OUTPUT"
    SSH_AUTH_SOCK=$TEST_TMP/agent.sock ssh-add -q "$SSH_KEY" 2>/dev/null
    expect_success "ssh-agent is used when no key is given" \
        env HOME="$home" SSH_AUTH_SOCK="$TEST_TMP/agent.sock" \
        "$PROBE" -k "$SSH_KNOWN_HOSTS" "$SSH_TARGET" true </dev/null
    kill "$agent_pid"
else
    fail "ssh-agent did not start: $agent_out"
fi
cp "$SSH_KEY" "$home/.ssh/id_ed25519"
cp "$SSH_KNOWN_HOSTS" "$home/.ssh/known_hosts"
expect_success "HOME/.ssh/id_ed25519 and HOME/.ssh/known_hosts are the defaults" \
    env HOME="$home" SSH_AUTH_SOCK= "$PROBE" "$SSH_TARGET" true </dev/null

# ---- the remote command ------------------------------------------------------

expect_exit 1 "a remote exit status 3 is an error" \
    probe "$SSH_TARGET" 'echo "receiver: no such image" >&2; exit 3' </dev/null
expect_success "... reported with the status and the last stderr line" \
    grep -q "exited with status 3; remote stderr: receiver: no such image \[state 3\]" \
    "$LAST_OUTPUT"
expect_success "remote stderr is relayed as it arrives" \
    probe "$SSH_TARGET" 'echo "hello from remote" >&2; printf "\033[31mred\n" >&2' </dev/null
cp "$LAST_OUTPUT" "$TEST_TMP/relayed"
expect_success "... prefixed 'remote: '" \
    grep -q "remote: hello from remote" "$TEST_TMP/relayed"
expect_success "... with control characters replaced" \
    grep -q "remote: ?\[31mred" "$TEST_TMP/relayed"
expect_failure "a command that stops reading its input is an error" \
    probe -f "$TEST_TMP/in64" "$SSH_TARGET" 'head -c 1000 >/dev/null'
expect_success "... saying it ended before reading everything" \
    grep -q "exited with status 0 before it read all its input" "$LAST_OUTPUT"

head -c 50M "$TEST_TMP/in200" >"$TEST_TMP/in50"
expect_success "8 MiB of stderr while echoing 50 MiB does not stall stdout" \
    probe_io "$TEST_TMP/in50" "$TEST_TMP/out50" "$SSH_TARGET" \
    'yes "stderr noise" | head -c 8M >&2 & cat; wait'
expect_equal "... stdout intact" "$(sha "$TEST_TMP/in50")" "$(sha "$TEST_TMP/out50")"
expect_success "... and every stderr line relayed" \
    test "$(grep -c 'remote: stderr noise' "$LAST_OUTPUT")" -ge 645000
expect_success "8 MiB of stderr before any stdout" \
    probe_io /dev/null "$TEST_TMP/dl" "$SSH_TARGET" \
    'yes "stderr first" | head -c 8M >&2; head -c 10M /dev/zero'
expect_equal "... stdout complete" 10485760 "$(stat -c %s "$TEST_TMP/dl")"

# ---- broken links ----------------------------------------------------------

# kill_case TITLE SIGNAL PROBE-ARGS...: start a transfer, send SIGNAL to the
# sshd process serving it once its remote command runs, expect a failure
# within 20 s.
kill_case() {
    local title=$1 sig=$2 pid pids start rc
    shift 2
    # Not through probe(): $! must be ssh_probe itself, not a subshell.
    "$PROBE" -i "$SSH_KEY" -k "$SSH_KNOWN_HOSTS" "$@" >/dev/null \
        2>"$TEST_TMP/kill.err" </dev/null &
    pid=$!
    if ! pids=$(wait_session "$pid"); then
        fail "$title: no session appeared"
        wait_exit "$pid" 1
        return
    fi
    # Past the login, the remote command runs: a child of the session that
    # is not sshd itself (before, sshd's own pre-auth child is there).
    for _ in $(seq 100); do
        pids=$(sshd_pids_of "$pid")
        # shellcheck disable=SC2086 # a list of pids
        [ -n "$pids" ] && ps -o comm= --ppid "$(echo $pids | tr ' ' ',')" |
            grep -qv '^sshd$' && break
        sleep 0.1
    done
    start=$(now)
    # shellcheck disable=SC2086 # a list of pids
    kill -"$sig" $pids 2>/dev/null
    wait_exit "$pid" 30
    rc=$?
    if [ "$sig" = STOP ]; then
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
        # shellcheck disable=SC2086
        kill -CONT $pids 2>/dev/null
    fi
    cp "$TEST_TMP/kill.err" "$LAST_OUTPUT"
    grep -m1 'session 0:' "$LAST_OUTPUT" | sed 's/^/# /'
    if [ "$rc" -ge 1 ] && [ "$rc" -lt 124 ]; then
        pass "$title: fails (exit $rc)"
    else
        fail "$title: exit status $rc, expected a failure"
        sed 's/^/#   /' "$LAST_OUTPUT"
    fi
    if elapsed_below "$start" 20; then
        pass "$title: within 20 s"
    else
        fail "$title: took more than 20 s"
    fi
}

kill_case "sshd's session process killed during a download" KILL \
    "$SSH_TARGET" 'cat /dev/zero'
expect_success "... the error says the connection was lost" \
    grep -q "connection to .*:$SSH_PORT lost" "$LAST_OUTPUT"
kill_case "sshd's session process killed during an upload" KILL \
    -f /dev/zero "$SSH_TARGET" 'cat >/dev/null'
expect_success "... the error says the connection was lost" \
    grep -q "connection to .*:$SSH_PORT lost" "$LAST_OUTPUT"
kill_case "a frozen peer (SIGSTOP) during a download, timeout 4 s" STOP \
    -t 4000 "$SSH_TARGET" 'cat /dev/zero'
expect_success "... is declared dead" grep -q "is dead: nothing received" "$LAST_OUTPUT"
kill_case "a frozen peer (SIGSTOP) during an upload, timeout 4 s" STOP \
    -t 4000 -f /dev/zero "$SSH_TARGET" 'cat >/dev/null'
expect_success "... is an error" grep -q "ssh_probe: session 0:" "$LAST_OUTPUT"
expect_success "a live but silent peer is not dead: 9 s of silence, timeout 4 s" \
    probe -t 4000 "$SSH_TARGET" 'sleep 9; echo done' </dev/null
expect_success "a slow reader with keepalives due meanwhile (window full)" \
    probe -t 6000 -f /dev/zero -n 24M "$SSH_TARGET" \
    'while head -c 1048576 | wc -c | grep -q 1048576; do sleep 0.3; done'

# ---- throughput (printed, not asserted) ------------------------------------

for j in 1 4; do
    if probe -s -j "$j" -f /dev/zero -n 64M "$SSH_TARGET" 'cat >/dev/null' \
        2>"$TEST_TMP/rate" </dev/null; then
        echo "# throughput, $j session(s) x 64 MiB upload: $(grep '^total' "$TEST_TMP/rate")"
    else
        fail "throughput run with $j session(s)"
        sed 's/^/#   /' "$TEST_TMP/rate"
    fi
done
if probe -s "$SSH_TARGET" 'head -c 64M /dev/zero' </dev/null >/dev/null \
    2>"$TEST_TMP/rate"; then
    echo "# throughput, 1 session x 64 MiB download: $(grep '^total' "$TEST_TMP/rate")"
fi
