#!/bin/bash
# Observability: the access line, the client address in log lines, the rate
# limit on repeated warnings, and the metrics of the admin listener checked
# against known traffic (and by promtool); in the kTLS VM the pipes behind
# them: big ones for a bulk download, no more than the process's bound of them
# for many, small ones past the user's pipe budget,
# default ones where the budget has no room for a big one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18943 DOWN_PORT=18944 ADMIN_PORT=19443 BE_PORT=19441 DEAD_PORT=19442
BULK_PORT=18945 BULK_BE_PORT=19444
UP=1000 DOWN=5000 GOOD=3 BAD=4 FLOOD=50 BULK=$((4 << 20))
if [ "$IN_VM" = 1 ]; then MODE=ktls; else MODE=user; fi

echo "# access log, rate limits, metrics: ktls=$KTLS in $T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$T/ec.key" -out "$T/ec.pem" -subj /CN=ec.test \
    -addext "subjectAltName=DNS:ec.test,DNS:localhost" 2>/dev/null
mkdir -p "$T/be"
start_bg be "$KP_BACKEND" --listen 127.0.0.1:$BE_PORT --dir "$T/be" --expect $UP --send $DOWN
wait_port 127.0.0.1 $BE_PORT || exit 1
mkdir -p "$T/bulkbe"
start_bg bulkbe "$KP_BACKEND" --listen 127.0.0.1:$BULK_BE_PORT --dir "$T/bulkbe" --expect 0 \
    --send $BULK
wait_port 127.0.0.1 $BULK_BE_PORT || exit 1
head -c $UP /dev/urandom >"$T/up.bin"

write_ini() { # ADMIN_LISTEN
    global_ini 2
    cat <<EOF
log_access = yes

[frontend web]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
alpn = http/1.1
backend = be

[frontend down]
listen = 127.0.0.1:$DOWN_PORT
cert = $T/ec.pem $T/ec.key
alpn = http/1.1
backend = dead
handshake_timeout = 1s

[frontend bulk]
listen = 127.0.0.1:$BULK_PORT
cert = $T/ec.pem $T/ec.key
backend = bulkbe
# many_bulk starts 40 clients at once: under the VM's emulation their handshakes
# take longer than the default 10 s.
handshake_timeout = 120s

[backend be]
address = 127.0.0.1:$BE_PORT

[backend bulkbe]
address = 127.0.0.1:$BULK_BE_PORT

[backend dead]
address = 127.0.0.1:$DEAD_PORT

[admin]
listen = $1
EOF
}
write_ini 127.0.0.1:$ADMIN_PORT >"$T/obs.ini"
start_proxy "$T/obs.ini" || exit 1
tls_tx() { awk '$1 == "TlsTxSw" { print $2 }' /proc/net/tls_stat; }
[ "$IN_VM" = 1 ] && tx0=$(tls_tx)

# ---- known traffic ----
# A client that says nothing: its handshake times out while the rest runs.
exec {silent}<>"/dev/tcp/127.0.0.1/$DOWN_PORT"
good_clients() { # NAME: $GOOD clients upload and download, one after another
    local i
    for i in $(seq 1 $GOOD); do
        timeout 60 openssl s_client -connect 127.0.0.1:$PROXY_PORT -servername ec.test \
            -alpn http/1.1 -quiet <"$T/up.bin" >"$T/$1-$i.bin" 2>"$T/$1-$i.err"
    done
}
all_downloaded() { # NAME: every client of good_clients NAME got $DOWN bytes
    local i
    for i in $(seq 1 $GOOD); do [ "$(wc -c <"$T/$1-$i.bin")" = $DOWN ] || return 1; done
}
good_clients down
bad_handshakes() { # N: clients that speak no TLS, all at once, each until the proxy closes
    local i fd fds=()
    for i in $(seq 1 "$1"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$PROXY_PORT" && fds+=("$fd")
        printf 'GET / HTTP/1.0\r\n\r\n' >&"$fd"
    done
    for fd in "${fds[@]}"; do
        while read -r -t 10 -u "$fd" _; do :; done
        exec {fd}>&-
    done
} 2>/dev/null
bad_handshakes $BAD
# One client that connects and leaves without a word.
(exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT")
got_503=$(timeout 30 curl -sk -o /dev/null -w '%{http_code} %{local_port}' \
    "https://localhost:$DOWN_PORT/")
check "curl gets a 503 when the backend is down" [ "${got_503% *}" = 503 ]

metrics() { timeout 10 curl -sS "http://127.0.0.1:$ADMIN_PORT/metrics"; }
value() { # METRIC{LABELS}: its value in $T/metrics.txt (0 if absent)
    awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }' "$T/metrics.txt"
}
# The proxy sees the last close a moment after the client, and the silent
# client times out after 1 s: wait for both.
all_closed() {
    local i
    for i in $(seq 1 50); do
        metrics >"$T/metrics.txt"
        [ "$(value 'ktlsproxy_connections_open{frontend="web"}')" = 0 ] &&
            [ "$(value 'ktlsproxy_connections_open{frontend="down"}')" = 0 ] && return
        sleep 0.1
    done
}
all_closed

# ---- the access line ----
check "$GOOD clients downloaded $DOWN bytes each" all_downloaded down
good_re="access: client=127\.0\.0\.1:[0-9]+ frontend=web sni=ec\.test alpn=http/1\.1 version=TLSv1\.[23] cipher=[A-Z0-9_-]+ tls=$MODE backend=be bytes_in=$UP bytes_out=$DOWN handshake_ms=[0-9.]+ duration_ms=[0-9.]+ end=\"done\""
check "one complete access line per good connection (tls=$MODE)" \
    [ "$(grep -cE "$good_re" "$T/proxy.log")" = $GOOD ]
check "the 503 access line names the client port, backend and end" \
    grep -qE "access: client=127\.0\.0\.1:${got_503#* } frontend=down sni=localhost alpn=http/1\.1 .* backend=dead bytes_in=0 bytes_out=0 .* end=\"backend unavailable, reply sent\"" "$T/proxy.log"
check "a failed handshake has an access line too" \
    grep -qE 'access: client=127\.0\.0\.1:[0-9]+ frontend=web sni=- alpn=- version=- cipher=- tls=- backend=- .* end="handshake failed' "$T/proxy.log"
check "warnings name the client" \
    grep -qE "warning: frontend down: backend dead unavailable: .* \(client 127\.0\.0\.1:${got_503#* }\)$" "$T/proxy.log"

# ---- metrics against the traffic ----
handshakes=$(awk '/^ktlsproxy_handshakes_total\{/ { s += $2 } END { print s + 0 }' "$T/metrics.txt")
check "connections_total{web} = $((GOOD + BAD + 1))" \
    [ "$(value 'ktlsproxy_connections_total{frontend="web"}')" = $((GOOD + BAD + 1)) ]
check "connections_total{down} = 2" [ "$(value 'ktlsproxy_connections_total{frontend="down"}')" = 2 ]
check "connections_open{web} = 0 at the end" [ "$(value 'ktlsproxy_connections_open{frontend="web"}')" = 0 ]
check "handshakes_total sums to $((GOOD + 1))" [ "$handshakes" = $((GOOD + 1)) ]
check "handshake_failures_total{protocol} = $BAD" \
    [ "$(value 'ktlsproxy_handshake_failures_total{reason="protocol"}')" = $BAD ]
check "handshake_failures_total{closed} = 1" \
    [ "$(value 'ktlsproxy_handshake_failures_total{reason="closed"}')" = 1 ]
check "handshake_failures_total{timeout} = 1" \
    [ "$(value 'ktlsproxy_handshake_failures_total{reason="timeout"}')" = 1 ]
check "the silent client's access line says handshake timeout" \
    grep -qE 'access: client=127\.0\.0\.1:[0-9]+ frontend=down sni=- .* end="handshake timeout"$' "$T/proxy.log"
exec {silent}>&-
check "tls_connections_total{$MODE} = $((GOOD + 1))" \
    [ "$(value "ktlsproxy_tls_connections_total{mode=\"$MODE\"}")" = $((GOOD + 1)) ]
if [ "$IN_VM" = 1 ]; then
    check "the kernel took $((GOOD + 1)) connections (tls_stat TlsTxSw)" [ $(($(tls_tx) - tx0)) = $((GOOD + 1)) ]
fi
check "payload bytes client_to_backend = $((GOOD * UP))" \
    [ "$(value 'ktlsproxy_payload_bytes_total{direction="client_to_backend"}')" = $((GOOD * UP)) ]
check "payload bytes backend_to_client = $((GOOD * DOWN))" \
    [ "$(value 'ktlsproxy_payload_bytes_total{direction="backend_to_client"}')" = $((GOOD * DOWN)) ]
check "backend_connect_failures_total = 1" [ "$(value ktlsproxy_backend_connect_failures_total)" = 1 ]
check "unavailable_replies_total = 1" [ "$(value ktlsproxy_unavailable_replies_total)" = 1 ]
check "reloads_total{success} = 0" [ "$(value 'ktlsproxy_reloads_total{result="success"}')" = 0 ]
check "build_info names the mbedTLS version" \
    grep -qE '^ktlsproxy_build_info\{version="[^"]+",mbedtls="[0-9]+\.[0-9]+\.[0-9]+"\} 1$' "$T/metrics.txt"

# ---- big pipes for bulk transfers (kTLS VM) ----
BULK_SHA=$("$KP_BACKEND" --gen $BULK | sha)
bulk_client() { # SECONDS NAME: a client of frontend bulk, the download on stdout
    timeout "$1" openssl s_client -connect 127.0.0.1:$BULK_PORT -servername ec.test -quiet \
        </dev/null 2>"$T/$2.err"
}
bulk_intact() { [ "$(sha <"$T/$1.bin")" = "$BULK_SHA" ]; } # NAME
# bulk_download NAME: one client downloads $BULK bytes through frontend bulk;
# true if they arrived intact.
bulk_download() {
    bulk_client 120 "$1" >"$T/$1.bin"
    bulk_intact "$1"
}
# The responses of $DOWN bytes took no big pipe; a download of $BULK bytes
# grows its pipe after the first fill (pipe_pool.h): one splice then moves
# more than the 64 KiB a default pipe holds, and the big pipe waits in the
# pool afterwards.
big_pipes() {
    check "big pipes: none for responses of $DOWN bytes (pipes_big_open = 0)" \
        [ "$(value ktlsproxy_pipes_big_open)" = 0 ]
    trace_start "$T/bulk.strace" splice
    check "big pipes: a client downloaded $BULK bytes intact" bulk_download bulk
    trace_stop
    metrics >"$T/metrics.txt"
    local most
    most=$(sed -nE 's/^.*splice\(.*\) = ([0-9]+)$/\1/p' "$T/bulk.strace" | sort -n | tail -1)
    echo "# big pipes: the largest splice moved ${most:-no} bytes"
    check "big pipes: one splice moved more than 64 KiB" [ "${most:-0}" -gt 65536 ]
    check "big pipes: the download's big pipe waits in the pool (pipes_big_open >= 1)" \
        [ "$(value ktlsproxy_pipes_big_open)" -ge 1 ]
}

# ---- more bulk transfers than big pipes (kTLS VM) ----
# The process keeps at most 32 big pipes (PIPE_BIG_MAX, pipe_pool.h).  $MANY
# clients stop reading in mid-download (each behind a reader blocked in the
# open of the FIFO $T/go until the test opens it for writing; readers that
# polled for a file kept the emulated VM busy spawning sleeps, and CI once
# read "32 32 32 32 0": most likely a metrics fetch that timed out, read as
# 0; a failed fetch now says so), so every transfer holds its pipe at once: 32 of them big, the rest of the default size, and every
# download arrives intact when the readers go on.  Socket buffers are held at
# 64 KiB meanwhile, or a stalled client's autotuned buffers would take in all
# $BULK bytes and hand the pipe back.
MANY=40
stalled_download() { # N: download $BULK bytes, reading only once $T/go is opened
    bulk_client 300 "many$1" | { cat "$T/go" >/dev/null; cat >"$T/many$1.bin"; }
}
# at_bound SAMPLE...: every sample read is 32, and at least 3 of them were read
at_bound() {
    local v n=0
    for v; do
        [ "$v" = fetch-failed ] && continue
        [ "$v" = 32 ] || return 1
        n=$((n + 1))
    done
    [ $n -ge 3 ]
}
# big_open_sample: pipes_big_open now, or "fetch-failed" (never a 0 that was not read)
big_open_sample() {
    metrics >"$T/metrics.txt" && grep -q '^ktlsproxy_pipes_big_open ' "$T/metrics.txt" &&
        value ktlsproxy_pipes_big_open && return
    echo fetch-failed
}
big_pipes_held() { # $MANY connections open and the bound reached, or give up after 120 s
    local end=$((SECONDS + 120))
    while [ $SECONDS -lt $end ]; do
        metrics >"$T/metrics.txt"
        [ "$(value 'ktlsproxy_connections_open{frontend="bulk"}')" -ge $MANY ] &&
            [ "$(value ktlsproxy_pipes_big_open)" -ge 32 ] && return 0
        sleep 0.5
    done
    echo "# gave up after 120 s: connections_open $(value 'ktlsproxy_connections_open{frontend="bulk"}')," \
        "pipes_open $(value ktlsproxy_pipes_open), pipes_big_open $(value ktlsproxy_pipes_big_open)"
    return 1
}
all_intact() {
    local i
    for i in $(seq 1 $MANY); do
        bulk_intact "many$i" ||
            { echo "# download $i: $(wc -c <"$T/many$i.bin") bytes, not intact"; return 1; }
    done
}
many_bulk() {
    local rmem wmem i pids=() seen=
    rmem=$(sysctl -n net.ipv4.tcp_rmem) wmem=$(sysctl -n net.ipv4.tcp_wmem)
    sysctl -q -w net.ipv4.tcp_rmem="4096 65536 65536" net.ipv4.tcp_wmem="4096 65536 65536"
    rm -f "$T/go"
    mkfifo "$T/go"
    for i in $(seq 1 $MANY); do
        stalled_download $i &
        pids+=($!)
    done
    # None can finish before $T/go: $BULK bytes do not fit in the buffers.
    check "$MANY bulk transfers under way at once, 32 big pipes in use" big_pipes_held
    for i in 1 2 3 4 5; do
        seen+=" $(big_open_sample)"
        sleep 0.2
    done
    echo "# $MANY stalled transfers: pipes_big_open$seen"
    check "big pipes: pipes_big_open stays at the bound, 32, while $MANY transfers wait" \
        at_bound $seen
    # Every reader is blocked in its open of the FIFO: this open releases them all.
    timeout 60 sh -c ': >"$1"' _ "$T/go" || echo "# no reader opened $T/go within 60 s"
    wait "${pids[@]}"
    sysctl -q -w net.ipv4.tcp_rmem="$rmem" net.ipv4.tcp_wmem="$wmem"
    check "big pipes: all $MANY downloads of $BULK bytes intact" all_intact
    metrics >"$T/metrics.txt"
    check "big pipes: at most 8 idle per worker afterwards (2 workers)" \
        [ "$(value ktlsproxy_pipes_big_open)" -le 16 ]
}

# ---- a user past fs.pipe-user-pages-soft (kTLS VM) ----
# Linux then makes every new pipe of that user 2 pages instead of 16, which
# costs CPU per byte spliced; the daemon must still move every byte, say so
# with the fix, count it, and not keep such pipes in its pool.  As nobody,
# with the soft limit at 1 page, every pipe is such a pipe.
# as_nobody PAGES CMD...: run CMD with the daemon started as nobody and
# fs.pipe-user-pages-soft at PAGES, restored afterwards (CMD does not run if
# the daemon did not start; the checks after it then fail).
as_nobody() {
    local soft
    soft=$(cat /proc/sys/fs/pipe-user-pages-soft)
    sed 's/^user = root$/user = nobody/' "$T/obs.ini" >"$T/obs-nobody.ini"
    echo "$1" >/proc/sys/fs/pipe-user-pages-soft
    shift
    start_proxy "$T/obs-nobody.ini" && "$@"
    echo "$soft" >/proc/sys/fs/pipe-user-pages-soft
}
small_clients() { good_clients small; all_closed; }
pipe_budget_spent() {
    as_nobody 1 small_clients
    echo "# as nobody past the pipe budget: $(grep -c 'splice pipes got' "$T/proxy.log") warnings"
    check "small pipes: $GOOD clients downloaded $DOWN bytes each" all_downloaded small
    check "small pipes: counted in pipes_undersized_total" \
        [ "$(value ktlsproxy_pipes_undersized_total)" -ge $GOOD ]
    check "small pipes: not kept in the pool (pipes_open = 0)" [ "$(value ktlsproxy_pipes_open)" = 0 ]
    check "small pipes: a warning with the sysctl to raise" grep -qE \
        'warning: new splice pipes got [0-9]+ bytes, not [0-9]+ \([0-9]+ since the last warning\): uid [0-9]+ is past fs\.pipe-user-pages-soft' \
        "$T/proxy.log"
    check "small pipes: warned once a minute per worker, not per pipe (2 workers)" \
        [ "$(grep -c 'new splice pipes got' "$T/proxy.log")" -le 2 ]
    check "small pipes: daemon stops cleanly" stop_proxy
}
# With room for a few default pipes (40 pages) but not for a big one, the
# kernel refuses to grow a pipe (EPERM): the download goes on through the
# default pipe.
refused_download() {
    check "big pipe refused: the download arrived intact" bulk_download refused
    metrics >"$T/metrics.txt"
}
big_pipe_refused() {
    as_nobody 40 refused_download
    check "big pipe refused: pipes_big_open = 0" [ "$(value ktlsproxy_pipes_big_open)" = 0 ]
    check "big pipe refused: pipes_undersized_total = 0" \
        [ "$(value ktlsproxy_pipes_undersized_total)" = 0 ]
    check "big pipe refused: daemon stops cleanly" stop_proxy
}

# The rest does not depend on kTLS: host only (under the VM's emulation it
# would cost a minute).
if [ "$IN_VM" = 1 ]; then
    check "pipes_undersized_total = 0 (root has no pipe budget)" \
        [ "$(value ktlsproxy_pipes_undersized_total)" = 0 ]
    check "pipes_open: the spliced transfers left pipes in the pool" \
        [ "$(value ktlsproxy_pipes_open)" -ge 1 ]
    big_pipes
    many_bulk
    check "daemon stops cleanly" stop_proxy
    pipe_budget_spent
    big_pipe_refused
    finish
    exit
fi
check "promtool check metrics accepts the exposition" promtool check metrics <"$T/metrics.txt"

# ---- the admin responder refuses what it does not serve ----
status() { # CURL_ARGS...: the status code
    timeout 10 curl -s -o /dev/null -w '%{http_code}' "$@"
}
check "admin: POST gets 405" [ "$(status -X POST "http://127.0.0.1:$ADMIN_PORT/metrics")" = 405 ]
check "admin: another path gets 404" [ "$(status "http://127.0.0.1:$ADMIN_PORT/")" = 404 ]
check "admin: a huge request gets 431" \
    [ "$(status -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' x)" "http://127.0.0.1:$ADMIN_PORT/metrics")" = 431 ]
check "admin: HEAD gets 200 and no body" \
    [ "$(timeout 10 curl -s -I "http://127.0.0.1:$ADMIN_PORT/metrics" | head -1 | tr -d '\r')" = "HTTP/1.0 200 OK" ]

# ---- a flood of bad handshakes is rate-limited ----
# Every bad handshake is one event of the "handshake" cause: those shown plus
# those reported as suppressed must add up, and most must be suppressed.
t0=$EPOCHREALTIME
bad_handshakes $FLOOD
# The flood touches at most int(seconds) + 2 one-second windows of 10 lines.
max_shown=$(awk -v a="$t0" -v b="$EPOCHREALTIME" -v other=$((BAD + 1 + 1)) \
    'BEGIN { print other + 10 * (int(b - a) + 2) }')
sleep 1.1
bad_handshakes 1 # reports what the last second suppressed
sleep 0.2
shown=$(grep -cE 'info: frontend web: handshake failed: .* \(client 127\.0\.0\.1:[0-9]+\)$' "$T/proxy.log")
suppressed=$(grep -oE 'suppressed [0-9]+ similar messages \(handshake\)' "$T/proxy.log" |
    awk '{ s += $2 } END { print s + 0 }')
echo "# bad handshakes: $((BAD + 1 + FLOOD + 1)), lines shown $shown, reported suppressed $suppressed"
check "flood: shown + suppressed = every bad handshake" [ $((shown + suppressed)) = $((BAD + 1 + FLOOD + 1)) ]
check "flood: at most $max_shown lines shown" [ "$shown" -le "$max_shown" ]
metrics >"$T/metrics.txt"
check "handshake_failures_total{protocol} counts the flood" \
    [ "$(value 'ktlsproxy_handshake_failures_total{reason="protocol"}')" = $((BAD + FLOOD + 1)) ]
check "daemon stops cleanly" stop_proxy

# ---- a unix socket admin listener ----
write_ini "unix:$T/admin.sock" >"$T/obs-unix.ini"
start_proxy "$T/obs-unix.ini" || exit 1
check "admin on a unix socket serves /metrics" \
    grep -q '^ktlsproxy_build_info' <(timeout 10 curl -sS --unix-socket "$T/admin.sock" http://x/metrics)
check "daemon with a unix admin socket stops cleanly" stop_proxy
check "the unix admin socket is removed at exit" [ ! -e "$T/admin.sock" ]

# ---- log = auto (the default): stderr, unless stderr is /dev/null ----
# Under strace, to see whether the daemon connects to syslog's /dev/log.
run_auto() { # STDERR_FILE
    rm -f "$T"/st.*
    strace -ff -qq -e trace=connect -o "$T/st" "$KTLSPROXY" -c "$T/obs-unix.ini" 2>"$1" &
    local strace_pid=$! daemon=""
    wait_port 127.0.0.1 $PROXY_PORT || return 1
    daemon=$(ps -o pid= --ppid $strace_pid | tr -d ' ')
    kill -TERM "$daemon" && wait $strace_pid
}
syslog_connects() { cat "$T"/st.* | grep -c 'sun_path="/dev/log"'; }
run_auto "$T/auto.log"
check "log = auto with stderr on a file: no syslog" [ "$(syslog_connects)" = 0 ]
check "log = auto with stderr on a file: logs there" grep -q 'notice: started' "$T/auto.log"
run_auto /dev/null
check "log = auto with stderr on /dev/null: syslog" [ "$(syslog_connects)" -ge 1 ]
finish
