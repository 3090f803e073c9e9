#!/bin/bash
# SPDX-License-Identifier: MIT
#
# install-deps.sh [--openstack] [--force]: install every Debian 12 package
# rbdmove needs to build, test and run its labs. Idempotent: when everything
# is already installed it does nothing (--force runs apt-get anyway).
# Services are never started by the packages: a policy-rc.d that exits 101
# is in place for the duration of the install.
set -euo pipefail

# Build and unit tests.
BUILD_PACKAGES="build-essential cmake pkg-config git clang clang-format
  librbd-dev librados-dev libssh2-1-dev libcurl4-openssl-dev libjansson-dev
  libyaml-dev libzstd-dev libcmocka-dev libclang-rt-14-dev"

# Ceph lab (scripts/ceph-lab.sh) and the integration tests' helpers
# (tests/integration/lib.sh writes into images through python3-rbd).
CEPH_PACKAGES="ceph-mon ceph-mgr ceph-osd ceph-common python3 python3-rados
  python3-rbd procps util-linux coreutils"

# sshd lab and tools used by tests and demos.
OTHER_PACKAGES="openssh-server openssh-client zstd iproute2
  socat openssl time systemd prometheus"  # socat, openssl: the TLS proxy of t41-openstack-client
# time: /usr/bin/time for scripts/bench-copy.sh (peak RSS); it also uses openssl.
# systemd: systemd-analyze verify of the sync units (t02); prometheus:
# promtool check metrics of sync --metrics-file (t51); its service is
# never started (policy-rc.d below).
# ansible-core: ansible/batch.yml across two hosts of the sshd lab (t57).
OTHER_PACKAGES="$OTHER_PACKAGES ansible-core"

# ---- OpenStack lab packages (filled in by the openstack-lab helper) ----
# Libraries, not the service packages (whose postinst scripts configure and
# start system services): scripts/openstack-lab.sh runs each service itself.
OPENSTACK_PACKAGES="python3-keystone python3-cinder python3-nova python3-placement
  python3-glance python3-pymysql uwsgi-core uwsgi-plugin-python3 rabbitmq-server
  mariadb-server mariadb-client curl"
# ------------------------------------------------------------------------

with_openstack=0
force=0
for arg in "$@"; do
    case "$arg" in
    --openstack) with_openstack=1 ;;
    --force) force=1 ;;
    -h | --help)
        sed -n '4,8s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "install-deps.sh: unknown argument '$arg'" >&2
        exit 2
        ;;
    esac
done

packages="$BUILD_PACKAGES $CEPH_PACKAGES $OTHER_PACKAGES"
if [ "$with_openstack" = 1 ]; then
    packages="$packages $OPENSTACK_PACKAGES"
fi
# shellcheck disable=SC2086 # word splitting of the lists is intended
set -- $packages

missing=()
for p in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$status" in
    ii*) ;;
    *) missing+=("$p") ;;
    esac
done
if [ "${#missing[@]}" = 0 ] && [ "$force" = 0 ]; then
    echo "install-deps.sh: all $# packages already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
fi

# Keep postinst scripts from starting daemons (ceph, sshd, mariadb,
# rabbitmq) on their default ports. Put back whatever was there before.
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
    backup=$(mktemp /tmp/policy-rc.d.XXXXXX)
    cp -p "$policy" "$backup"
fi
restore_policy() {
    if [ -n "$backup" ]; then
        cp -p "$backup" "$policy"
        rm -f "$backup"
    else
        rm -f "$policy"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# installed by rbdmove scripts/install-deps.sh\nexit 101\n' \
    >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: installing ${missing[*]:-(forced) $*}"
apt-get update
apt-get install -y --no-install-recommends "$@"
echo "install-deps.sh: done"
