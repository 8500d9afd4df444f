#!/bin/bash
# A fleet behind an L4 balancer: two ktlsproxy instances on their own
# addresses (127.0.0.2 and 127.0.0.3) sharing one ticket_key_file, behind
# HAProxy in TCP mode (round robin).  A session made on one instance resumes
# on the other; data flows (over kTLS in the VM: ktls = required, and
# /proc/net/tls_stat counts every connection); a rolling key rotation, one
# instance reloaded (SIGHUP) at a time with the next key file, keeps resumption
# working at every step, and a control instance with an unrelated key does not
# resume.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

LB_PORT=18900 FLEET_PORT=18901 SMALL_PORT=19501
SMALL=4096

if ! command -v haproxy >/dev/null; then
    echo "# SKIP: haproxy not installed (contrib/install-deps installs it)"
    exit 0
fi
echo "# fleet behind haproxy: ktls=$KTLS in $T"
make_certs
mkdir -p "$T/small"
small_sha=$("$KP_BACKEND" --gen $SMALL | sha)
start_bg small "$KP_BACKEND" --listen 127.0.0.1:$SMALL_PORT --dir "$T/small" --expect 0 --send $SMALL
cat >"$T/haproxy.cfg" <<EOF
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls
    bind 127.0.0.1:$LB_PORT
    default_backend fleet
backend fleet
    balance roundrobin
    server a 127.0.0.2:$FLEET_PORT
    server b 127.0.0.3:$FLEET_PORT
EOF
start_bg haproxy haproxy -f "$T/haproxy.cfg" -db
wait_port 127.0.0.1 $SMALL_PORT && wait_port 127.0.0.1 $LB_PORT || exit 1

K1=$(openssl rand -base64 36) K2=$(openssl rand -base64 36)

# instance NAME ADDRESS KEY_LINES...: (re)start one instance with this key file.
instance() {
    local name=$1 addr=$2 pid
    shift 2
    printf '%s\n' "$@" >"$T/$name.keys"
    global_ini 1 >"$T/$name.ini"
    cat >>"$T/$name.ini" <<EOF
[frontend web]
listen = $addr:$FLEET_PORT
cert = $T/ec.pem $T/ec.key
ticket_key_file = $T/$name.keys
backend = small

[backend small]
address = 127.0.0.1:$SMALL_PORT
EOF
    pid=$(eval "echo \${pid_$name:-}")
    if [ -n "$pid" ]; then
        reload_instance "$name" "$pid"
        return
    fi
    : >"$T/$name.log"
    "$KTLSPROXY" -c "$T/$name.ini" >>"$T/$name.log" 2>&1 &
    pids+=($!)
    eval "pid_$name=$!"
    for _ in $(seq 1 200); do
        grep -q 'notice: started' "$T/$name.log" && return 0
        sleep 0.05
    done
    not_ok "instance $name starts"
}
# reload_instance NAME PID: SIGHUP, and wait until the running instance says
# it reloaded (the rolling part of a rolling key rotation: no restart).
reload_instance() {
    local n
    n=$(grep -c 'notice: reloaded' "$T/$1.log")
    kill -HUP "$2"
    for _ in $(seq 1 200); do
        [ "$(grep -c 'notice: reloaded' "$T/$1.log")" -gt "$n" ] && return 0
        sleep 0.05
    done
    not_ok "instance $1 reloads"
}
handshakes() { grep -c 'frontend web: TLSv' "$T/$1.log"; }
# via ADDRESS|lb SESSION_FLAGS...: prints Reused or New; a second
# connection (same flags) reads the data, whose SHA data_ok checks.
via() {
    local addr=$1 port=$FLEET_PORT
    shift
    [ "$addr" = lb ] && addr=127.0.0.1 port=$LB_PORT
    timeout 60 openssl s_client -connect $addr:$port -quiet "$@" </dev/null 2>/dev/null |
        sha >"$T/last.sha"
    timeout 60 openssl s_client -connect $addr:$port -ign_eof "$@" </dev/null 2>/dev/null |
        grep -a -o -m1 -E '^(Reused|New)'
}
data_ok() { [ "$(cat "$T/last.sha")" = "$small_sha" ]; }

instance a 127.0.0.2 "$K1"
instance b 127.0.0.3 "$K1"
[ "$IN_VM" = 1 ] && tx0=$(tls_stat TlsTxSw)

# Through the balancer: a full handshake, then resumptions; round robin
# sends them to both instances.
rm -f "$T/s.pem"
check "via haproxy: first connection is a full handshake" [ "$(via lb -sess_out "$T/s.pem")" = New ]
check "via haproxy: data intact" data_ok
a0=$(handshakes a) b0=$(handshakes b)
for i in 1 2 3 4; do
    check "via haproxy: connection $i resumes" [ "$(via lb -sess_in "$T/s.pem")" = Reused ]
    check "via haproxy: connection $i data intact" data_ok
done
both_served() { [ $(( $(handshakes a) - a0 )) -ge 2 ] && [ $(( $(handshakes b) - b0 )) -ge 2 ]; }
check "via haproxy: both instances served resumed sessions ($(( $(handshakes a) - a0 )) on a, $(( $(handshakes b) - b0 )) on b)" \
    both_served
if [ "$IN_VM" = 1 ]; then
    n=$(( $(handshakes a) + $(handshakes b) ))
    check "kTLS: tls_stat TlsTxSw rose by all $n connections" [ $(( $(tls_stat TlsTxSw) - tx0 )) -eq "$n" ]
fi

# cross ON FROM STEP: a session from instance FROM resumes on instance ON.
cross() {
    local from=$1 on=$2 step=$3 fa=127.0.0.2 oa=127.0.0.2
    [ "$from" = b ] && fa=127.0.0.3
    [ "$on" = b ] && oa=127.0.0.3
    rm -f "$T/x.pem"
    via $fa -sess_out "$T/x.pem" >/dev/null
    check "$step: session from $from resumes on $on" [ "$(via $oa -sess_in "$T/x.pem")" = Reused ]
    check "$step: ... data intact" data_ok
}
# Rolling rotation to K2: first every instance learns K2 as the previous
# key, then each in turn makes it current (K1 stays to decrypt).
instance b 127.0.0.3 "$K1" "$K2"
cross a b "rotation 1/4 (b: K1 K2)"
cross b a "rotation 1/4 (b: K1 K2)"
instance a 127.0.0.2 "$K1" "$K2"
cross a b "rotation 2/4 (a, b: K1 K2)"
instance a 127.0.0.2 "$K2" "$K1"
cross a b "rotation 3/4 (a: K2 K1)"
cross b a "rotation 3/4 (a: K2 K1)"
instance b 127.0.0.3 "$K2" "$K1"
cross a b "rotation 4/4 (a, b: K2 K1)"
cross b a "rotation 4/4 (a, b: K2 K1)"
# Control: an instance that does not know the key does not resume.
instance b 127.0.0.3 "$(openssl rand -base64 36)"
rm -f "$T/x.pem"
via 127.0.0.2 -sess_out "$T/x.pem" >/dev/null
check "control: b with an unrelated key does not resume a's session" \
    [ "$(via 127.0.0.3 -sess_in "$T/x.pem")" = New ]
for i in a b; do
    proxy_pid=$(eval "echo \$pid_$i")
    cp "$T/$i.log" "$T/proxy.log"
    check "instance $i stops cleanly" stop_proxy
done

finish
