#!/bin/bash
# Fault injection: broken backends and hostile clients against one daemon.
# After every fault the daemon must be alive, its descriptors (other than
# the pooled pipes) back to the baseline, other connections served, and the
# fault named in a log line; where a fault pushes bytes at the daemon its
# memory (VmRSS) must stay bounded.  The daemon under a `ulimit -v` too
# small for all its clients is tests/integration/memory.sh.
#
# On the host (no kTLS) it runs with ktls = auto; inside the kTLS VM
# (KP_VM_GUEST=1) with ktls = required.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18943
RAW_PORT=19501 RESET_PORT=19502 STALL_PORT=19503 STOP_PORT=19504 LATE_PORT=19505
FLOOD_PORT=19506 REFUSE_PORT=19509
FAULTS="$PYTHON $top_srcdir/tests/tools/faults.py"
SLOW=1
[ "$IN_VM" = 1 ] && SLOW=4   # TCG emulation: python and openssl start slowly
RSS_BOUND=$((16 * 1024))     # kB a fault may add to the daemon's VmRSS

echo "# fault injection: ktls=$KTLS in $T"
make_certs
mkdir -p "$T/raw" "$T/stop" "$T/flood"
hello_sha=$("$KP_BACKEND" --gen 5 | sha)

start_bg raw "$KP_BACKEND" --listen 127.0.0.1:$RAW_PORT --dir "$T/raw" --expect 5 --send 5
start_bg stop "$KP_BACKEND" --listen 127.0.0.1:$STOP_PORT --dir "$T/stop" --expect 5 --send 5
start_bg flood "$KP_BACKEND" --listen 127.0.0.1:$FLOOD_PORT --dir "$T/flood" --expect 0 \
    --send $((1 << 30))
start_bg reset $FAULTS backend reset $RESET_PORT
start_bg stall $FAULTS backend stall $STALL_PORT
start_bg late $FAULTS backend late $LATE_PORT
for p in $RAW_PORT $STOP_PORT $FLOOD_PORT $RESET_PORT $STALL_PORT $LATE_PORT; do
    wait_port 127.0.0.1 "$p" || exit 1
done

# write_config FILE: one frontend, a backend per fault chosen by SNI.
write_config() {
    global_ini 2 >"$1"
    cat >>"$1" <<EOF
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
handshake_timeout = $((2 * SLOW))s
idle_timeout = $((4 * SLOW))s
backend = raw
EOF
    local b
    for b in refuse reset stall stop late flood; do echo "route = sni:$b.test $b" >>"$1"; done
    cat >>"$1" <<EOF

[backend raw]
address = 127.0.0.1:$RAW_PORT
EOF
    for b in refuse:$REFUSE_PORT reset:$RESET_PORT stall:$STALL_PORT stop:$STOP_PORT \
        late:$LATE_PORT flood:$FLOOD_PORT; do
        printf '\n[backend %s]\naddress = 127.0.0.1:%s\nconnect_timeout = 2s\n' "${b%:*}" "${b#*:}" >>"$1"
    done
}

# ---- helpers ----
# The log line of a connection whose client went away (either direction,
# kTLS or fallback).
CLIENT_GONE="frontend f: (TLS (read from|write to)|reading from|writing to) the client"
probe() {
    [ "$(printf hello | timeout $((10 * SLOW)) openssl s_client -quiet \
        -connect 127.0.0.1:$PROXY_PORT 2>/dev/null | sha)" = "$hello_sha" ]
}
daemon_alive() { kill -0 "$proxy_pid" 2>/dev/null; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$proxy_pid/status"; }
# (one ls: a readlink per descriptor costs seconds on a busy machine)
fd_list() { ls -l "/proc/$proxy_pid/fd" 2>/dev/null | grep -- ' -> '; }
nonpipe_fds() { fd_list | grep -vc -- '-> pipe:'; }
pipe_fds() { fd_list | grep -c -- '-> pipe:'; }
# mark / logged ERE: the daemon logged a line matching ERE since the mark.
mark() { log_mark=$(wc -l <"$T/proxy.log"); echo "# t=$(($(date +%s) - t_start)) s"; }
t_start=$(date +%s)
logged() {
    local i
    for i in $(seq 1 $((20 * SLOW))); do
        tail -n +"$((log_mark + 1))" "$T/proxy.log" | grep -qE "$1" && return 0
        sleep 0.1
    done
    return 1
}
# fds_back: the non-pipe descriptors return to the baseline (pooled pipes
# stay within the pools' bound: 2 workers x (64 + 8 big) pipes x 2 fds).
fds_back() {
    local i
    for i in $(seq 1 $((50 * SLOW))); do [ "$(nonpipe_fds)" -eq "$fd_base" ] && break; sleep 0.2; done
    [ "$(nonpipe_fds)" -eq "$fd_base" ] && [ "$(pipe_fds)" -le 288 ] && return 0
    echo "# fds: $(nonpipe_fds) non-pipe (baseline $fd_base), $(pipe_fds) pipe:" >&2
    ls -l /proc/"$proxy_pid"/fd | sed 's/^/#   /' >&2
    return 1
}
# survived NAME: the common expectations after a fault.
survived() {
    check "$1: the daemon lives" daemon_alive
    check "$1: descriptors back to the baseline" fds_back
    check "$1: another connection is served" probe
}
# within SECS_HOW_LINE MIN MAX: "SECS HOW ..." closed (eof/reset) between MIN and MAX s.
within() {
    local secs how
    read -r secs how _ <<<"$1"
    [ "$how" = eof ] || [ "$how" = reset ] || return 1
    awk -v t="$secs" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'
}
# rss_within KB_BEFORE: VmRSS grew by less than RSS_BOUND.
rss_within() { [ $(($(rss) - $1)) -lt "$RSS_BOUND" ]; }

write_config "$T/f.ini"
start_proxy "$T/f.ini" || { not_ok "daemon starts"; finish; exit 1; }
check "warm-up round trip" probe
probe && probe
fd_base=$(nonpipe_fds)
echo "# baseline: $fd_base non-pipe fds, VmRSS $(rss) kB"

# ---- backends ----
mark
got=$($FAULTS client roundtrip $PROXY_PORT refuse.test)
check "backend refuses: the client gets no data and is closed promptly ($got)" \
    eval "[[ '$got' == '0 '* ]] && within '${got#* }' 0 $((5 * SLOW))"
check "backend refuses: logged" logged "backend refuse unavailable: .*refused"
survived "backend refuses"

mark
got=$($FAULTS client roundtrip $PROXY_PORT reset.test)
check "backend resets mid-stream: the client's connection ends, no hang ($got)" \
    eval "[[ '$got' != *open ]]"
check "backend resets mid-stream: logged" logged "frontend f: reading from the backend: Connection reset"
survived "backend resets mid-stream"

mark
before=$(rss)
$FAULTS client upload $PROXY_PORT stall.test $((2 * SLOW)) >"$T/stall.out" &
up=$!
sleep $SLOW
during=$(rss)
wait $up
sent=$(cat "$T/stall.out")
echo "# backend stops reading: the client got $sent bytes in; VmRSS $before -> $during kB"
check "backend stops reading: backpressure reaches the client (it sent ${sent} < 256 MiB)" \
    eval "[ '${sent:-0}' -gt 0 ] && [ '${sent:-0}' -lt $((256 << 20)) ]"
check "backend stops reading: the daemon's memory stays bounded ($before -> $during kB)" \
    [ $((during - before)) -lt "$RSS_BOUND" ]
# The daemon waits on the backend alone here, so it learns of the client's
# reset only when idle_timeout (4 s; 16 s in the VM) ends the connection.
check "backend stops reading: the client's connection is released by idle_timeout, logged" \
    logged "connection closed: idle timeout"
survived "backend stops reading"

mark
kill -STOP "$pid_stop"
$FAULTS client roundtrip $PROXY_PORT stop.test >"$T/stop.out" &
stopped=$!
sleep $SLOW
check "backend SIGSTOPped: other connections are served meanwhile" probe
check "backend SIGSTOPped: its client is still waiting, not dropped" [ ! -s "$T/stop.out" ]
kill -CONT "$pid_stop"
wait $stopped
check "backend SIGSTOPped, then continued: its client gets the answer ($(cat "$T/stop.out"))" \
    grep -q '^5 .* eof$' "$T/stop.out"
survived "backend SIGSTOPped"

mark
$FAULTS client leave $PROXY_PORT late.test >/dev/null
sleep $((2 * SLOW))   # the backend answers after 1 s
check "backend answers after the client left: logged" \
    logged "$CLIENT_GONE"
survived "backend answers after the client left"

# ---- clients ----
mark
$FAULTS client slow-hello $PROXY_PORT >"$T/slow.out" &
slow=$!
sleep 1
check "slow handshake (1 byte/s): other clients are served meanwhile" probe
wait $slow
got=$(cat "$T/slow.out")
check "slow handshake: closed by handshake_timeout = $((2 * SLOW))s, not before ($got)" \
    within "$got" $((2 * SLOW - 1)).95 $((4 * SLOW))
check "slow handshake: logged" logged "frontend f: handshake timeout"
survived "slow handshake"

mark
before=$(rss)
$FAULTS client noread $PROXY_PORT flood.test $((2 * SLOW)) >/dev/null &
nr=$!
sleep $SLOW
during=$(rss)
wait $nr
echo "# client never reads: VmRSS $before -> $during kB while the backend sends 1 GiB"
check "client never reads: the daemon's memory stays bounded ($before -> $during kB)" \
    [ $((during - before)) -lt "$RSS_BOUND" ]
check "client never reads: its reset is logged" logged "$CLIENT_GONE"
survived "client never reads"

mark
$FAULTS client rst-mid-record $PROXY_PORT ok.test >/dev/null
check "client RST mid-record: logged" logged "$CLIENT_GONE"
survived "client RST mid-record"

mark
got=$($FAULTS client garbage $PROXY_PORT ok.test)
check "garbage after the hand-off: the client is closed promptly ($got)" within "$got" 0 $((5 * SLOW))
if [ "$IN_VM" = 1 ]; then
    check "garbage after the hand-off: kTLS RX says EBADMSG, logged" \
        logged "frontend f: reading from the client: Bad message"
else
    check "garbage after the hand-off: the bad MAC is logged" \
        logged "frontend f: TLS read from the client: .*MAC failed"
fi
survived "garbage after the hand-off"

mark
got=$($FAULTS client alert-flood $PROXY_PORT 10000)
check "alert flood (10000 warnings): closed promptly ($got)" within "$got" 0 $((5 * SLOW))
# mbedTLS skips warning alerts before the ClientHello; the handshake
# timeout bounds the time a flood can hold a connection.
check "alert flood: logged" logged "frontend f: handshake (failed|timeout)"
survived "alert flood"

# TLS 1.3 early data: the daemon issues no tickets, so the attempt uses an
# external PSK the daemon does not know: the early data must not be taken.
mark
printf 'EARLY' >"$T/early.txt"
printf hello | timeout $((10 * SLOW)) openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet \
    -tls1_3 -psk 0123456789abcdef0123456789abcdef -early_data "$T/early.txt" \
    >"$T/early.out" 2>"$T/early.err"
st=$?
echo "# early data: s_client exit $st, $(wc -c <"$T/early.out") bytes back"
check "0-RTT attempt: s_client did not hang (exit $st)" [ "$st" -ne 124 ]
check "0-RTT attempt: the early data reached no backend" \
    eval "! grep -rq '$(printf EARLY | sha)' '$T/raw'"
check "0-RTT attempt: the early data was skipped, the connection served normally" \
    [ "$(sha <"$T/early.out")" = "$hello_sha" ]
check "0-RTT attempt: a full handshake, logged" logged "frontend f: TLSv1.3 "
survived "0-RTT attempt"

for kind in sslv2 sslv3 big-hello bad-length; do
    mark
    before=$(rss)
    got=$($FAULTS client $kind $PROXY_PORT)
    check "$kind: closed promptly ($got)" within "$got" 0 $((5 * SLOW))
    check "$kind: handshake failure logged" logged "frontend f: handshake failed"
    check "$kind: memory bounded ($before -> $(rss) kB)" rss_within "$before"
    survived "$kind"
done

check "daemon stops cleanly" stop_proxy

finish
