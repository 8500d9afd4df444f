#!/bin/bash
# The integration suite: the real daemon between real clients (openssl
# s_client, gnutls-cli, curl, nghttp) and real backends (kp_backend, busybox
# httpd, nghttpd --no-tls).
#
# On the host (no kTLS) it runs with ktls = auto, the user-space fallback.
# Inside the kTLS VM (KP_VM_GUEST=1) it runs with ktls = required and also
# proves that the kernel did the crypto (/proc/net/tls_stat), that payload
# moved only by splice/sendfile (strace) and that no key survived the
# hand-off (memory scan).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

BULK=${KP_BULK_BYTES:-$((64 * 1024 * 1024))}   # per direction, per version x cipher
HTTP_BYTES=${KP_HTTP_BYTES:-$((4 * 1024 * 1024))}
RAW_PORT=19000 WEB_PORT=19080 H2C_PORT=19081 DOWN_PORT=19099

echo "# integration suite: ktls=$KTLS bulk=$BULK bytes in $T"
make_certs
mkdir -p "$T/www" "$T/raw"
head -c "$HTTP_BYTES" /dev/urandom >"$T/www/file.bin"
http_sha=$(sha <"$T/www/file.bin")
head -c "$BULK" /dev/urandom >"$T/upload.bin"
up_sha=$(sha <"$T/upload.bin")
down_sha=$("$KP_BACKEND" --gen "$BULK" | sha)

start_bg raw "$KP_BACKEND" --listen 127.0.0.1:$RAW_PORT --dir "$T/raw" --expect "$BULK" --send "$BULK"
start_bg web busybox httpd -f -p 127.0.0.1:$WEB_PORT -h "$T/www"
start_bg h2c nghttpd --no-tls -a 127.0.0.1 -d "$T/www" $H2C_PORT
wait_port 127.0.0.1 $RAW_PORT && wait_port 127.0.0.1 $WEB_PORT && wait_port 127.0.0.1 $H2C_PORT || exit 1

# write_config FILE TLS_VERSIONS CIPHERS [RAW_BACKEND_ADDRESS]
write_config() {
    global_ini 2 >"$1"
    cat >>"$1" <<EOF
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
cert = $T/rsa.pem $T/rsa.key
tls_versions = $2
ciphers = $3
alpn = h2 http/1.1
backend = raw
route = alpn:h2 h2c
route = alpn:http/1.1 web

[backend raw]
address = ${4:-127.0.0.1:$RAW_PORT}

[backend web]
address = 127.0.0.1:$WEB_PORT

[backend h2c]
address = 127.0.0.1:$H2C_PORT
http2 = yes
EOF
}


# ---- clients ----
# Both clients keep reading after their stdin ends (s_client: -quiet implies
# -ign_eof), until the backend has sent everything and closed.
BULK_TIMEOUT=${KP_BULK_TIMEOUT:-300}   # seconds per bulk client
# bulk NAME CMD...: CMD uploads upload.bin and downloads BULK bytes.  Keeps
# the evidence in $T/NAME.*: .err (client's stderr), .sha (of what it
# received), .result ("EXIT_STATUS SECONDS BYTES_RECEIVED").
bulk() {
    local name=$1 t0 st
    shift
    t0=$(date +%s)
    timeout $BULK_TIMEOUT "$@" <"$T/upload.bin" 2>"$T/$name.err" |
        dd bs=65536 2>"$T/$name.dd" | sha >"$T/$name.sha"
    st=${PIPESTATUS[0]}
    echo "$st $(($(date +%s) - t0)) $(sed -n 's/^\([0-9]*\) bytes.*/\1/p' "$T/$name.dd")" >"$T/$name.result"
}
# bulk_intact NAME [LOG]: NAME's download was complete and intact; else say
# whether it was a timeout, a short transfer or corruption, with the evidence.
bulk_intact() {
    local st secs bytes got why
    read -r st secs bytes <"$T/$1.result"
    got=$(cat "$T/$1.sha")
    [ "$got" = "$down_sha" ] && [ "$bytes" = "$BULK" ] && return 0
    if [ "$st" = 124 ]; then
        why="TIMEOUT: killed after $secs s (limit $BULK_TIMEOUT s)"
    elif [ "${bytes:-0}" = "$BULK" ]; then
        why="CORRUPTION: all $BULK bytes arrived but differ (client exit $st after $secs s)"
    else
        why="SHORT: the client ended by itself (exit $st) after $secs s"
    fi
    echo "# $1: $why; received ${bytes:-0} of $BULK bytes; sha expected $down_sha, got $got"
    echo "# $1: the client's stderr${2:+ and $2} (tail):"
    tail -n 15 "$T/$1.err" ${2:+"$2"} 2>&1 | sed 's/^/#   /'
    echo "# $1: the daemon's log (tail):"
    tail -n 15 "$T/proxy.log" | sed 's/^/#   /'
    return 1
}
s_client_bulk() { # NAME VERSION_FLAG: upload BULK, download BULK
    bulk "$1" openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet "$2"
}
gnutls_bulk() { # NAME PRIORITY
    bulk "$1" gnutls-cli --insecure --logfile="$T/$1.log" --priority "$2" \
        --port $PROXY_PORT 127.0.0.1
}
last_raw_result() { # the newest "BYTES SHA" the raw backend recorded
    cat "$(ls -t "$T"/raw/conn-*.txt | head -1)"
}
# upload_intact: the backend recorded all of the upload; else show what it got.
upload_intact() {
    local got
    got=$(last_raw_result)
    [ "$got" = "$BULK $up_sha" ] && return 0
    echo "# the backend recorded '$got', expected '$BULK $up_sha'"
    return 1
}
curl_get() { # extra curl args...
    timeout 120 curl -sS --insecure "$@" "https://localhost:$PROXY_PORT/file.bin" | sha
}
nghttp_get() {
    timeout 120 nghttp -n -s "https://localhost:$PROXY_PORT/file.bin" >/dev/null 2>&1 &&
        timeout 120 nghttp "https://localhost:$PROXY_PORT/file.bin" 2>/dev/null | sha
}

# ---- the matrix: TLS 1.2 and 1.3 x the three AEADs, every client ----
matrix_case() { # VERSION CIPHER OSSL_FLAG OSSL_SUITE GNUTLS_VERS GNUTLS_CIPHER
    local v=$1 c=$2 name="TLS $1 $2"
    write_config "$T/m.ini" "$v" "$c"
    [ -f "$T/proxy.log" ] && cp "$T/proxy.log" "$T/proxy-before-$v-$c.log"   # start_proxy truncates it
    start_proxy "$T/m.ini" || { not_ok "$name: daemon starts"; return; }
    local tx0 rx0
    [ "$IN_VM" = 1 ] && tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)

    s_client_bulk "s_client-$v-$c" "$3"
    check "$name: openssl s_client downloads $BULK bytes intact" bulk_intact "s_client-$v-$c"
    check "$name: backend got the s_client upload intact" upload_intact
    gnutls_bulk "gnutls-$v-$c" "NORMAL:-VERS-ALL:+VERS-TLS$v:-CIPHER-ALL:+$6"
    check "$name: gnutls-cli downloads intact" bulk_intact "gnutls-$v-$c" "$T/gnutls-$v-$c.log"
    check "$name: backend got the gnutls-cli upload intact" upload_intact
    check "$name: curl HTTP/1.1 via busybox httpd" [ "$(curl_get --http1.1)" = "$http_sha" ]
    check "$name: curl --http2 via nghttpd h2c" [ "$(curl_get --http2)" = "$http_sha" ]
    check "$name: nghttp via nghttpd h2c" [ "$(nghttp_get)" = "$http_sha" ]
    local hs
    hs=$(grep -c "frontend f: TLSv$v $4 " "$T/proxy.log")
    check "$name: every handshake negotiated $4 ($hs)" [ "$hs" -ge 6 ]
    check "$name: no handshake negotiated anything else" \
        [ "$(grep -c 'frontend f: TLSv' "$T/proxy.log")" -eq "$hs" ]
    if [ "$IN_VM" = 1 ]; then
        dtx=$(($(tls_stat TlsTxSw) - tx0)) drx=$(($(tls_stat TlsRxSw) - rx0))
        check "$name: tls_stat TlsTxSw rose by the $hs connections (by $dtx)" [ "$dtx" -eq "$hs" ]
        check "$name: tls_stat TlsRxSw rose by the $hs connections (by $drx)" [ "$drx" -eq "$hs" ]
    fi
    check "$name: daemon stops cleanly" stop_proxy
}

matrix_case 1.2 AES-128-GCM -tls1_2 ECDHE-ECDSA-AES128-GCM-SHA256 1.2 AES-128-GCM
matrix_case 1.2 AES-256-GCM -tls1_2 ECDHE-ECDSA-AES256-GCM-SHA384 1.2 AES-256-GCM
matrix_case 1.2 CHACHA20-POLY1305 -tls1_2 ECDHE-ECDSA-CHACHA20-POLY1305 1.2 CHACHA20-POLY1305
matrix_case 1.3 AES-128-GCM -tls1_3 TLS_AES_128_GCM_SHA256 1.3 AES-128-GCM
matrix_case 1.3 AES-256-GCM -tls1_3 TLS_AES_256_GCM_SHA384 1.3 AES-256-GCM
matrix_case 1.3 CHACHA20-POLY1305 -tls1_3 TLS_CHACHA20_POLY1305_SHA256 1.3 CHACHA20-POLY1305

finish
