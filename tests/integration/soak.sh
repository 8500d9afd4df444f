#!/bin/bash
# Soak and load: KP_SOAK_HOLD established connections held at once, then
# KP_SOAK_CHURN connections churned through (handshake, one echoed request,
# close_notify, close) by a fixed-rate client (tests/tools/kp_soak.c).
# Afterwards the daemon's descriptors and RSS must be back at the baseline
# (within 1 %), its pipes within the pools' bound, every connection must
# have worked, and in the kTLS VM /proc/net/tls_stat must show a kTLS
# context made for each connection, in both directions, and all released.
#
# The churn's mix (handshakes under TCG cost ~30 ms of CPU when full):
# TLS 1.2 and 1.3 alternate; of each version one connection in
# KP_SOAK_FULL_EVERY is a full handshake (ECDHE, certificate), the others
# resume from a ticket (TLS 1.2 abbreviated, TLS 1.3 psk_ke without ECDHE).
#
# Memory: the daemon runs with the environment of the shipped systemd unit
# (contrib/ktlsproxy.service.in: GLIBC_TUNABLES without malloc's per-thread
# cache, whose chunks would pin pages all over the heap after a peak).  The
# cold figures are taken after a warm-up churn; one peak of HOLD connections
# comes and goes, HOLD are held again and released, CHURN churned.  After
# each, with the workers idle (they then replace their event loops, whose
# tables grew with the peak, and trim malloc: worker.c), RssAnon and
# malloc's bytes in use (ktlsproxy_heap_in_use_bytes) must be back at the
# cold figures within 1 %, or where 1 % of a small daemon is less: heap in
# use within 64 kB (it moves by a few kB between idle moments), RssAnon within
# 256 kB.  RssAnon is page-granular: each free chunk malloc keeps has its first
# page resident, and where the few live chunks of each worker's heap land
# after a churn decides how many pages stay (the anon-NAME files in the
# scratch list them per mapping).  After the 2,000 churned it was 32-132 kB
# above cold in 8 runs (CI failed once at +132 against the old 128 kB floor,
# heap in use exact), +88 kB after 100,000 churned: it does not grow with the
# churn.  Heap in use is the leak check; RssAnon catches what malloc keeps
# and does not give back (before the memory changes, +896 kB after 10,000
# held).  VmRSS is shown, not checked: its file pages (library code, shared
# and reclaimable) grow by whatever code a run first executes (52 kB over the
# 100,000 churn).
# Defaults: the small variant of the VM bundle (tests/integration/all.sh);
# `make soak` (tests/vm/soak) runs 10,000 held + 100,000 churned.
# Limits are raised as a deployment would: `ulimit -n` for every process,
# max_connections in the configuration.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

HOLD=${KP_SOAK_HOLD:-300}
CHURN=${KP_SOAK_CHURN:-2000}
RATE=${KP_SOAK_RATE:-100}          # new connections per second, all client processes
PROCS=${KP_SOAK_PROCS:-4}          # client processes
FULL_EVERY=${KP_SOAK_FULL_EVERY:-20}
WARMUP=${KP_SOAK_WARMUP:-200}
PROXY_PORT=18743 B_PORT=18744 ADMIN_PORT=18745
KP_SOAK=$top_builddir/tests/tools/kp_soak
# Every stage has a deadline: a stage that runs out says "timed out".
HOLD_SECS=$((HOLD / 5 + 120))        # ~11 a second there
CHURN_SECS=$((CHURN / 5 + 120))      # the VM manages ~25 a second under TCG

echo "# soak: ktls=$KTLS hold=$HOLD churn=$CHURN at $RATE/s by $PROCS processes," \
    "full handshake 1 in $FULL_EVERY per version, in $T"
# what the daemon asks for max_connections (main.c: 6 per connection and more)
ulimit -n $((6 * (HOLD + 1000) + 1024)) || { echo "# cannot raise ulimit -n" >&2; exit 1; }
make_certs
start_bg backend "$KP_SOAK" serve 127.0.0.1:$B_PORT
wait_port 127.0.0.1 $B_PORT || exit 1
cat >"$T/soak.ini" <<EOF
[global]
workers = 2
log_level = info
ktls = $KTLS
user = root
max_connections = $((HOLD + 1000))

[admin]
listen = 127.0.0.1:$ADMIN_PORT

EOF
# held connections stay idle longer than the default 300 s while the rest come up
frontend_ini f 127.0.0.1:$PROXY_PORT 127.0.0.1:$B_PORT "1.2 1.3" "idle_timeout = 3600s" \
    >>"$T/soak.ini"
tunables=$(sed -n 's/^Environment=GLIBC_TUNABLES=//p' "$top_srcdir/contrib/ktlsproxy.service.in")
check "the unit's malloc tunables are found" [ -n "$tunables" ]
GLIBC_TUNABLES=$tunables start_proxy "$T/soak.ini" || exit 1
check "the daemon runs with them" \
    grep -qz "^GLIBC_TUNABLES=$tunables\$" "/proc/$proxy_pid/environ"

# ---- what the daemon holds ----
fd_list() { ls -l "/proc/$proxy_pid/fd" 2>/dev/null | grep -- ' -> '; }
nonpipe_fds() { fd_list | grep -vc -- '-> pipe:'; }
pipe_fds() { fd_list | grep -c -- '-> pipe:'; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$proxy_pid/status"; }
# malloc's memory (RssAnon), without the pages of code the run touched (RssFile)
anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$proxy_pid/status"; }
# anon_map: each mapping with anonymous pages resident (kB), for diagnosis
anon_map() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { m = $1 " " $6 } /^Anonymous:/ && $2 > 0 { print $2 " kB " m }' \
        "/proc/$proxy_pid/smaps"
}
# what malloc has handed out and not had back, in kB (the daemon's gauge)
heap() {
    curl -sS "http://127.0.0.1:$ADMIN_PORT/metrics" |
        awk '/^ktlsproxy_heap_in_use_bytes / { print int($2 / 1024) }'
}
stat_or_0() { if [ "$IN_VM" = 1 ]; then tls_stat "$1"; else echo 0; fi; }
snapshot() { # NAME: the figures, as variables NAME_fds NAME_pipes NAME_rss NAME_tx ...
    # heap first: the admin thread's first request gives it an arena
    eval "$1_heap=$(heap) $1_fds=$(nonpipe_fds) $1_pipes=$(pipe_fds) $1_rss=$(rss) $1_anon=$(anon)" \
        "$1_tx=$(stat_or_0 TlsTxSw) $1_rx=$(stat_or_0 TlsRxSw)" \
        "$1_curtx=$(stat_or_0 TlsCurrTxSw) $1_currx=$(stat_or_0 TlsCurrRxSw)"
    # which mappings hold the anonymous memory, kept in the scratch for a failure
    anon_map >"$T/anon-$1"
    eval "echo \"# $1: fds \$$1_fds, pipe fds \$$1_pipes, VmRSS \$$1_rss kB (RssAnon \$$1_anon, heap in use \$$1_heap)," \
        "tls_stat TxSw \$$1_tx RxSw \$$1_rx CurrTxSw \$$1_curtx CurrRxSw \$$1_currx\""
}
# settle [FDS]: wait until the daemon holds FDS non-pipe descriptors (no
# connection left; at most 300 s: under TCG closing 10,000 takes a while), or
# without FDS until their number stops falling; then 2 s more, for the idle
# workers to give their free memory back (1 s, worker.c).
settle() {
    local i last=-1 n
    for i in $(seq 1 300); do
        n=$(nonpipe_fds)
        if [ $# -gt 0 ]; then [ "$n" -le "$1" ] && break; else [ "$n" = "$last" ] && break; fi
        last=$n
        sleep 1
    done
    sleep 2
}
# settle_memory: after settle, give the idle workers up to 15 s more to hand
# their memory back (RssAnon within the check's bound of the cold figure).  On
# a loaded CI host the VM's 1 s idle timer and the trim can run late: CI once
# read RssAnon +188 kB with malloc's bytes in use at the cold figure.  A real
# leak never comes back, so it still fails the check below.
ANON_FLOOR_KB=256 HEAP_FLOOR_KB=64   # the floors described at the top
settle_memory() {
    local i
    for i in $(seq 1 30); do
        mem_within "$(anon)" "$cold_anon" "$ANON_FLOOR_KB" && return
        sleep 0.5
    done
}
within_1pct() { # VALUE BASE
    awk -v v="$1" -v b="$2" 'BEGIN { d = v - b; if (d < 0) d = -d; exit !(d <= b / 100) }'
}
# mem_within KB BASE_KB FLOOR_KB: within 1 %, or FLOOR_KB where 1 % is less
mem_within() {
    within_1pct "$1" "$2" || { [ $(($1 - $2)) -le "$3" ] && [ $(($2 - $1)) -le "$3" ]; }
}
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
elapsed() { echo $(($(date +%s) - $1)); }

# hold_up NAME: the client holds HOLD connections (in the background, until
# SIGTERM); wait until all are up or HOLD_SECS have passed.
hold_up() {
    local t0
    t0=$(date +%s)
    "$KP_SOAK" hold 127.0.0.1:$PROXY_PORT "$T/ec.pem" "$HOLD" "$PROCS" "$T/held-$1" \
        >"$T/hold-$1.out" 2>&1 &
    hold_pid=$!
    pids+=("$hold_pid")
    for _ in $(seq 1 "$HOLD_SECS"); do
        [ -s "$T/held-$1" ] || ! kill -0 "$hold_pid" 2>/dev/null && break
        sleep 1
    done
    if [ -s "$T/held-$1" ]; then
        echo "# $1: $(cat "$T/held-$1") of $HOLD up in $(elapsed "$t0") s"
    else
        echo "# $1: timed out after $HOLD_SECS s (or the client died); output:" >&2
        sed 's/^/#   /' "$T/hold-$1.out" >&2
    fi
    check "$1: all $HOLD connections established" [ "$(cat "$T/held-$1" 2>/dev/null)" = "$HOLD" ]
}
# hold_release NAME: the client closes them all; wait for the daemon to follow.
hold_release() {
    kill -TERM "$hold_pid"
    wait "$hold_pid"
    local st=$?
    check "$1: the client closed them all, none failed (exit $st)" [ "$st" -eq 0 ]
    settle "$cold_fds"
}

# back_to_cold NAME WHAT: NAME's memory figures against the cold ones.
back_to_cold() {
    local n=$1 what=$2 v
    eval "echo \"# $what: VmRSS \$${n}_rss kB against \$cold_rss cold (file pages: \$((${n}_rss - ${n}_anon)) against \$((cold_rss - cold_anon)))\""
    for v in anon:RssAnon:$ANON_FLOOR_KB heap:"heap in use":$HEAP_FLOOR_KB; do
        local key=${v%%:*} rest=${v#*:}
        local label=${rest%:*} floor=${rest##*:}
        eval "local now=\$${n}_$key cold=\$cold_$key"
        check "$what: $label back to the cold figure within 1 % or $floor kB ($cold -> $now kB)" \
            mem_within "$now" "$cold" "$floor"
    done
}

# ---- warm-up, the first peak, baseline ----
"$KP_SOAK" churn 127.0.0.1:$PROXY_PORT "$T/ec.pem" "$WARMUP" 2 "$RATE" "$FULL_EVERY" \
    >"$T/warmup.out" 2>&1
check "warm-up: $WARMUP connections worked" [ "$(field ok "$T/warmup.out")" = "$WARMUP" ]
settle
snapshot cold
hold_up peak
hold_release peak
settle_memory
snapshot base
check "peak released: descriptors back to the cold figure" [ "$base_fds" -eq "$cold_fds" ]
back_to_cold base "peak released"
echo "# peak residue: VmRSS $((base_rss - cold_rss)) kB, RssAnon $((base_anon - cold_anon)) kB," \
    "heap in use $((base_heap - cold_heap)) kB after $HOLD connections"

# ---- hold ----
hold_up hold
sleep 1
snapshot held
check "hold: the daemon holds a client and a backend socket for each" \
    [ "$held_fds" -ge $((base_fds + 2 * HOLD)) ]
check "hold: idle connections hold no pipe" [ "$held_pipes" -le "$base_pipes" ]
if [ "$IN_VM" = 1 ]; then
    check "hold: a kTLS TX and RX context for each held connection (tls_stat)" \
        [ "$((held_curtx - base_curtx))" -ge "$HOLD" -a "$((held_currx - base_currx))" -ge "$HOLD" ]
fi
# (RSS against the cold figure: the peak's free pages are the held ones now)
echo "# hold: heap in use $((held_heap - base_heap)) kB more for $HOLD connections" \
    "($(((held_heap - base_heap) * 1024 / HOLD)) bytes each), VmRSS $((held_rss - cold_rss)) kB" \
    "more than cold ($(((held_rss - cold_rss) * 1024 / HOLD)) bytes each)"
hold_release hold
settle_memory
snapshot released
check "hold released: descriptors back to the baseline" [ "$released_fds" -eq "$base_fds" ]
back_to_cold released "hold released"

# ---- churn ----
t0=$(date +%s)
timeout "$CHURN_SECS" "$KP_SOAK" churn 127.0.0.1:$PROXY_PORT "$T/ec.pem" "$CHURN" "$PROCS" \
    "$RATE" "$FULL_EVERY" >"$T/churn.out" 2>&1
st=$?
[ "$st" -eq 124 ] && echo "# churn: timed out after $CHURN_SECS s" >&2
echo "# churn: exit $st in $(elapsed "$t0") s:" $(cat "$T/churn.out")
check "churn: all $CHURN connections worked" [ "$(field ok "$T/churn.out")" = "$CHURN" ]
check "churn: none failed" [ "$(field failed "$T/churn.out")" = 0 ]
check "churn: every resumption resumed (no certificate sent)" \
    [ "$(field not_resumed "$T/churn.out")" = 0 ]
check "churn: both versions resumed and full" \
    [ "$(field full12 "$T/churn.out")" -gt 0 -a "$(field full13 "$T/churn.out")" -gt 0 -a \
    "$(field resumed12 "$T/churn.out")" -gt 0 -a "$(field resumed13 "$T/churn.out")" -gt 0 ]
settle "$base_fds"
settle_memory
snapshot after

# ---- back to the baseline ----
check "after: descriptors back to the baseline ($base_fds -> $after_fds)" \
    within_1pct "$after_fds" "$base_fds"
check "after: pipes within the pools' bound (2 workers x (64 + 8 big) x 2 fds)" [ "$after_pipes" -le 288 ]
back_to_cold after after
if [ "$IN_VM" = 1 ]; then
    total=$((HOLD + CHURN))
    check "after: a kTLS TX context was made for each connection ($((after_tx - base_tx)))" \
        [ "$((after_tx - base_tx))" -ge "$total" ]
    check "after: a kTLS RX context was made for each connection ($((after_rx - base_rx)))" \
        [ "$((after_rx - base_rx))" -ge "$total" ]
    check "after: every kTLS context released (CurrTxSw, CurrRxSw at the baseline)" \
        [ "$after_curtx" -eq "$base_curtx" -a "$after_currx" -eq "$base_currx" ]
fi
# (on the host: but the one that kTLS is unavailable)
check "the daemon logged no error or warning" \
    eval "! grep -E 'ktlsproxy\[[0-9]+\]: (error|warning):' '$T/proxy.log' | grep -v 'kernel TLS unavailable'"
check "daemon stops cleanly" stop_proxy

finish
