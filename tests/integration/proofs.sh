#!/bin/bash
# Two proofs about the daemon's promises, on live connections:
#
# A) Keys are gone.  Once a connection is handed to kTLS, no copy of its TLS
#    1.3 traffic secrets, keys, IVs and IV parts (TLS 1.2: master secret, and
#    each key and IV of the key block) is left anywhere in the daemon's
#    writable memory (tests/tools/keyscan.py reads all of it).
#    On the host there is no kTLS: the connection stays in mbedTLS, which must
#    still hold the keys, and the same scan must find them; that proves the
#    scan would see a leak.
# B) Payload moves only by splice (kTLS VM only): while 64 MiB cross the
#    daemon, strace shows splice calls moving bytes and no read/write/recv/send
#    call that moves a payload-sized (>= 64 bytes) buffer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18643
HOLD_PORT=19201 BULK_PORT=19202 DOWN_PORT=19209
BULK=${KP_BULK_BYTES:-$((64 * 1024 * 1024))}
KEYSCAN=$top_srcdir/tests/tools/keyscan.py

echo "# proofs: ktls=$KTLS in $T"
make_certs
mkdir -p "$T/raw" "$T/bulk"

# write_config FILE BACKEND_PORT
write_config() {
    global_ini 2 >"$1"
    cat >>"$1" <<EOF
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
tls_versions = 1.2 1.3
ciphers = AES-128-GCM AES-256-GCM CHACHA20-POLY1305
backend = b

[backend b]
address = 127.0.0.1:$2
EOF
}

# wait_for FILE PATTERN: up to 10 s for PATTERN to appear in FILE.
wait_for() {
    local i
    for i in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "# no '$2' in $1" >&2
    return 1
}

# ---- A) keys are gone ----

# scan_case NAME OSSL_VERSION_FLAG OSSL_CIPHER_FLAG SUITE LOG_VERSION
# Holds one connection open (stdin from a fifo, the backend waits for more
# bytes than it gets), then scans the daemon for its secrets.
scan_case() {
    local name=$1 keys=$T/keys-$1.log fifo=$T/in-$1 hs0
    hs0=$(grep -c "frontend f: TLSv$5 $4 " "$T/proxy.log")
    mkfifo "$fifo"
    openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet "$2" "$3" "$4" \
        -keylogfile "$keys" -msg -msgfile "$T/msg-$name.txt" <"$fifo" >"$T/client-$name.out" 2>"$T/client-$name.err" &
    local client=$!
    pids+=("$client")
    exec 3>"$fifo"
    printf 'hello through %s\n' "$name" >&3
    # The handshake is done once the daemon logs it; the hand-off follows in
    # the same callback, and the backend connect right after.  One more second
    # for good measure.
    local up=0
    wait_for "$keys" '_TRAFFIC_SECRET_0\|CLIENT_RANDOM' && wait_for "$T/proxy.log" "frontend f: TLSv$5 $4 " &&
        [ "$(grep -c "frontend f: TLSv$5 $4 " "$T/proxy.log")" -gt "$hs0" ] && up=1
    sleep 1
    check "$name: the connection is up and negotiated $4" [ "$up" = 1 ]
    kill -0 "$client" 2>/dev/null || echo "# s_client already gone: $(cat "$T/client-$name.err")"

    local st=0
    if [ "$IN_VM" = 1 ]; then
        "$PYTHON" "$KEYSCAN" --pid "$proxy_pid" --keylog "$keys" --suite "$4" \
            --server-hello "$T/msg-$name.txt" >"$T/scan-$name.txt" 2>&1 || st=$?
        sed 's/^/# /' "$T/scan-$name.txt"
        check "$name: kTLS: no secret, key or IV of the live connection in the daemon's memory" [ "$st" = 0 ]
    else
        "$PYTHON" "$KEYSCAN" --pid "$proxy_pid" --keylog "$keys" --suite "$4" --expect-found \
            --server-hello "$T/msg-$name.txt" >"$T/scan-$name.txt" 2>&1 || st=$?
        sed 's/^/# /' "$T/scan-$name.txt"
        check "$name: user-space fallback: the scan finds the live keys (the scan works)" [ "$st" = 0 ]
    fi
    check "$name: the scan searched the derived keys and IVs, not only the secrets" \
        grep -q '^server write key' "$T/scan-$name.txt"
    exec 3>&-
    kill "$client" 2>/dev/null
    wait "$client" 2>/dev/null
}

start_bg hold "$KP_BACKEND" --listen 127.0.0.1:$HOLD_PORT --dir "$T/raw" --expect $((1 << 30))
wait_port 127.0.0.1 $HOLD_PORT || exit 1
write_config "$T/hold.ini" $HOLD_PORT
if start_proxy "$T/hold.ini"; then
    # TLS 1.3: traffic secrets, keys, IVs and their parts.  TLS 1.2: the
    # master secret and the key block's keys and IVs (the server random comes
    # from s_client's -msg output).
    scan_case tls13 -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 1.3
    scan_case tls12 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 1.2
    scan_case tls12-chacha -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 1.2
    check "A: daemon stops cleanly" stop_proxy
else
    not_ok "A: daemon starts"
fi

# ---- B) payload only by splice ----

# strace_summary FILE: "SPLICED BIG", the bytes splice moved and the count of
# read/write/recv*/send* calls that moved >= 64 bytes on any fd but 2 (the
# log).  Calls interrupted by another thread's call show up as
# "NAME(fd, ... <unfinished ...>" and later "<... NAME resumed>...) = N".
strace_summary() {
    awk '
    {
        pid = $1; line = $0; sub(/^[0-9]+ +/, "", line)
        if (line ~ /<unfinished \.\.\.>$/) {
            name[pid] = line; sub(/\(.*/, "", name[pid])
            fd[pid] = line; sub(/^[a-z0-9_]+\(/, "", fd[pid]); sub(/,.*/, "", fd[pid])
            next
        }
        if (line ~ /^<\.\.\. [a-z0-9_]+ resumed>/) {
            n = name[pid]; f = fd[pid]
        } else if (line ~ /^[a-z0-9_]+\(/) {
            n = line; sub(/\(.*/, "", n)
            f = line; sub(/^[a-z0-9_]+\(/, "", f); sub(/,.*/, "", f)
        } else {
            next
        }
        if (!match(line, / = -?[0-9]+/))
            next
        res = substr(line, RSTART + 3, RLENGTH - 3) + 0
        if (n == "splice" || n == "sendfile") {
            if (res > 0) spliced += res
        } else if (f != "2" && res >= 64) {
            big++
            print "# payload-sized " line > "/dev/stderr"
        }
    }
    END { printf "%d %d\n", spliced, big }' "$1"
}

if [ "$IN_VM" != 1 ]; then
    echo "ok - B: payload only by splice # SKIP no kTLS on this host (run under tests/vm/run)"
else
    head -c "$BULK" /dev/urandom >"$T/upload.bin"
    up_sha=$(sha <"$T/upload.bin")
    down_sha=$("$KP_BACKEND" --gen "$BULK" | sha)
    start_bg bulk "$KP_BACKEND" --listen 127.0.0.1:$BULK_PORT --dir "$T/bulk" --expect "$BULK" --send "$BULK"
    wait_port 127.0.0.1 $BULK_PORT || exit 1
    write_config "$T/bulk.ini" $BULK_PORT
    if start_proxy "$T/bulk.ini"; then
        (timeout 300 openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet -tls1_3 \
            <"$T/upload.bin" 2>"$T/bulk-client.err" | sha >"$T/bulk-client.sha") &
        bulk_client=$!
        pids+=("$bulk_client")
        # Trace only after the handshake (its records go by send/recv): the
        # daemon logs the handshake right before handing the keys over.
        for i in $(seq 1 300); do grep -q "frontend f: TLSv1.3" "$T/proxy.log" && break; sleep 0.1; done
        sleep 0.5
        timeout -s INT 3 strace -f -qq -p "$proxy_pid" \
            -e trace=read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,splice,sendfile \
            -o "$T/strace.txt" 2>"$T/strace.err"
        wait "$bulk_client"
        # No process substitution: the VM has no /dev/fd.
        summary=$(strace_summary "$T/strace.txt")
        spliced=${summary% *} big=${summary#* }
        echo "# strace: $(wc -l <"$T/strace.txt") lines, splice moved $spliced bytes, $big payload-sized read/write calls"
        check "B: the transfer was still running while traced (splice moved $spliced > 0 bytes)" [ "$spliced" -gt 0 ]
        check "B: no read/write/recv/send call moved >= 64 bytes ($big did)" [ "$big" -eq 0 ]
        check "B: s_client downloaded $BULK bytes intact" [ "$(cat "$T/bulk-client.sha")" = "$down_sha" ]
        # The newest record: wait_port's probe connection left an empty one.
        check "B: the backend got the upload intact" \
            [ "$(cat "$(ls -t "$T"/bulk/conn-*.txt | head -1)")" = "$BULK $up_sha" ]
        check "B: daemon stops cleanly" stop_proxy
    else
        not_ok "B: daemon starts"
    fi
fi

# ---- C) the 503 page goes out by sendfile() over kTLS ----
if [ "$IN_VM" != 1 ]; then
    echo "ok - C: 503 page by sendfile # SKIP no kTLS on this host (run under tests/vm/run)"
else
    global_ini 1 >"$T/down.ini"
    cat >>"$T/down.ini" <<EOF
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
alpn = http/1.1
backend = down

[backend down]
address = 127.0.0.1:$DOWN_PORT
EOF
    if start_proxy "$T/down.ini"; then
        trace_start "$T/strace-503.txt" write,writev,sendto,sendmsg,sendfile,splice
        size=$(curl -sk --http1.1 --max-time 60 -o "$T/503.body" \
            -w '%{http_code} %{size_header} %{size_download}' "https://localhost:$PROXY_PORT/")
        trace_stop
        set -- $size
        page=$(($2 + $3))
        echo "# curl: $size; sendfile calls: $(grep -c sendfile "$T/strace-503.txt")"
        check "C: the client got the 503 page" [ "$1" = 503 ]
        check "C: the whole page ($page bytes) went out in sendfile()" \
            grep -qE "sendfile\(.*\) = $page\$" "$T/strace-503.txt"
        # The handshake records go out by sendto(); the page's plaintext must
        # not appear in any write or send call (strace shows buffers' start).
        check "C: no write/send call carried the page's plaintext" \
            eval "! grep -qE '(write|writev|sendto|sendmsg)\\(.*HTTP/1.1 503' '$T/strace-503.txt'"
        check "C: daemon stops cleanly" stop_proxy
    else
        not_ok "C: daemon starts"
    fi
fi

finish
