#!/bin/bash
# SPDX-License-Identifier: MIT
# ctest-timeout: 120
#
# t02-systemd-units: the units of `rbdmove sync` (systemd/) pass
# `systemd-analyze verify` (the build tree's copy, whose ExecStart is the
# binary under test), a broken copy does not (so the check checks), and
# `cmake --install` puts both units in lib/systemd/system, and what the
# service passes to sync is checked before any connection. No lab: the
# service's command line itself runs in t51-sync.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null ||
    bail "systemd-analyze is missing (scripts/install-deps.sh installs systemd)"
build=${RBDMOVE%/rbdmove/rbdmove}
units=$build/systemd/test
[ -f "$units/rbdmove-sync@.service" ] ||
    bail "no $units/rbdmove-sync@.service: is $RBDMOVE in a build tree?"

# verify wants instances: name them in a directory of their own.
mkdir "$TEST_TMP/u"
cp "$units/rbdmove-sync@.service" "$units/rbdmove-sync@.timer" "$TEST_TMP/u/"
ln -s rbdmove-sync@.service "$TEST_TMP/u/rbdmove-sync@data-1.service"
ln -s rbdmove-sync@.timer "$TEST_TMP/u/rbdmove-sync@data-1.timer"
expect_success "systemd-analyze verify: the service and its timer" \
    systemd-analyze verify --man=no "$TEST_TMP/u/rbdmove-sync@data-1.service" \
    "$TEST_TMP/u/rbdmove-sync@data-1.timer"
expect_equal "and says nothing" "" "$(cat "$LAST_OUTPUT")"
grep -q "^ExecStart=$RBDMOVE sync " "$TEST_TMP/u/rbdmove-sync@.service" &&
    pass "ExecStart runs the binary under test" || fail "ExecStart"

# The same check fails on a broken copy.
sed 's/^Type=oneshot/Type=sometimes/; s|^ExecStart=/|ExecStart=/nonexistent/|' \
    "$units/rbdmove-sync@.service" >"$TEST_TMP/u/broken@.service"
ln -s broken@.service "$TEST_TMP/u/broken@x.service"
expect_failure "a broken unit fails the check" \
    systemd-analyze verify --man=no "$TEST_TMP/u/broken@x.service"
grep -q "is not executable" "$LAST_OUTPUT" &&
    pass "it names the missing program" || fail "message"

# cmake --install puts them where systemd looks, under the build's prefix
# (/usr/local unless configured otherwise).
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
expect_success "cmake --install (prefix $prefix)" \
    env DESTDIR="$TEST_TMP/root" cmake --install "$build"
inst=$TEST_TMP/root$prefix/lib/systemd/system
for u in rbdmove-sync@.service rbdmove-sync@.timer; do
    expect_success "installed: $prefix/lib/systemd/system/$u" test -f "$inst/$u"
done
grep -q "^ExecStart=$prefix/bin/rbdmove sync " "$inst/rbdmove-sync@.service" &&
    pass "the installed service runs $prefix/bin/rbdmove" ||
    fail "installed ExecStart: $(grep ExecStart= "$inst/rbdmove-sync@.service" 2>&1)"

# What the service passes is checked before any connection.
expect_exit 2 "sync --metrics-file in a directory that is not there" \
    rbdmove sync --dst-os-region-name R2 --src-conf /dev/null \
    --dst-conf /dev/null --metrics-file "$TEST_TMP/none/m.prom" vol
grep -q "cannot write in its directory" "$LAST_OUTPUT" &&
    pass "it says so" || fail "message"
expect_exit 2 "sync with an empty VOLUME (unset in the unit's file)" \
    rbdmove sync --dst-os-region-name R2 --src-conf /dev/null \
    --dst-conf /dev/null ""
# A server's volumes: VOLUME empty, --server in the options. The empty
# argument is no error then (the run gets as far as the clouds, which
# this test gives none).
env -u OS_CLOUD -u OS_AUTH_URL OS_CLIENT_CONFIG_FILE=/dev/null \
    "$RBDMOVE" sync --dst-os-region-name R2 --src-conf /dev/null \
    --dst-conf /dev/null --server db-1 "" >"$TEST_TMP/server.log" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "no cloud given" "$TEST_TMP/server.log" &&
    pass "sync --server with the unit's empty VOLUME goes on to the clouds" ||
    fail "sync --server \"\": exit $rc, $(head -c 300 "$TEST_TMP/server.log")"
expect_exit 2 "sync --server with a VOLUME too" \
    rbdmove sync --dst-os-region-name R2 --src-conf /dev/null \
    --dst-conf /dev/null --server db-1 vol
