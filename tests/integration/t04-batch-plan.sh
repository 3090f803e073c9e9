#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
#
# t04-batch-plan: `rbdmove batch --check` reads a plan (YAML or JSON) and
# prints the command line of each job: defaults merged under each job's
# own options, flags from true/false, move-server as move --server, and
# --shard I/N picking disjoint parts. Every mistake is refused before
# anything starts, with the plan's line and column: an unknown key, a bad
# value, a flag given a value, a key batch sets itself, a job its own
# command would refuse, one volume in two jobs, a YAML syntax error. No
# lab: nothing is connected to.
. "$(dirname "$0")/lib.sh"

T=$TEST_TMP
touch "$T/a.conf" "$T/b.conf"
cat >"$T/plan.yaml" <<EOF
# A plan: three jobs.
defaults:
  os-cloud: prod
  os-region-name: RegionOne
  dst-os-region-name: RegionTwo
  src-conf: $T/a.conf
  dst-conf: $T/b.conf
  max-downtime: 10
  keep: 3
jobs:
  - move: data-1
    dst-server: web-2
    auto-converge: false
  - move-server: db-1
    dst-server: db-1-new
    max-downtime: 20
  - sync: logs-1
    keep: 24
    verify: true
  - move: "-odd name"
    dst-server: web-2
EOF

expect_success "a valid plan is checked" rbdmove batch --check "$T/plan.yaml"
cp "$LAST_OUTPUT" "$T/check.out"
grep -q "^job 1: rbdmove move --os-cloud=prod --os-region-name=RegionOne --dst-os-region-name=RegionTwo --src-conf=$T/a.conf --dst-conf=$T/b.conf --max-downtime=10 --dst-server=web-2 --no-auto-converge -- data-1\$" "$T/check.out" &&
    pass "job 1: defaults, its own options, auto-converge: false as --no-auto-converge" ||
    fail "job 1: $(grep '^job 1' "$T/check.out")"
grep -q "^job 2: rbdmove move .*--dst-server=db-1-new --max-downtime=20 --server=db-1\$" "$T/check.out" &&
    ! grep "^job 2" "$T/check.out" | grep -q -- "--max-downtime=10" &&
    pass "job 2: move-server is move --server; its max-downtime wins" ||
    fail "job 2: $(grep '^job 2' "$T/check.out")"
grep "^job 3" "$T/check.out" | grep -q -- "--keep=24 --verify -- logs-1\$" &&
    ! grep "^job 3" "$T/check.out" | grep -q -- "max-downtime" &&
    pass "job 3: sync gets the defaults it has (not max-downtime), keep 24" ||
    fail "job 3: $(grep '^job 3' "$T/check.out")"
! grep "^job 1" "$T/check.out" | grep -q -- "--keep" &&
    pass "a default of sync only (keep) does not reach a move" ||
    fail "job 1 got --keep"
grep -q "^job 4: rbdmove move .* -- '-odd name'\$" "$T/check.out" &&
    pass "a target that starts with a dash stays an argument, quoted" ||
    fail "job 4: $(grep '^job 4' "$T/check.out")"

# The same plan as JSON.
/usr/bin/python3 -c '
import json, sys
print(json.dumps({"defaults": {"os-cloud": "prod", "os-region-name": "RegionOne",
  "dst-os-region-name": "RegionTwo", "src-conf": sys.argv[1], "dst-conf": sys.argv[2],
  "max-downtime": 10, "keep": 3},
 "jobs": [{"move": "data-1", "dst-server": "web-2", "auto-converge": False},
          {"move-server": "db-1", "dst-server": "db-1-new", "max-downtime": 20},
          {"sync": "logs-1", "keep": 24, "verify": True},
          {"move": "-odd name", "dst-server": "web-2"}]}, indent=2))' \
    "$T/a.conf" "$T/b.conf" >"$T/plan.json"
expect_success "the same plan in JSON" rbdmove batch --check "$T/plan.json"
diff -u "$T/check.out" "$LAST_OUTPUT" >"$T/diff" &&
    pass "... gives the same command lines" || fail "$(cat "$T/diff")"

expect_success "--shard 2/3" rbdmove batch --check --shard 2/3 "$T/plan.yaml"
expect_equal "... runs job 2 only" "job 2:" "$(cut -d' ' -f1,2 "$LAST_OUTPUT" | tr '\n' ' ' | sed 's/ $//')"
expect_success "--shard 1/3" rbdmove batch --check --shard 1/3 "$T/plan.yaml"
expect_equal "... runs jobs 1 and 4" "job 1: job 4:" "$(cut -d' ' -f1,2 "$LAST_OUTPUT" | tr '\n' ' ' | sed 's/ $//')"
expect_exit 2 "--shard 4/3 is refused" rbdmove batch --check --shard 4/3 "$T/plan.yaml"

# refused KEY LINE:COL WORDS TITLE: a plan with line N of plan.yaml
# replaced is refused at LINE:COL, saying WORDS.
refused() {
    local edit=$1 where=$2 words=$3 title=$4
    sed "$edit" "$T/plan.yaml" >"$T/bad.yaml"
    expect_exit 2 "$title" rbdmove batch --state-dir "$T/state" "$T/bad.yaml"
    grep -q "bad.yaml:$where: .*$words" "$LAST_OUTPUT" &&
        pass "... at $where, saying '$words'" ||
        fail "... expected bad.yaml:$where: $words; got: $(tail -3 "$LAST_OUTPUT")"
}
refused 's/^    auto-converge: false/    auto-convergence: false/' 13:5 \
    "'auto-convergence' is not an option of move" "an unknown key of a job"
refused 's/^    max-downtime: 20/    max-downtime: soon/' 16:19 \
    "max-downtime" "a value that does not parse"
refused 's/^    verify: true/    verify: maybe/' 19:13 "verify is a flag" \
    "a flag given a value"
refused 's/^    keep: 24/    keep: banana/' 18:11 "banana" "a bad retention policy"
refused 's/^  max-downtime: 10/  max-downtme: 10/' 8:3 \
    "'max-downtme' is not an option of move or sync" "a typo in defaults"
refused 's/^    verify: true/    json: true/' 19:5 "set by batch" \
    "a key batch sets itself"
refused 's/^    dst-server: db-1-new/    dst-server: db-1-new\n  - move: data-1\n    dst-server: web-2/' \
    16:5 "volume 'data-1' is in job 1 already" "one volume in two jobs"
refused 's/^jobs:/jobz:/' 10:1 "unknown key 'jobz'" "an unknown key at the top"
refused 's/^    dst-server: web-2$/    dst-server: [web-2/' '[0-9]*:[0-9]*' "" \
    "a YAML syntax error"
refused '/^  - move: data-1/,/^    auto-converge/{/dst-server/d}' 11:5 \
    "job 1 (move data-1) is refused by move" "a job its command refuses"
grep -q "dst-server" "$LAST_OUTPUT" &&
    pass "... and move's own message says what is missing" ||
    fail "no reason given: $(cat "$LAST_OUTPUT")"
refused 's/^  - sync: logs-1/  - sync: logs-1\n    move: x/' 18:5 \
    "'sync' and 'move' in one job" "two commands in one job"

expect_exit 2 "a plan that does not exist" rbdmove batch "$T/none.yaml"
grep -q "none.yaml" "$LAST_OUTPUT" && pass "... named" || fail "$(cat "$LAST_OUTPUT")"
printf 'jobs: []\n' >"$T/empty.yaml"
expect_exit 2 "a plan with no jobs" rbdmove batch "$T/empty.yaml"
expect_exit 2 "no plan" rbdmove batch
expect_success "batch --help" rbdmove batch --help
grep -q -- "--parallel" "$LAST_OUTPUT" && pass "... names --parallel" || fail "no --parallel in --help"


