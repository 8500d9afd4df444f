#!/bin/bash
# Session tickets: resumption with real clients (openssl s_client
# -sess_out/-sess_in, gnutls-cli --resume, curl with two URLs), TLS 1.2 and
# 1.3 x the three AEADs, a full-size transfer both ways after a resumed
# hand-off; TLS 1.3 with 0, 1 and 2 NewSessionTickets, each followed by data
# the client must decrypt (the tickets shift the kernel's TX sequence
# number: a wrong one breaks the first record); and a fleet: two daemons
# sharing ticket_key_file resume each other's sessions, also after mbedTLS's
# own key lifetime would have run out.
#
# Resumption is checked on the client: s_client prints "Reused", gnutls-cli
# "This is a resumed session"; and in a resumed handshake the server sends no
# Certificate, so s_client verifies none and curl logs none.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18843 B_PORT=18844 C_PORT=18845
RAW_PORT=19401 SMALL_PORT=19402 WEB_PORT=19403
# s_client after resumption, each direction: 64 MiB where kTLS runs, unless
# KP_TICKET_BULK_BYTES says otherwise (tests/vm/integration.test: 32 MiB).
if [ "$IN_VM" = 1 ]; then BULK=$((64 * 1024 * 1024)); else BULK=$((8 * 1024 * 1024)); fi
BULK=${KP_TICKET_BULK_BYTES:-$BULK}
SMALL=4096                                          # what the small backend sends

echo "# session tickets: ktls=$KTLS bulk=$BULK bytes in $T"
make_certs
mkdir -p "$T/raw" "$T/small" "$T/www"
head -c "$BULK" /dev/urandom >"$T/upload.bin"
up_sha=$(sha <"$T/upload.bin")
down_sha=$("$KP_BACKEND" --gen "$BULK" | sha)
small_sha=$("$KP_BACKEND" --gen $SMALL | sha)
head -c 65536 /dev/urandom >"$T/www/file.bin"
http_sha=$(sha <"$T/www/file.bin")

start_bg raw "$KP_BACKEND" --listen 127.0.0.1:$RAW_PORT --dir "$T/raw" --expect "$BULK" --send "$BULK"
start_bg small "$KP_BACKEND" --listen 127.0.0.1:$SMALL_PORT --dir "$T/small" --expect 0 --send $SMALL
start_bg web busybox httpd -f -p 127.0.0.1:$WEB_PORT -h "$T/www"
wait_port 127.0.0.1 $RAW_PORT && wait_port 127.0.0.1 $SMALL_PORT && wait_port 127.0.0.1 $WEB_PORT ||
    exit 1

# write_config FILE PORT TLS_VERSIONS CIPHERS [EXTRA FRONTEND LINES...]
write_config() {
    local f=$1 port=$2 versions=$3 ciphers=$4
    shift 4
    global_ini 2 >"$f"
    cat >>"$f" <<EOF
[frontend f]
listen = 127.0.0.1:$port
cert = $T/ec.pem $T/ec.key
tls_versions = $versions
ciphers = $ciphers
alpn = small http/1.1
backend = raw
route = alpn:small small
route = alpn:http/1.1 web
EOF
    printf '%s\n' "$@" >>"$f"
    cat >>"$f" <<EOF

[backend raw]
address = 127.0.0.1:$RAW_PORT

[backend small]
address = 127.0.0.1:$SMALL_PORT

[backend web]
address = 127.0.0.1:$WEB_PORT
EOF
}

last_raw_result() { cat "$(ls -t "$T"/raw/conn-*.txt | head -1)"; }

# s_get PORT SESSION_FLAGS...: connect, read what the small backend sends
# (the first records after the hand-off), print its SHA-256.
s_get() {
    local port=$1
    shift
    timeout 60 openssl s_client -connect 127.0.0.1:$port -quiet -alpn small "$@" \
        </dev/null 2>"$T/s_get.err" | sha
}
# s_reused PORT FLAGS...: a resumption attempt; prints "Reused, ..." or "New, ...".
s_reused() {
    local port=$1
    shift
    timeout 60 openssl s_client -connect 127.0.0.1:$port -ign_eof -alpn small "$@" </dev/null \
        2>/dev/null | grep -a -o -m1 -E '^(Reused|New), TLSv1\.[23]'
}
# s_bulk FLAGS...: resumed (no certificate verified), BULK up and down.
s_bulk() {
    timeout 300 openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet "$@" \
        <"$T/upload.bin" 2>"$T/s_bulk.err" | sha
}
no_certificate_seen() { ! grep -q 'verify return' "$1"; }

# ---- the matrix: full handshake, then resumed ones with every client ----
matrix_case() { # VERSION CIPHER OSSL_FLAG GNUTLS_CIPHER
    local v=$1 c=$2 name="TLS $1 $2" f=$3
    write_config "$T/m.ini" $PROXY_PORT "$v" "$c"
    start_proxy "$T/m.ini" || { not_ok "$name: daemon starts"; return; }
    local tx0 rx0 hs
    [ "$IN_VM" = 1 ] && tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
    rm -f "$T/sess.pem"
    check "$name: full handshake, ticket issued, data intact" \
        [ "$(s_get $PROXY_PORT "$f" -sess_out "$T/sess.pem")" = "$small_sha" ]
    check "$name: s_client resumes (Reused)" \
        [ "$(s_reused $PROXY_PORT "$f" -sess_in "$T/sess.pem")" = "Reused, TLSv$v" ]
    check "$name: resumed s_client downloads $BULK bytes intact" \
        [ "$(s_bulk "$f" -sess_in "$T/sess.pem")" = "$down_sha" ]
    check "$name: backend got the resumed s_client's upload intact" \
        [ "$(last_raw_result)" = "$BULK $up_sha" ]
    check "$name: that s_client saw no certificate (resumed)" no_certificate_seen "$T/s_bulk.err"
    if [ "$v" = 1.3 ]; then
        check "$name: psk_ke (no DHE) resumption" \
            [ "$(s_reused $PROXY_PORT "$f" -sess_in "$T/sess.pem" -allow_no_dhe_kex)" = "Reused, TLSv1.3" ]
        check "$name: psk_ke resumed, data intact" \
            [ "$(s_get $PROXY_PORT "$f" -sess_in "$T/sess.pem" -allow_no_dhe_kex)" = "$small_sha" ]
    fi
    timeout 120 gnutls-cli --insecure --resume --logfile="$T/gnutls.log" --port $PROXY_PORT \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS$v:-CIPHER-ALL:+$4" --alpn small 127.0.0.1 \
        </dev/null >"$T/gnutls.out" 2>"$T/gnutls.err"
    check "$name: gnutls-cli resumes" grep -q 'This is a resumed session' "$T/gnutls.log"
    check "$name: resumed gnutls-cli reads data intact" [ "$(sha <"$T/gnutls.out")" = "$small_sha" ]
    timeout 60 curl -sS -v --insecure --tlsv$v --tls-max $v --http1.1 -H 'Connection: close' \
        -o "$T/c1" -o "$T/c2" "https://localhost:$PROXY_PORT/file.bin" \
        "https://localhost:$PROXY_PORT/file.bin" 2>"$T/curl.err"
    check "$name: curl fetched twice intact" [ "$(cat "$T/c1" "$T/c2" | sha)" = "$(cat "$T/www/file.bin" "$T/www/file.bin" | sha)" ]
    # curl (OpenSSL) sends no session_ticket extension in TLS 1.2, and we
    # keep no session cache (it would hold master secrets): 1.3 only.
    [ "$v" = 1.3 ] && check "$name: curl's second connection resumed (one Certificate in two handshakes)" \
        [ "$(grep -c 'TLS handshake, Certificate (11)' "$T/curl.err")" -eq 1 ]
    hs=$(grep -c "frontend f: TLSv$v " "$T/proxy.log")
    if [ "$IN_VM" = 1 ]; then
        dtx=$(($(tls_stat TlsTxSw) - tx0)) drx=$(($(tls_stat TlsRxSw) - rx0))
        check "$name: tls_stat TlsTxSw rose by the $hs connections (by $dtx)" [ "$dtx" -eq "$hs" ]
        check "$name: tls_stat TlsRxSw rose by the $hs connections (by $drx)" [ "$drx" -eq "$hs" ]
    fi
    check "$name: daemon stops cleanly" stop_proxy
}

matrix_case 1.2 AES-128-GCM -tls1_2 AES-128-GCM
matrix_case 1.2 AES-256-GCM -tls1_2 AES-256-GCM
matrix_case 1.2 CHACHA20-POLY1305 -tls1_2 CHACHA20-POLY1305
matrix_case 1.3 AES-128-GCM -tls1_3 AES-128-GCM
matrix_case 1.3 AES-256-GCM -tls1_3 AES-256-GCM
matrix_case 1.3 CHACHA20-POLY1305 -tls1_3 CHACHA20-POLY1305

# ---- TLS 1.3: 0, 1 and 2 NewSessionTickets before the hand-off ----
for n in 0 1 2; do
    name="TLS 1.3 tls13_tickets = $n"
    write_config "$T/n.ini" $PROXY_PORT 1.3 AES-128-GCM "tls13_tickets = $n"
    start_proxy "$T/n.ini" || { not_ok "$name: daemon starts"; continue; }
    rm -f "$T/sess.pem"
    check "$name: data after the tickets decrypts" \
        [ "$(s_get $PROXY_PORT -tls1_3 -sess_out "$T/sess.pem")" = "$small_sha" ]
    got=$(timeout 60 openssl s_client -connect 127.0.0.1:$PROXY_PORT -ign_eof -alpn small \
        </dev/null 2>/dev/null | grep -a -c 'Post-Handshake New Session Ticket arrived')
    check "$name: the client received $n tickets ($got)" [ "$got" -eq "$n" ]
    if [ "$n" = 0 ]; then
        check "$name: the client got no session to resume" [ ! -e "$T/sess.pem" ]
    else
        check "$name: the session resumes" \
            [ "$(s_reused $PROXY_PORT -tls1_3 -sess_in "$T/sess.pem")" = "Reused, TLSv1.3" ]
        check "$name: resumed, data after the ticket decrypts" \
            [ "$(s_get $PROXY_PORT -tls1_3 -sess_in "$T/sess.pem")" = "$small_sha" ]
    fi
    check "$name: daemon stops cleanly" stop_proxy
done

# ---- a fleet: A and B share a key file, C has its own ----
# Short, to see mbedTLS's key lifetime pass; but a ticket is valid for no
# longer either, and under the VM's emulation starting openssl twice can
# take longer than 3 s.
if [ "$IN_VM" = 1 ]; then LIFETIME=15; else LIFETIME=3; fi
openssl rand -base64 36 >"$T/keys"
openssl rand -base64 36 >>"$T/keys"
openssl rand -base64 36 >"$T/other-keys"
start_instance() { # NAME PORT KEYFILE
    write_config "$T/$1.ini" "$2" "1.2 1.3" "AES-128-GCM" "ticket_key_file = $3" \
        "ticket_lifetime = ${LIFETIME}s"
    start_proxy "$T/$1.ini" && eval "pid_$1=\$proxy_pid"
}
start_instance A $PROXY_PORT "$T/keys" || not_ok "fleet: A starts"
start_instance B $B_PORT "$T/keys" || not_ok "fleet: B starts"
start_instance C $C_PORT "$T/other-keys" || not_ok "fleet: C starts"
pids+=("$pid_A" "$pid_B" "$pid_C")
fleet_case() { # VERSION_FLAG WHEN
    local f=$1 when=$2
    check "fleet $f $when: session from A" [ "$(s_get $PROXY_PORT "$f" -sess_out "$T/a.pem")" = "$small_sha" ]
    check "fleet $f $when: ... resumes on B" \
        [ "$(s_reused $B_PORT "$f" -sess_in "$T/a.pem" | cut -d, -f1)" = Reused ]
    check "fleet $f $when: session from B" [ "$(s_get $B_PORT "$f" -sess_out "$T/b.pem")" = "$small_sha" ]
    check "fleet $f $when: ... resumes on A" \
        [ "$(s_reused $PROXY_PORT "$f" -sess_in "$T/b.pem" | cut -d, -f1)" = Reused ]
    check "fleet $f $when: ... and reads data there" \
        [ "$(s_get $PROXY_PORT "$f" -sess_in "$T/b.pem")" = "$small_sha" ]
    check "fleet $f $when: C (other key file) does not resume it" \
        [ "$(s_reused $C_PORT "$f" -sess_in "$T/b.pem" | cut -d, -f1)" = New ]
}
fleet_case -tls1_2 "at start"
fleet_case -tls1_3 "at start"
# Past mbedTLS's key lifetime: without the refresh, A and B would each have
# made a random key by now and stopped sharing.
sleep $((LIFETIME + 1))
fleet_case -tls1_2 "after ${LIFETIME}s+1s"
fleet_case -tls1_3 "after ${LIFETIME}s+1s"
if [ "$IN_VM" != 1 ]; then   # the same again, where it is quick
    sleep $((2 * LIFETIME + 1))
    fleet_case -tls1_3 "after 3 lifetimes"
fi
for i in A B C; do
    proxy_pid=$(eval "echo \$pid_$i")
    check "fleet: $i stops cleanly" stop_proxy
done

finish
