#!/bin/bash
# SPDX-License-Identifier: MIT
#
# check-layers.sh [REPO]: check the layering table of style.md §4.1 on the C
# sources: who may include whom, which file may include which third-party
# header, no exit() in library code, no printing in transport/, openstack/
# and the core. Prints one line per violation and exits 1 if there is any.
set -euo pipefail

cd "${1:-$(dirname "$0")/..}"

violation() {
    echo "$1: $2"
}

# The layer of each folder: the path is the table (style.md §4.1).
#   rbdmove/base/  base       libc, and jansson through base/json.h
#   transport/     transport  base
#   openstack/     openstack  base
#   rbdmove/core/  core       base, transport.h; the move (plan, migrate*)
#                             also openstack/
#   rbdmove/cli/   cli        everything
# layer FILE: base, transport, openstack, core or cli; empty if none.
layer() {
    case "$1" in
    rbdmove/base/*) echo base ;;
    rbdmove/core/*) echo core ;;
    rbdmove/cli/*) echo cli ;;
    transport/*) echo transport ;;
    openstack/*) echo openstack ;;
    esac
}

# is_move FILE: the move's part of the core, which drives OpenStack.
is_move() {
    case "$1" in
    rbdmove/core/plan.[ch] | rbdmove/core/migrate.[ch] | rbdmove/core/migrate_*.[ch]) return 0 ;;
    *) return 1 ;;
    esac
}

# allowed FROM-FILE FROM-LAYER INCLUDED-FILE: may FROM include a project
# header?
allowed() {
    local from=$1 from_layer=$2 to=$3 to_layer
    to_layer=$(layer "$to")
    case "$from_layer:$to_layer" in
    *:base | cli:*) return 0 ;;
    transport:transport | openstack:openstack | core:core) return 0 ;;
    core:transport) [ "$to" = transport/transport.h ] ;;
    core:openstack) is_move "$from" ;;
    *) return 1 ;;
    esac
}

# third_party FILE LAYER HEADER: may FILE include <HEADER>?
third_party() {
    local file=$1 file_layer=$2 h=$3
    case "$h" in
    libssh2*.h) [ "$file" = transport/ssh.c ] ||
        [ "$file" = transport/known_hosts.c ] ||
        [ "$file" = transport/known_hosts.h ] ;;
    zstd.h | zstd_errors.h) [ "$file_layer" = transport ] ;;
    curl/*) [ "$file" = openstack/http.c ] ;;
    jansson.h) [ "$file" = rbdmove/base/json.h ] ;;
    yaml.h) [ "$file_layer" = openstack ] ;;
    rbd/* | rados/*) [ "$file_layer" = core ] ;;
    *) return 0 ;;
    esac
}

# code FILE: its lines as N:TEXT with string and character literals
# emptied, so that messages mentioning stderr or exit() do not count.
code() {
    grep -n '' "$1" | sed -E 's/"([^"\\]|\\.)*"/""/g; s/'"'"'([^'"'"'\\]|\\.)*'"'"'/'"''"'/g'
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
files=$(find rbdmove transport openstack -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
    [ -n "$(layer "$f")" ] || violation "$f" "not in a layer's folder (rbdmove/base, core, cli; transport; openstack)"
done >"$out"
for f in $files; do
    l=$(layer "$f")
    while IFS=: read -r n line; do
        if [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
            inc=${BASH_REMATCH[1]}
            if [[ "$inc" != */* ]]; then
                violation "$f:$n" "\"$inc\" does not name its folder"
            elif [ -z "$(layer "$inc")" ]; then
                violation "$f:$n" "\"$inc\" is not a project header"
            elif ! allowed "$f" "$l" "$inc"; then
                violation "$f:$n" "$l may not include \"$inc\" ($(layer "$inc"))"
            fi
        elif [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
            inc=${BASH_REMATCH[1]}
            if ! third_party "$f" "$l" "$inc"; then
                violation "$f:$n" "<$inc> is not allowed in $f ($l)"
            fi
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" || true)

    # Lines of code only: comment lines (starting with /*, * or //) are
    # skipped; _exit() after fork() is fine.
    case "$f" in
    rbdmove/cli/main.c | rbdmove/cli/cmd_*.c | rbdmove/base/xalloc.c | rbdmove/base/error.c) ;;
    *)
        code "$f" | grep -E '^[0-9]+:.*(^|[^_[:alnum:]])exit[[:space:]]*\(' |
            grep -vE '^[0-9]+:[[:space:]]*(/\*|\*|//)' |
            while IFS=: read -r n _; do
                echo "$f:$n: exit() outside main.c/cmd_*.c: return an error"
            done || true
        ;;
    esac
    case "$l" in
    transport | openstack | core)
        code "$f" |
            grep -E '(^|[^_[:alnum:]])(printf|fprintf|vprintf|vfprintf|dprintf|puts|fputs|putchar|perror)[[:space:]]*\(|(^|[^_[:alnum:]])std(out|err)([^_[:alnum:]]|$)' |
            grep -vE '^[0-9]+:[[:space:]]*(/\*|\*|//)' |
            while IFS=: read -r n _; do
                echo "$f:$n: prints in $l code: use log.h or return an error"
            done || true
        ;;
    esac
done >>"$out"

violations=$(wc -l <"$out")
cat "$out"
if [ "$violations" != 0 ]; then
    echo "check-layers: $violations violation(s) of the layering rules (style.md §4.1)"
    exit 1
fi
echo "check-layers: $(echo "$files" | wc -w) files OK"
