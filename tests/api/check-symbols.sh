#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Checks the ABI of libshmbroker.so: every dynamic symbol it defines starts
# with shmb_ (the static util and proto code must stay hidden), and every
# symbol the version script lists is really there.
# Usage: check-symbols.sh LIBRARY VERSION-SCRIPT
set -eu

lib=$1
sym=$2
nm=${NM:-nm}

[ -r "$lib" ] || { echo "cannot read $lib" >&2; exit 1; }
[ -r "$sym" ] || { echo "cannot read $sym" >&2; exit 1; }

# Defined dynamic symbols without their @VERSION suffix; the version nodes
# themselves show up as absolute (type A) symbols.
exported=$("$nm" -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)
[ -n "$exported" ] || { echo "$lib exports nothing" >&2; exit 1; }

# The names listed in the script: identifiers followed by ';', comments removed.
listed=$(sed -e 's:/\*.*\*/::g' -e '/^[[:space:]]*\*/d' -e '/^[[:space:]]*\/\*/d' "$sym" |
         grep -E '^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;[[:space:]]*$' | tr -d ' \t;' | sort -u)

fail=0
for s in $exported; do
        case $s in
        shmb_*) ;;
        *) echo "unexpected export: $s" >&2; fail=1 ;;
        esac
done
for s in $listed; do
        if ! printf '%s\n' "$exported" | grep -qx "$s"; then
                echo "listed in $sym but not exported: $s" >&2
                fail=1
        fi
done
for s in $exported; do
        if ! printf '%s\n' "$listed" | grep -qx "$s"; then
                echo "exported but not listed in $sym: $s" >&2
                fail=1
        fi
done

[ $fail -eq 0 ] && echo "$(printf '%s\n' "$exported" | wc -l) symbols, all shmb_* and all listed"
exit $fail
