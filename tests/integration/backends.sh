#!/bin/bash
# Backends of every address kind (IPv6, unix socket) and client certificate
# verification, whose verified common name reaches the backend in the PROXY
# v2 SSL TLV.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18843 V6_PORT=19401 V2CN_PORT=19402 HALF_PORT=19403 FIN_PORT=19404 ADMIN_PORT=19405
SLOW=1
[ "$IN_VM" = 1 ] && SLOW=4

echo "# backend kinds and client certificates: ktls=$KTLS in $T"
make_certs
mkdir -p "$T/v6" "$T/unix" "$T/cn" "$T/half" "$T/fin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$T/ca.key" -out "$T/ca.pem" -subj /CN=test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/client.key" -out "$T/client.csr" -subj /CN=client-42 2>/dev/null
openssl x509 -req -in "$T/client.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 2 -out "$T/client.pem" 2>/dev/null

start_bg v6 "$KP_BACKEND" --listen "[::1]:$V6_PORT" --dir "$T/v6" --expect 5 --send 5
start_bg unix "$KP_BACKEND" --listen "unix:$T/backend.sock" --dir "$T/unix" --expect 5 --send 5
start_bg cn "$KP_BACKEND" --listen 127.0.0.1:$V2CN_PORT --dir "$T/cn" --proxy v2 --close-early
# half: reads to EOF, and only then answers.
start_bg half "$KP_BACKEND" --listen 127.0.0.1:$HALF_PORT --dir "$T/half" --send 100000
FIN_BYTES=$((4 * 1024 * 1024))
head -c $FIN_BYTES /dev/urandom >"$T/fin.bin"
start_bg fin "$KP_BACKEND" --listen 127.0.0.1:$FIN_PORT --dir "$T/fin" --expect $FIN_BYTES --send $FIN_BYTES
wait_port ::1 $V6_PORT && wait_port 127.0.0.1 $V2CN_PORT && wait_port 127.0.0.1 $HALF_PORT &&
    wait_port 127.0.0.1 $FIN_PORT || exit 1
for i in $(seq 1 50); do [ -S "$T/backend.sock" ] && break; sleep 0.1; done

global_ini 2 >"$T/b.ini"
cat >>"$T/b.ini" <<EOF
[frontend f]
listen = [::1]:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
route = sni:v6.wild.test v6
route = sni:unix.wild.test unix
route = sni:cn.wild.test cn
route = sni:half.wild.test half
route = sni:fin.wild.test fin
client_verify = optional
client_ca = $T/ca.pem

[backend v6]
address = [::1]:$V6_PORT

[backend unix]
address = unix:$T/backend.sock

[backend half]
address = 127.0.0.1:$HALF_PORT

[backend fin]
address = 127.0.0.1:$FIN_PORT

[backend cn]
address = 127.0.0.1:$V2CN_PORT
proxy_protocol = v2

[admin]
listen = 127.0.0.1:$ADMIN_PORT
EOF
sed -e "s|^route = .*||" -e "s|client_verify = optional|client_verify = required\nbackend = v6|" \
    "$T/b.ini" >"$T/required.ini"

hello_sha=$("$KP_BACKEND" --gen 5 | sha)
# failed_itself STATUS: a client failed, and not because timeout killed it.
failed_itself() { [ "$1" -ne 0 ] && [ "$1" -ne 124 ]; }
# roundtrip SNI [s_client args...]: send 5 bytes, print the sha of the reply.
roundtrip() {
    local sni=$1
    shift
    printf hello | timeout $((10 * SLOW)) openssl s_client -quiet -connect "[::1]:$PROXY_PORT" \
        -servername "$sni" "$@" 2>/dev/null | sha
}

# fin_with_finished: a client whose request and FIN arrive in one segment with
# its Finished.  The kernel takes the TLS ULP only on an established socket
# (ENOTCONN), so in the kTLS VM the hand-off meets a client that has left or
# half-closed: the client's doing, logged at info, never a kTLS failure.  With
# ktls = auto user space answers it; with required it is closed unanswered.
fin_with_finished() {
    local nhalf first got_bytes got_sha answer closed
    nhalf=$(ls "$T"/half/conn-*.txt 2>/dev/null | wc -l)
    printf hello >"$T/hello.bin"
    read -r first got_bytes got_sha < <(python3 "$top_srcdir/tests/tools/finished_then_data.py" \
        --fin ::1 $PROXY_PORT half.wild.test "$T/hello.bin" 2>"$T/finfin.err" || echo "0 0 error")
    answer="100000 $("$KP_BACKEND" --gen 100000 | sha)"
    closed="info: frontend f: the client closed (FIN or RST) before the kTLS hand-off"
    if [ "$KTLS" = required ]; then
        check "FIN with Finished, ktls = required: closed unanswered ($got_bytes bytes)" \
            [ "$got_bytes" = 0 ]
        check "... nothing reached the backend" \
            [ "$(ls "$T"/half/conn-*.txt 2>/dev/null | wc -l)" = "$nhalf" ]
        check "... logged at info as the client's close" \
            grep -q "$closed; closing it (ktls = required) (client " "$T/proxy.log"
        timeout 10 curl -sS "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/metrics.txt"
        check "... counted as handshake_failures_total{reason=\"closed\"}" \
            grep -qx 'ktlsproxy_handshake_failures_total{reason="closed"} 1' "$T/metrics.txt"
        check "... not as {reason=\"ktls\"}" \
            grep -qx 'ktlsproxy_handshake_failures_total{reason="ktls"} 0' "$T/metrics.txt"
    else
        check "FIN with Finished, ktls = auto: the backend's answer reached the client" \
            [ "$got_bytes $got_sha" = "$answer" ]
        [ "$IN_VM" = 0 ] || check "... in user space, logged at info as the client's close" \
            grep -q "$closed; it stays in user space (client " "$T/proxy.log"
    fi
    check "... and no kTLS hand-off failure was logged" eval "! grep -q 'hand-off failed' '$T/proxy.log'"
}

if start_proxy "$T/b.ini"; then
    check "IPv6 listener and IPv6 backend: round trip" [ "$(roundtrip v6.wild.test)" = "$hello_sha" ]
    check "IPv6 backend got the bytes" grep -q "^5 " "$T/v6/conn-1.txt"
    check "unix socket backend: round trip" [ "$(roundtrip unix.wild.test)" = "$hello_sha" ]
    check "unix socket backend got the bytes" grep -q "^5 " "$T/unix/conn-0.txt"
    roundtrip cn.wild.test -cert "$T/client.pem" -key "$T/client.key" >/dev/null
    for i in $(seq 1 $((20 * SLOW))); do [ -s "$T/cn/proxy-1.bin" ] && break; sleep 0.1; done
    # The SSL TLV: client flags 0x07 (SSL, cert on connection and session),
    # verify 0, then the CN sub-TLV 0x22 "client-42".
    hdr=$(od -An -tx1 -v "$T/cn/proxy-1.bin" 2>/dev/null | tr -d ' \n')
    cn_hex=$(printf client-42 | od -An -tx1 | tr -d ' \n')
    check "verified client certificate: PROXY v2 SSL TLV says verified (flags 07, verify 0)" \
        eval "[[ '$hdr' == *20????0700000000* ]]"
    check "verified client certificate: PROXY v2 carries CN client-42" \
        eval "[[ '$hdr' == *220009$cn_hex* ]]"
    roundtrip cn.wild.test >/dev/null
    for i in $(seq 1 $((20 * SLOW))); do [ -s "$T/cn/proxy-2.bin" ] && break; sleep 0.1; done
    hdr=$(od -An -tx1 -v "$T/cn/proxy-2.bin" 2>/dev/null | tr -d ' \n')
    check "no client certificate (optional): SSL TLV flags 01, verify 1, no CN" \
        eval "[[ '$hdr' == *20????0100000001* && '$hdr' != *$cn_hex* ]]"
    # gnutls-cli ends its side when its input ends but goes on reading: the
    # backend must see EOF, and its answer must still reach the client.
    got=$(printf hello | timeout $((10 * SLOW)) gnutls-cli --insecure --logfile="$T/gnutls.log" \
        --sni-hostname half.wild.test --port $PROXY_PORT ::1 2>/dev/null | sha)
    check "client half-close: the backend saw EOF after the 5 bytes" grep -q "^5 " "$T/half/conn-1.txt"
    check "client half-close: the backend's answer after that reached the client" \
        [ "$got" = "$("$KP_BACKEND" --gen 100000 | sha)" ]
    # Data glued to the client's Finished: already in the socket at hand-off.
    read -r first got_bytes got_sha < <(python3 "$top_srcdir/tests/tools/finished_then_data.py" \
        ::1 $PROXY_PORT fin.wild.test "$T/fin.bin" 2>"$T/fin.err" || echo "0 0 error")
    check "data in the same send() as Finished: the first send carried data ($first bytes)" \
        [ "$first" -gt 16384 ]
    check "data right after Finished: the backend got all $FIN_BYTES bytes intact" \
        [ "$(cat "$T/fin/conn-1.txt" 2>/dev/null)" = "$FIN_BYTES $(sha <"$T/fin.bin")" ]
    check "data right after Finished: the answer came back intact" \
        [ "$got_bytes $got_sha" = "$FIN_BYTES $("$KP_BACKEND" --gen $FIN_BYTES | sha)" ]
    fin_with_finished
    check "daemon stops cleanly" stop_proxy
else
    not_ok "daemon starts"
fi
# The same client against ktls = auto in the kTLS VM: the kernel refuses it
# there too, and user space answers it.
if [ "$KTLS" = required ]; then
    sed 's/^ktls = required$/ktls = auto/' "$T/b.ini" >"$T/auto.ini"
    if start_proxy "$T/auto.ini"; then
        KTLS=auto fin_with_finished
        check "ktls = auto daemon stops cleanly" stop_proxy
    else
        not_ok "ktls = auto daemon starts"
    fi
fi

if start_proxy "$T/required.ini"; then
    check "client_verify = required: a client with a certificate gets through" \
        [ "$(roundtrip v6.wild.test -cert "$T/client.pem" -key "$T/client.key")" = "$hello_sha" ]
    nconn=$(ls "$T"/v6/conn-*.txt | wc -l)
    printf hello | timeout $((10 * SLOW)) openssl s_client -quiet -connect "[::1]:$PROXY_PORT" \
        -servername v6.wild.test >"$T/refused.out" 2>"$T/refused.err"
    st=$?
    check "client_verify = required: a client without one fails by itself (exit $st)" failed_itself "$st"
    check "... receives no byte of application data ($(wc -c <"$T/refused.out") bytes)" \
        [ ! -s "$T/refused.out" ]
    check "... and nothing reached the backend ($nconn connections before)" \
        [ "$(ls "$T"/v6/conn-*.txt | wc -l)" -eq "$nconn" ]
    check "... and it is logged" grep -q "info: frontend f: handshake failed" "$T/proxy.log"
    check "daemon stops cleanly (required)" stop_proxy
else
    not_ok "daemon starts (required)"
fi

finish
