#!/bin/bash
# TLS 1.3 KeyUpdate on kTLS connections (kTLS VM only; on the host the
# user-space fallback has mbedTLS, which refuses KeyUpdate: daemon.sh).
#
# Kernel that can rekey (Linux 6.14+, the daemon logs "can rekey"):
#  - openssl s_client sends k (update_not_requested) and K (update_requested)
#    while BULK bytes go up, then BULK bytes come down: both directions arrive
#    intact.  K makes the daemon send its own KeyUpdate and switch TX keys, so
#    the whole download is encrypted under the updated server key (a wrong TX
#    rekey breaks it).  /proc/net/tls_stat TlsRxRekeyOk and TlsRxRekeyReceived
#    rise by 2 and TlsTxRekeyOk by 1, as the daemon's key update metrics.
#    (s_client reads no command while a download streams in: it reads stdin
#    only when no TLS data is pending; so no KeyUpdate mid-download here.)
#  - A storm of KeyUpdates (tests/tools/tls13_raw.py) is followed REKEY_BURST
#    (16) times, then closed by the rate limit with a log line.
# Kernel that cannot (6.1): the first KeyUpdate closes the connection with a
# log line; the daemon goes on and stops cleanly.
# Both: TLS 1.2 transfers are untouched (no rekey counted).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "$IN_VM" != 1 ]; then
    echo "# keyupdate: kTLS VM only (the fallback's KeyUpdate refusal is in daemon.sh)"
    exit 77
fi

PROXY_PORT=18743 ADMIN_PORT=18744 BULK_PORT=19301
DL_PORT=18745 DL_BACKEND_PORT=19303 # the download with KeyUpdates in it
BULK=${KP_KEYUPDATE_BYTES:-$((64 * 1024 * 1024))}
BURST=16
echo "# keyupdate: ktls=$KTLS, kernel $(uname -r), $BULK bytes each way, in $T"
make_certs
mkdir -p "$T/raw"

global_ini 1 >"$T/ku.ini"
cat >>"$T/ku.ini" <<EOF
[admin]
listen = 127.0.0.1:$ADMIN_PORT

EOF
{
    frontend_ini f 127.0.0.1:$PROXY_PORT 127.0.0.1:$BULK_PORT "1.2 1.3"
    frontend_ini d 127.0.0.1:$DL_PORT 127.0.0.1:$DL_BACKEND_PORT 1.3
} >>"$T/ku.ini"

start_proxy "$T/ku.ini" || { not_ok "daemon starts"; finish; exit 1; }
if grep -q 'kernel TLS can rekey' "$T/proxy.log"; then rekey=1; else rekey=0; fi
check "the daemon logged the kernel's rekey capability once" \
    [ "$(grep -c 'kernel TLS can rekey\|kernel TLS cannot rekey' "$T/proxy.log")" = 1 ]
echo "# rekey=$rekey"
# Without rekey the first KeyUpdate ends the transfer: 4 MiB is plenty.
[ "$rekey" = 1 ] || BULK=$((4 * 1024 * 1024))

# The upload: hex text, so that no chunk s_client reads starts with one of its
# command letters (Q, R, k, K).
"$KP_BACKEND" --gen $((BULK / 2)) |
    "$PYTHON" -c 'import sys; sys.stdout.write(sys.stdin.buffer.read().hex())' >"$T/up.hex"
up_sha=$(sha <"$T/up.hex")
down_sha=$("$KP_BACKEND" --gen "$BULK" | sha)
start_bg bulk "$KP_BACKEND" --listen 127.0.0.1:$BULK_PORT --dir "$T/raw" --expect "$BULK" \
    --send "$BULK"
wait_port 127.0.0.1 $BULK_PORT || exit 1

sw() { echo "$(tls_stat TlsTxSw) $(tls_stat TlsRxSw)"; }
stats() { # the rekey counters of tls_stat, one line
    echo "$(tls_stat TlsRxRekeyOk) $(tls_stat TlsTxRekeyOk) $(tls_stat TlsRxRekeyReceived)"
}
# delta BEFORE AFTER: "rx tx received" differences (counters missing on old
# kernels count as 0).
delta() {
    local -a a=($1) b=($2)
    echo "$((${b[0]:-0} - ${a[0]:-0})) $((${b[1]:-0} - ${a[1]:-0})) $((${b[2]:-0} - ${a[2]:-0}))"
}
# wait_size FILE BYTES: until FILE holds BYTES (s_client's output grows).
wait_size() {
    local i
    for i in $(seq 1 3000); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        kill -0 "$client" 2>/dev/null || return 1
        sleep 0.1
    done
    echo "# timeout: $1 stayed under $2 bytes" >&2
    return 1
}
# feed: s_client's stdin.  Each command letter is written alone after a pause,
# so that s_client reads it as a chunk of its own (a chunk that starts with a
# command letter is a command, not data).
feed() {
    local q=$((BULK / 4))
    head -c $q "$T/up.hex"; sleep 1; printf 'k\n'; sleep 1
    tail -c +$((q + 1)) "$T/up.hex" | head -c $q; sleep 1; printf 'K\n'; sleep 1
    tail -c +$((2 * q + 1)) "$T/up.hex"
    wait_size "$T/s.out" "$BULK" || return
    sleep 2 # the tail of the download
}
# ---- s_client k and K, both ways ----
before=$(stats) sw0=$(sw)
rm -f "$T"/raw/conn-*.txt # wait_port's probe was one
: >"$T/s.out"
mkfifo "$T/s.in"
timeout 600 openssl s_client -connect 127.0.0.1:$PROXY_PORT -tls1_3 \
    -ciphersuites TLS_AES_128_GCM_SHA256 <"$T/s.in" >"$T/s.out" 2>"$T/s.err" &
client=$!
pids+=("$client")
# On a kernel without rekey s_client is gone after the first k: no SIGPIPE here.
(trap '' PIPE; feed) >"$T/s.in" 2>/dev/null
wait "$client"
after=$(stats)
echo "# tls_stat rekey (rx tx received): before $before, after $after"
check "TLS 1.3 went through kernel TLS (tls_stat TlsTxSw and TlsRxSw +1)" \
    [ "$(delta "$sw0" "$(sw)")" = "1 1 0" ]
if [ "$rekey" = 1 ]; then
    "$KP_BACKEND" --gen 64 >"$T/head.bin"
    got=$("$PYTHON" -c '
import hashlib, sys
data = open(sys.argv[1], "rb").read()
i = data.find(open(sys.argv[2], "rb").read())
print(hashlib.sha256(data[i:i + int(sys.argv[3])]).hexdigest() if i >= 0 else "none")
' "$T/s.out" "$T/head.bin" "$BULK")
    check "s_client sent k and K (KEYUPDATE x2)" [ "$(grep -c KEYUPDATE "$T/s.err")" = 2 ]
    check "upload of $BULK bytes with k and K in it arrived intact" \
        [ "$(cat "$T"/raw/conn-*.txt 2>/dev/null)" = "$BULK $up_sha" ]
    check "download of $BULK bytes under the updated server key arrived intact" \
        [ "$got" = "$down_sha" ]
    check "tls_stat: TlsRxRekeyOk +2, TlsTxRekeyOk +1, TlsRxRekeyReceived +2" \
        [ "$(delta "$before" "$after")" = "2 1 2" ]
    check "metrics: ktlsproxy_key_updates_total rx 2, tx 1" \
        [ "$(curl -s http://127.0.0.1:$ADMIN_PORT/metrics |
             awk '/^ktlsproxy_key_updates_total/ { printf "%s ", $2 }')" = "2 1 " ]
else
    check "6.1: the first KeyUpdate ends the connection with a log line" \
        grep -q 'info: frontend f: client sent a TLS 1.3 KeyUpdate, which kTLS on this kernel cannot follow' \
        "$T/proxy.log"
    check "6.1: no rekey counted" [ "$(delta "$before" "$after")" = "0 0 0" ]
fi

# ---- K during a download: tests/tools/ku_client ----
# s_client cannot (above), so ku_client (OpenSSL) sends
# KeyUpdate(update_requested) after a third and after two thirds of a download
# of BULK bytes: the daemon reads each while it splices into the kTLS socket,
# sends its own KeyUpdate and switches TX keys mid-stream; one connection per
# cipher suite.  6.1: the first K ends the connection with the log line.
KU_CLIENT=$top_builddir/tests/tools/ku_client
if [ -x "$KU_CLIENT" ]; then
    mkdir -p "$T/dl"
    start_bg dl "$KP_BACKEND" --listen 127.0.0.1:$DL_BACKEND_PORT --dir "$T/dl" --expect 4096 \
        --send "$BULK"
    wait_port 127.0.0.1 $DL_BACKEND_PORT || exit 1
    cannot='info: frontend d: client sent a TLS 1.3 KeyUpdate, which kTLS on this kernel cannot'
    for suite in TLS_AES_128_GCM_SHA256 TLS_CHACHA20_POLY1305_SHA256; do
        before=$(stats) logged=$(grep -c "$cannot" "$T/proxy.log")
        got=$(timeout 300 "$KU_CLIENT" --connect 127.0.0.1:$DL_PORT --sni localhost \
              --ciphersuites $suite --upload 4096 --update-at $((BULK / 3)) \
              --update-at $((2 * BULK / 3)) 2>"$T/ku-$suite.err")
        echo "# ku_client $suite (124: timed out, scratch kept): $? $got"
        after=$(stats)
        if [ "$rekey" = 1 ]; then
            check "$suite: K after 1/3 and 2/3 of a $BULK-byte download, 2 KeyUpdates back, intact" \
                [ "$got" = "received $BULK sha256 $down_sha key_updates sent 2 received 2 end close_notify" ]
            check "... tls_stat: TlsRxRekeyOk +2, TlsTxRekeyOk +2, TlsRxRekeyReceived +2" \
                [ "$(delta "$before" "$after")" = "2 2 2" ]
        else
            # The daemon logs the end after closing: give it a moment.
            for i in $(seq 1 50); do
                [ "$(grep -c "$cannot" "$T/proxy.log")" -gt \
                  "$logged" ] && break
                sleep 0.1
            done
            tail -n 3 "$T/proxy.log" | sed 's/^/# /'
            check "6.1 $suite: K during a download ends the connection with the log line" \
                [ "$(grep -c "$cannot" "$T/proxy.log")" = \
                  $((logged + 1)) ]
            # (Its second K may go out before it reads the close; a download
            # buffered whole before the first K ends with close_notify.)
            check "... the client sent K, got no KeyUpdate back, and the connection was closed" \
                grep -qE ' key_updates sent [12] received 0 end (eof|close_notify|error:)' <<<"$got"
            check "... no rekey counted" [ "$(delta "$before" "$after")" = "0 0 0" ]
        fi
    done
else
    echo "# ku_client not built (no OpenSSL headers): no KeyUpdate during a download tested"
fi

# ---- what a connection that can follow KeyUpdate keeps (rekey only) ----
# A held TLS 1.3 connection: its two traffic secrets are in the daemon's
# memory (kept on purpose, rekey.h), no key, IV or IV part is.  After K (both
# directions updated) the first secrets are gone too, and the new ones are
# the only thing kept.
# scan GENERATION MODE...: keyscan of the held connection, report to scan-G.txt.
scan() {
    local g=$1
    shift
    "$PYTHON" "$top_srcdir/tests/tools/keyscan.py" --pid "$proxy_pid" --keylog "$T/held.keys" \
        --suite TLS_AES_128_GCM_SHA256 --generation "$g" "$@" >"$T/scan-$g.txt" 2>&1
    local st=$?
    sed 's/^/# /' "$T/scan-$g.txt"
    return $st
}
secrets_found() { # GENERATION: both traffic secrets found
    [ "$(grep -cE '^(client|server) traffic secret +FOUND' "$T/scan-$1.txt")" = 2 ]
}
if [ "$rekey" = 1 ]; then
    mkfifo "$T/held.in"
    openssl s_client -connect 127.0.0.1:$PROXY_PORT -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 \
        -keylogfile "$T/held.keys" <"$T/held.in" >"$T/held.out" 2>&1 &
    held=$!
    pids+=("$held")
    exec 3>"$T/held.in"
    printf 'hello\n' >&3
    n0=$(grep -c 'update_requested=1) followed' "$T/proxy.log")
    for i in $(seq 1 100); do grep -q CLIENT_TRAFFIC_SECRET_0 "$T/held.keys" 2>/dev/null && break; sleep 0.1; done
    sleep 2
    check "held connection: its traffic secrets are kept, no key, IV or IV part" scan 0 --secrets-kept
    check "... and the scan does see the kept secrets" secrets_found 0
    sleep 1; printf 'K\n' >&3; sleep 1
    for i in $(seq 1 100); do
        [ "$(grep -c 'update_requested=1) followed' "$T/proxy.log")" -gt "$n0" ] && break
        sleep 0.1
    done
    sleep 1
    check "after K: nothing of the first secrets is left (wiped)" scan 0
    check "... the updated secrets are kept, no key, IV or IV part of theirs" scan 1 --secrets-kept
    check "... and the scan does see the updated secrets" secrets_found 1
    exec 3>&-
    kill "$held" 2>/dev/null
    wait "$held" 2>/dev/null
fi

# ---- a storm ----
before=$(stats)
storm=$("$PYTHON" "$top_srcdir/tests/tools/tls13_raw.py" 127.0.0.1 $PROXY_PORT localhost \
    "$T/storm.keys" key-update-storm 200 2>"$T/storm.err")
after=$(stats)
echo "# storm: $storm; tls_stat rekey (rx tx received) $(delta "$before" "$after")"
check "a KeyUpdate storm: the daemon closed the connection" [ "$storm" = closed ]
if [ "$rekey" = 1 ]; then
    # One more per second of the storm may come in (the bucket refills).
    followed=$(delta "$before" "$after" | cut -d' ' -f1)
    check "... after following $BURST of them, give or take the refill (tls_stat TlsRxRekeyOk +$followed)" \
        test "$followed" -ge "$BURST" -a "$followed" -le $((BURST + 10))
    check "... with a log line naming the rate limit" \
        grep -q "info: frontend f: client sent KeyUpdates faster than the limit ($BURST at once" \
        "$T/proxy.log"
else
    check "... at the first one (6.1)" [ "$(delta "$before" "$after")" = "0 0 0" ]
fi

# ---- TLS 1.2 is untouched (4 MiB: the suites prove its bulk path) ----
SMALL=$((4 * 1024 * 1024))
start_bg small "$KP_BACKEND" --listen 127.0.0.1:$((BULK_PORT + 1)) --dir "$T/raw" \
    --expect $SMALL --send $SMALL
wait_port 127.0.0.1 $((BULK_PORT + 1)) || exit 1
sed -i "s/^address = 127.0.0.1:$BULK_PORT/address = 127.0.0.1:$((BULK_PORT + 1))/" "$T/ku.ini"
kill -HUP "$proxy_pid" && sleep 2
before=$(stats) sw0=$(sw)
rm -f "$T"/raw/conn-*.txt
got=$(head -c $SMALL "$T/up.hex" | timeout 300 openssl s_client -connect 127.0.0.1:$PROXY_PORT \
      -tls1_2 -quiet 2>"$T/s12.err" | sha)
after=$(stats)
check "TLS 1.2: $SMALL bytes down intact" [ "$got" = "$("$KP_BACKEND" --gen $SMALL | sha)" ]
check "TLS 1.2: $SMALL bytes up intact" \
    [ "$(cat "$T"/raw/conn-*.txt)" = "$SMALL $(head -c $SMALL "$T/up.hex" | sha)" ]
check "TLS 1.2 went through kernel TLS (tls_stat TlsTxSw and TlsRxSw +1)" \
    [ "$(delta "$sw0" "$(sw)")" = "1 1 0" ]
check "TLS 1.2: no rekey counted" [ "$(delta "$before" "$after")" = "0 0 0" ]

check "the daemon is still up, then stops cleanly" stop_proxy
finish
