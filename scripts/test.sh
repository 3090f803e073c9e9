#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test.sh [--no-install] [--keep-labs] [--no-asan] [--only=T1,T2...]:
# install what is needed and run every test: build with -Werror, unit tests
# (also under ASan/UBSan), scripts/check-layers.sh, clang-format, then the
# integration tests against the real labs. Each lab starts once, before the
# first phase whose tests need it, and stops after the last one (also on
# failure or ^C). --only= runs just those integration tests (tNN names or
# prefixes, e.g. t00,t20-copy). Exits non-zero if anything failed; the last
# line is the summary.
#
# Environment: RBDMOVE_LAB (default /tmp/rbm), CI=true (a lab that cannot
# start fails the tests that need it instead of skipping them),
# RBDMOVE_FUZZ_SECONDS (how long scripts/fuzz.sh runs, default 60).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build-test
BUILD_ASAN=$SRC/build-test-asan
JOBS=$(nproc 2>/dev/null || echo 2)
export RBDMOVE_LAB=${RBDMOVE_LAB:-/tmp/rbm}

# Labs in start order; a lab is scripts/<name>-lab.sh start|stop|status.
LABS=(ceph sshd openstack)
# What a lab needs running under it.
declare -A LAB_DEPS=([openstack]="ceph")
# Integration phases, in order: each runs the tests (not run yet) whose
# lab_require lines name only labs of its set; the last phase takes the rest.
PHASES=("ceph sshd" "ceph sshd openstack")

install=1
keep_labs=0
asan=1
only=""
for arg in "$@"; do
    case "$arg" in
    --only=*) only=${arg#--only=} ;;
    --no-install) install=0 ;;
    --keep-labs) keep_labs=1 ;;
    --no-asan) asan=0 ;;
    -h | --help)
        sed -n '4,16s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument '$arg' (see --help)" >&2
        exit 2
        ;;
    esac
done

t_start=$SECONDS
passed=0
failed=0
skipped=0
failures=()
summary=()
labs_started=()
# Labs starting in the background (start_lab_bg): lab -> pid.
declare -A lab_bg=()

record() { # record PASS|FAIL|SKIP NAME
    case "$1" in
    PASS) passed=$((passed + 1)) ;;
    FAIL)
        failed=$((failed + 1))
        failures+=("$2")
        ;;
    SKIP) skipped=$((skipped + 1)) ;;
    esac
}

# step NAME CMD...: run one step, record its outcome.
step() {
    local name=$1 t0=$SECONDS rc
    shift
    echo
    echo "==== $name"
    "$@"
    rc=$?
    if [ "$rc" = 0 ]; then
        record PASS "$name"
        summary+=("PASS  $name ($((SECONDS - t0)) s)")
    else
        record FAIL "$name"
        summary+=("FAIL  $name ($((SECONDS - t0)) s, exit $rc)")
    fi
    return "$rc"
}

# run_ctest TITLE BUILD-DIR CTEST-ARGS...: run ctest and count each test
# as one result.
run_ctest() {
    local title=$1 dir=$2 log t0=$SECONDS rc line name status
    local p=0 f=0 s=0
    shift 2
    log=$(mktemp)
    echo
    echo "==== $title"
    ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 |
        tee "$log"
    rc=${PIPESTATUS[0]}
    while IFS= read -r line; do
        [[ "$line" =~ Test\ +\#[0-9]+:\ +([^ ]+)\ \.*\ *(.*)$ ]] || continue
        name=${BASH_REMATCH[1]}
        status=${BASH_REMATCH[2]}
        case "$status" in
        Passed*)
            record PASS "$name"
            p=$((p + 1))
            ;;
        *Skipped* | *Disabled*)
            record SKIP "$name"
            s=$((s + 1))
            ;;
        *)
            record FAIL "$name"
            f=$((f + 1))
            ;;
        esac
    done <"$log"
    rm -f "$log"
    # ctest's full output of the run (passing tests' too, with each check's
    # time), kept per title: the next run's LastTest.log replaces it.
    mkdir -p "$dir/test-logs" &&
        cp "$dir/Testing/Temporary/LastTest.log" \
            "$dir/test-logs/${title//\//_}.log" 2>/dev/null
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        record FAIL "$title (ctest exit $rc)"
        f=1
    fi
    summary+=("$([ "$f" = 0 ] && echo PASS || echo FAIL)  $title:\
 $p passed, $f failed, $s skipped ($((SECONDS - t0)) s)")
}

lab_script() {
    echo "$SRC/scripts/$1-lab.sh"
}

start_lab() {
    local lab=$1 script
    script=$(lab_script "$lab")
    if [ ! -x "$script" ]; then
        echo "test.sh: no scripts/$lab-lab.sh: the tests needing $lab will" \
            "skip (fail under CI=true)"
        return 0
    fi
    if [ -n "${lab_bg[$lab]:-}" ]; then
        step "start the $lab lab (in the background since the fuzz step)" \
            await_lab_bg "$lab"
        return
    fi
    for l in "${labs_started[@]}"; do
        [ "$l" = "$lab" ] && return 0
    done
    if "$script" status >/dev/null 2>&1; then
        echo "test.sh: the $lab lab is already running; left as it is"
        return 0
    fi
    labs_started+=("$lab")
    step "start the $lab lab" "$script" start
}

# start_lab_bg LAB: start it without waiting (its output goes to a log);
# start_lab waits for it and records the outcome.
start_lab_bg() {
    local lab=$1 script l
    script=$(lab_script "$lab")
    [ -x "$script" ] || return 0
    for l in "${labs_started[@]}"; do
        [ "$l" = "$lab" ] && return 0
    done
    "$script" status >/dev/null 2>&1 && return 0
    labs_started+=("$lab")
    echo "test.sh: starting the $lab lab in the background" \
        "(log: $BUILD/lab-$lab.log)"
    "$script" start >"$BUILD/lab-$lab.log" 2>&1 &
    lab_bg[$lab]=$!
}

await_lab_bg() {
    local lab=$1 rc=0
    wait "${lab_bg[$lab]}" || rc=$?
    unset "lab_bg[$lab]"
    cat "$BUILD/lab-$lab.log"
    return "$rc"
}

stop_lab() {
    local lab=$1 i
    for i in "${!labs_started[@]}"; do
        if [ "${labs_started[$i]}" = "$lab" ]; then
            unset "labs_started[$i]"
            labs_started=("${labs_started[@]}")
            # A start still under way is waited for: stopping a lab half
            # started could leave some of it running.
            [ -z "${lab_bg[$lab]:-}" ] || await_lab_bg "$lab" >/dev/null
            if [ "$keep_labs" = 1 ]; then
                echo "test.sh: leaving the $lab lab running (--keep-labs)"
            else
                "$(lab_script "$lab")" stop
            fi
            return
        fi
    done
}

stop_all_labs() {
    local i
    for ((i = ${#labs_started[@]} - 1; i >= 0; i--)); do
        stop_lab "${labs_started[$i]}"
    done
}
trap stop_all_labs EXIT
trap 'echo "test.sh: interrupted"; exit 130' INT TERM

# required_labs FILE: the labs a test names in its lab_require lines, plus
# what they depend on.
required_labs() {
    local lab out=""
    # shellcheck disable=SC2013 # words, not lines
    for lab in $(sed -n 's/^[[:space:]]*lab_require[[:space:]]\+//p' "$1"); do
        out="$out ${LAB_DEPS[$lab]:-} $lab"
    done
    echo "$out"
}

subset() { # subset "A B" "A B C": is every word of $1 in $2?
    local w
    for w in $1; do
        [[ " $2 " == *" $w "* ]] || return 1
    done
}

# selected NAME: NAME is one of the --only tests (all when none are named).
selected() {
    local w
    [ -n "$only" ] || return 0
    for w in ${only//,/ }; do
        [[ "$1" == "$w"* ]] && return 0
    done
    return 1
}

# ceph_after TEST LABS: the Ceph lab can still take writes after TEST; if
# not, that is a failure, and the lab (with the labs of LABS that run on
# it) is started anew for the next test.
ceph_after() {
    local name=$1 labs=$2 why lab
    why=$("$(lab_script ceph)" check 2>&1) && return 0
    # The OpenStack lab runs on the Ceph lab, also when it started early.
    [[ " ${labs_started[*]} " == *" openstack "* ]] &&
        [[ " $labs " != *" openstack "* ]] && labs="$labs openstack"
    [ -z "${lab_bg[openstack]:-}" ] || await_lab_bg openstack >/dev/null
    echo "test.sh: after $name the Ceph lab cannot take writes:"
    echo "$why" | sed 's/^/  /'
    record FAIL "$name left the Ceph lab unable to take writes"
    summary+=("FAIL  $name left the Ceph lab unable to take writes")
    for lab in $labs; do
        [ "$lab" = openstack ] && "$(lab_script openstack)" stop
    done
    "$(lab_script ceph)" stop
    step "start the ceph lab anew" "$(lab_script ceph)" start
    for lab in $labs; do
        [ "$lab" = openstack ] &&
            step "start the openstack lab anew" "$(lab_script openstack)" start
    done
}

# needs_openstack: one of the selected integration tests needs that lab.
needs_openstack() {
    local t
    for t in "$SRC"/tests/integration/t[0-9][0-9]-*.sh; do
        [ -e "$t" ] && selected "$(basename "$t" .sh)" || continue
        [[ " $(required_labs "$t") " == *" openstack "* ]] && return 0
    done
    return 1
}

run_integration() {
    local -A needs=() done_tests=()
    local -a phase_tests=() phase_labs=()
    local -A last_use=()
    local t name i j lab tests labs names last=$((${#PHASES[@]} - 1))
    for t in "$SRC"/tests/integration/t[0-9][0-9]-*.sh; do
        [ -e "$t" ] || continue
        name=$(basename "$t" .sh)
        selected "$name" || continue
        needs[$name]=$(required_labs "$t")
    done
    if [ "${#needs[@]}" = 0 ]; then
        echo "test.sh: no integration tests"
        return
    fi
    for i in "${!PHASES[@]}"; do
        tests=""
        labs=""
        for name in $(printf '%s\n' "${!needs[@]}" | sort); do
            [ -z "${done_tests[$name]:-}" ] || continue
            if [ "$i" = "$last" ] || subset "${needs[$name]}" "${PHASES[$i]}"; then
                tests="$tests $name"
                labs="$labs ${needs[$name]}"
                done_tests[$name]=1
            fi
        done
        phase_tests[$i]=$tests
        phase_labs[$i]=""
        for lab in "${LABS[@]}"; do
            if [[ " $labs " == *" $lab "* ]]; then
                phase_labs[$i]="${phase_labs[$i]} $lab"
                last_use[$lab]=$i
            fi
        done
    done
    for i in "${!PHASES[@]}"; do
        [ -n "${phase_tests[$i]}" ] || continue
        echo
        echo "==== integration phase $((i + 1)): labs:${phase_labs[$i]:- none};" \
            "tests:${phase_tests[$i]}"
        for lab in ${phase_labs[$i]}; do
            start_lab "$lab"
        done
        # One test at a time, each on a lab that can take writes: a test
        # that leaves a cluster unable to (full, HEALTH_ERR) is a failure,
        # and the next test gets a fresh lab instead of inheriting it.
        for name in ${phase_tests[$i]}; do
            run_ctest "integration/$name" "$BUILD" -L integration \
                -R "^integration/$name\$"
            if [[ " ${phase_labs[$i]} " == *" ceph "* ]]; then
                ceph_after "$name" "${phase_labs[$i]}"
            fi
        done
        read -r -a names <<<"${phase_labs[$i]}"
        for ((j = ${#names[@]} - 1; j >= 0; j--)); do
            lab=${names[$j]}
            [ "${last_use[$lab]}" = "$i" ] && stop_lab "$lab"
        done
    done
}

configure() { # configure DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S "$SRC" -B "$dir" -DRBDMOVE_WERROR=ON "$@"
}

check_format() (
    cd "$SRC" || exit 1
    mapfile -t files < <(find rbdmove transport openstack tests \
        -name '*.[ch]' -not -path '*/build*' | sort)
    echo "clang-format --dry-run -Werror on ${#files[@]} files"
    out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1) && exit 0
    echo "$out" | head -n 30
    echo "files that need clang-format -i (violations):"
    echo "$out" | sed -n 's/^\([^: ]*\.[ch]\):[0-9]*:[0-9]*: error:.*/\1/p' |
        sort | uniq -c
    exit 1
)

if [ "$install" = 1 ]; then
    install_args=()
    [ -x "$(lab_script openstack)" ] && install_args+=(--openstack)
    step "install dependencies" "$SRC/scripts/install-deps.sh" \
        "${install_args[@]}"
fi

# A failed build is recorded, and the tests still run: those whose programs
# were not built fail on their own, the others still tell something.
configured=0
step "configure ($BUILD)" configure "$BUILD" && configured=1
[ "$configured" = 1 ] &&
    step "build with -Werror" cmake --build "$BUILD" -j "$JOBS"
step "check-layers" "$SRC/scripts/check-layers.sh" "$SRC"
step "clang-format" check_format
if [ "$configured" = 1 ]; then
    run_ctest "unit tests" "$BUILD" -L unit
    if [ "$asan" = 1 ] &&
        step "configure with ASan/UBSan ($BUILD_ASAN)" configure \
            "$BUILD_ASAN" -DRBDMOVE_SANITIZE=ON &&
        step "build with ASan/UBSan" cmake --build "$BUILD_ASAN" -j "$JOBS"; then
        run_ctest "unit tests under ASan/UBSan" "$BUILD_ASAN" -L unit
    fi
    # The labs the integration tests need start now, the OpenStack lab in
    # the background: its start (a minute and more of services starting
    # up) overlaps the fuzz step, which uses one core for a fixed time.
    if needs_openstack; then
        start_lab ceph
        start_lab sshd
        start_lab_bg openstack
    fi
    if [ -x "$SRC/scripts/fuzz.sh" ]; then
        step "fuzz the stream decoder (${RBDMOVE_FUZZ_SECONDS:-60} s)" \
            "$SRC/scripts/fuzz.sh" "${RBDMOVE_FUZZ_SECONDS:-60}"
    fi
    run_integration
else
    echo "test.sh: configuring failed; no tests run"
fi
stop_all_labs

echo
echo "==== summary ($((SECONDS - t_start)) s)"
printf '  %s\n' "${summary[@]}"
if [ "${#failures[@]}" -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
