#!/bin/bash
# Request latency over keep-alive connections: no response may wait for the
# client's delayed ACK (Nagle holding the tail of a response cost ~40 ms per
# request before client sockets got TCP_NODELAY).
#
# 120 requests of mixed sizes over one connection, per TLS version, twice:
# to 127.0.0.1, and to 127.0.0.2 whose route has `quickack 1`, so the client
# ACKs at once and a Nagle stall cannot happen.  Both runs pay the same
# crypto (and, in the emulated VM, the same slowness); a response size whose
# median latency is 30 ms or more above the quick-ACK run's waited for a
# delayed ACK (>= 40 ms).  The route is changed in the suite's own network
# namespace (lib.sh); inside the kTLS VM the whole network is the VM's own.
#
# In the kTLS VM, one more run under strace: a request and its response must
# not cost splice calls that find nothing (EAGAIN); the daemon waits for the
# loop after a fill that emptied its source (pump.c, fill_emptied).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "$IN_VM" != 1 ] && [ -z "${KP_NETNS:-}" ]; then
    echo "SKIP: latency.sh changes a route: it needs a network namespace (run as root)" >&2
    exit 77
fi

PROXY_PORT=18843 HTTP_PORT=19401
KEEPALIVE=$top_srcdir/tests/tools/keepalive.py

echo "# keep-alive latency: ktls=$KTLS in $T"
ip link set lo up &&
    ip route add local 127.0.0.2 dev lo table local quickack 1 ||
    { not_ok "cannot set up the quick-ACK route"; finish; exit; }
make_certs
start_bg http python3 "$KEEPALIVE" serve "$HTTP_PORT"
wait_port 127.0.0.1 "$HTTP_PORT" || exit 1

{
    global_ini 1
    cat <<INI
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
listen = 127.0.0.2:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
backend = http

[backend http]
address = 127.0.0.1:$HTTP_PORT
INI
} >"$T/proxy.ini"
start_proxy "$T/proxy.ini" || exit 1

# run_client NAME ARGS...: one client run, its output kept in the scratch.
run_client() {
    local out=$T/latency-${1// /_}.out
    shift
    python3 "$KEEPALIVE" client "$@" >"$out" 2>&1
    local st=$?
    sed 's/^/#   /' "$out"
    return $st
}

[ "$IN_VM" = 1 ] && tx0=$(tls_stat TlsTxSw)
for v in 1.3 1.2; do
    opts=--tls
    [ "$v" = 1.2 ] && opts="--tls --tls12"
    # shellcheck disable=SC2086
    check "TLS $v: 120 requests with quick ACKs" \
        run_client "quickack $v" 127.0.0.2 "$PROXY_PORT" $opts --save "$T/quick-$v.json"
    # shellcheck disable=SC2086
    check "TLS $v: no response size waits a delayed-ACK period" \
        run_client "normal $v" 127.0.0.1 "$PROXY_PORT" $opts --baseline "$T/quick-$v.json"
done
# splice_eagain N: N requests over one kTLS connection under strace; passes
# when fewer than N/4 splice calls failed with EAGAIN (2 per request, one per
# direction, before the daemon learnt to wait).
splice_eagain() {
    local n=$1 eagain calls
    trace_start "$T/strace-splice.txt" splice
    run_client "strace 1.2" 127.0.0.2 "$PROXY_PORT" --tls --tls12 --requests "$n"
    local st=$?
    trace_stop
    calls=$(grep -c 'splice(' "$T/strace-splice.txt")
    eagain=$(grep -c '= -1 EAGAIN' "$T/strace-splice.txt")
    echo "# $n requests: $calls splice calls, $eagain of them found nothing (EAGAIN)"
    [ "$st" = 0 ] && [ "$calls" -ge "$((2 * n))" ] && [ "$eagain" -lt "$((n / 4))" ]
}

if [ "$IN_VM" = 1 ]; then
    check "all four connections ran over kTLS (TlsTxSw +4)" [ $(($(tls_stat TlsTxSw) - tx0)) -eq 4 ]
    check "TLS 1.2: 120 requests, fewer than 30 splice calls that find nothing" splice_eagain 120
fi
check "ktlsproxy stops cleanly" stop_proxy
finish
