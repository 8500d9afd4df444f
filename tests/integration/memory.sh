#!/bin/bash
# Memory pressure: the daemon under an address-space limit (RLIMIT_AS, what
# `ulimit -v` sets) just 4 MiB above what it uses once started.  300 clients
# then ask for more than that: the daemon must refuse what it cannot hold
# (the client gets a reset or an alert, the log says memory ran out), serve
# the ones it can, not crash, and serve every client again once the others
# are gone, under the same limit.
#
# The limit is set on the running daemon (prlimit --as, the same limit
# `ulimit -v` sets before exec): 4 MiB above its VmSize after start-up, which
# is only known then.  MALLOC_ARENA_MAX=1 keeps malloc in one heap that the
# limit governs: a thread's own arena reserves 64 MiB of address space up
# front, inside which the limit would never bite.
#
# Host only (the user-space fallback keeps a TLS context, ~35 kB, for each
# connection, which is what fills the memory; with kTLS the kernel holds the
# state).  Skipped under ASan, which reserves terabytes of address space and
# cannot run under an RLIMIT_AS at all.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "$IN_VM" = 1 ]; then echo "# memory pressure: host only (see the comment)"; exit 77; fi
if ldd "$KTLSPROXY" 2>/dev/null | grep -q libasan; then
    echo "# memory pressure: skipped under ASan (it cannot run under ulimit -v)"
    exit 77
fi
command -v prlimit >/dev/null || { echo "# prlimit (util-linux) is missing" >&2; exit 1; }

PROXY_PORT=18763 B_PORT=18764
N=300
KP_SOAK=$top_builddir/tests/tools/kp_soak
OOM_LINE='Memory allocation failed|Cannot allocate memory|out of memory'

echo "# memory pressure: ktls=$KTLS in $T"
make_certs
start_bg backend "$KP_SOAK" serve 127.0.0.1:$B_PORT
wait_port 127.0.0.1 $B_PORT || exit 1
cat >"$T/m.ini" <<EOF
[global]
workers = 1
log_level = info
ktls = $KTLS
user = root

EOF
frontend_ini f 127.0.0.1:$PROXY_PORT 127.0.0.1:$B_PORT "1.2 1.3" >>"$T/m.ini"
export MALLOC_ARENA_MAX=1
start_proxy "$T/m.ini" || exit 1
unset MALLOC_ARENA_MAX
vmsize=$(awk '/^VmSize:/ { print $2 }' "/proc/$proxy_pid/status")
prlimit --pid "$proxy_pid" --as=$(((vmsize + 4096) * 1024)) ||
    { echo "# prlimit failed" >&2; exit 1; }
echo "# VmSize $vmsize kB after start-up; RLIMIT_AS now $((vmsize + 4096)) kB"
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# N held connections: more than the limit lets the daemon hold.
timeout 120 "$KP_SOAK" hold 127.0.0.1:$PROXY_PORT "$T/ec.pem" $N 1 "$T/ready" >"$T/hold.out" \
    2>"$T/hold.err" &
hold_pid=$!
pids+=("$hold_pid")
for _ in $(seq 1 600); do
    [ -s "$T/ready" ] || ! kill -0 "$hold_pid" 2>/dev/null && break
    sleep 0.2
done
[ -s "$T/ready" ] || echo "# the held clients timed out (120 s) or died" >&2
ok=$(field ok "$T/hold.out") failed=$(field failed "$T/hold.out")
echo "# under the limit: ${ok:-?} of $N connections served, ${failed:-?} refused;" \
    "VmSize $(awk '/^VmSize:/ { print $2 }' "/proc/$proxy_pid/status") kB"
check "under the limit: the daemon lives" kill -0 "$proxy_pid"
check "under the limit: some clients are served" [ "${ok:-0}" -gt 0 ]
check "under the limit: the rest are refused, none hangs" \
    [ "${failed:-0}" -gt 0 -a "$((${ok:-0} + ${failed:-0}))" -eq $N ]
check "under the limit: the log says memory ran out" grep -qE "$OOM_LINE" "$T/proxy.log"
kill -TERM "$hold_pid"
wait "$hold_pid"

# Memory free again: every client is served, under the same limit.
timeout 120 "$KP_SOAK" churn 127.0.0.1:$PROXY_PORT "$T/ec.pem" 40 2 100 5 >"$T/after.out" 2>&1
check "memory free again: 40 of 40 clients served ($(field ok "$T/after.out"))" \
    [ "$(field ok "$T/after.out")" = 40 ]
check "the daemon stops cleanly" stop_proxy
finish
