#!/bin/bash
# Who the daemon runs as: root without an explicit user = root is refused (also when
# only group is set), user/group are really taken on, the process is not dumpable
# (another process of the same user cannot read its memory; root still can, for
# proofs.sh's key scan), and private key files that others can read are named in a warning.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROXY_PORT=18843 HOLD_PORT=19801
NOBODY=$(id -u nobody) NOGROUP=$(getent group nogroup | cut -d: -f3)

echo "# privileges: ktls=$KTLS in $T"
if [ "$(id -u)" != 0 ] || [ -z "$NOGROUP" ]; then
    echo "# SKIP: needs root, user nobody and group nogroup"
    exit 77
fi
make_certs
start_bg hold "$KP_BACKEND" --listen 127.0.0.1:$HOLD_PORT --dir "$T" --expect 5 --send 5
wait_port 127.0.0.1 $HOLD_PORT

# write_config FILE [GLOBAL LINES...]: global_ini without its user = root line.
write_config() {
    local f=$1
    shift
    global_ini 1 | grep -v '^user = ' >"$f"
    printf '%s\n' "$@" >>"$f"
    cat >>"$f" <<EOF
[frontend f]
listen = 127.0.0.1:$PROXY_PORT
cert = $T/ec.pem $T/ec.key
backend = b

[backend b]
address = 127.0.0.1:$HOLD_PORT
EOF
}

# as_nobody CMD...: run CMD as nobody:nogroup, a process of the daemon's user.
as_nobody() { setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups "$@"; }
# nobody_cannot_read PID: such a process cannot read PID's memory (environ is enough).
nobody_cannot_read() { ! as_nobody cat "/proc/$1/environ" >/dev/null 2>&1; }
# root_can_read PID: the first mapped page of PID, as proofs.sh's key scan reads it.
root_can_read() {
    local start
    start=$(sed -n '1s/-.*//p' "/proc/$1/maps")
    dd if="/proc/$1/mem" of=/dev/null bs=4096 count=1 skip=$((16#$start / 4096)) status=none
}

# one_request: a TLS client sends 5 bytes and gets the backend's 5 through the proxy.
# (May time out: 20 s.)
one_request() {
    [ "$(printf hello | timeout 20 openssl s_client -connect 127.0.0.1:$PROXY_PORT -quiet \
        2>/dev/null | wc -c)" = 5 ]
}

# ---- root must be asked for ----
# A daemon that wrongly starts is stopped after 10 s (exit 124: the check fails).
write_config "$T/root.ini"
timeout 10 "$KTLSPROXY" -c "$T/root.ini" 2>"$T/root.err"
check "as root without user: refused, exit 78" [ $? = 78 ]
check "... saying how to fix it" grep -q "refusing to run as root: set user = NAME" "$T/root.err"

write_config "$T/group.ini" "group = nogroup"
timeout 10 "$KTLSPROXY" -c "$T/group.ini" 2>"$T/group.err"
check "group without user as root: refused, exit 78" [ $? = 78 ]
check "... naming the group" grep -q "group = nogroup is set but user is not" "$T/group.err"
"$KTLSPROXY" -t -c "$T/group.ini" 2>/dev/null
check "... and -t reports it too (exit 78)" [ $? = 78 ]

write_config "$T/explicit.ini" "user = root"
check "user = root written explicitly: runs" start_proxy "$T/explicit.ini"
check "... and serves" one_request
check "... root can still read its memory (proofs.sh key scan)" root_can_read "$proxy_pid"
stop_proxy

# ---- dropping to user/group ----
write_config "$T/nobody.ini" "user = nobody" "group = nogroup"
check "user = nobody, group = nogroup: starts" start_proxy "$T/nobody.ini"
check "... runs as uid nobody" \
    grep -Eq "^Uid:\s+$NOBODY\s+$NOBODY\s+$NOBODY\s+$NOBODY$" "/proc/$proxy_pid/status"
check "... and gid nogroup" \
    grep -Eq "^Gid:\s+$NOGROUP\s+$NOGROUP\s+$NOGROUP\s+$NOGROUP$" "/proc/$proxy_pid/status"
check "... without root's groups" grep -Eq "^Groups:\s*($NOGROUP)?\s*$" "/proc/$proxy_pid/status"
check "... serves after dropping" one_request
check "... another nobody process cannot read its memory" nobody_cannot_read "$proxy_pid"
stop_proxy

# Started as nobody, so no setuid() happens: only PR_SET_DUMPABLE keeps nobody out.
mkdir -m 755 "$T/nb"
cp "$T/ec.pem" "$T/ec.key" "$T/nb/"
chown "$NOBODY" "$T/nb/ec.key"
chmod 711 "$T"
sed -e "s|$T/ec|$T/nb/ec|g" -e '/^user = /d' "$T/explicit.ini" >"$T/nb/nb.ini"
install -m 666 /dev/null "$T/nb/proxy.log"
setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups \
    "$KTLSPROXY" -c "$T/nb/nb.ini" >>"$T/nb/proxy.log" 2>&1 & # setpriv execs: $! is the daemon
nb_pid=$!
pids+=($nb_pid)
for _ in $(seq 1 100); do
    grep -q 'notice: started' "$T/nb/proxy.log" && break
    sleep 0.05
done
check "started as nobody without user: runs (only root is refused)" \
    grep -q 'notice: started' "$T/nb/proxy.log"
check "... another nobody process cannot read its memory (PR_SET_DUMPABLE 0)" \
    nobody_cannot_read "$nb_pid"
kill -TERM "$nb_pid"
wait "$nb_pid"
check "... and stops cleanly" [ $? = 0 ]

# ---- key files others can read ----
"$KTLSPROXY" -t -c "$T/explicit.ini" >/dev/null 2>"$T/key600.err"
check "a key file of mode 600: no warning" sh -c "! grep -q 'private key file' '$T/key600.err'"
chmod 640 "$T/ec.key"
"$KTLSPROXY" -t -c "$T/explicit.ini" >/dev/null 2>"$T/key640own.err"
check "mode 640 in the daemon's own group: no warning (a reload can read it)" \
    sh -c "! grep -q 'private key file' '$T/key640own.err'"
chgrp nogroup "$T/ec.key"
"$KTLSPROXY" -t -c "$T/explicit.ini" >/dev/null 2>"$T/key640.err"
check "mode 640 in another group: a warning naming the file" \
    grep -q "private key file $T/ec.key is readable by its group (mode 0640)" "$T/key640.err"
chgrp root "$T/ec.key"
chmod 604 "$T/ec.key"
check "mode 604: a warning at start-up too" start_proxy "$T/explicit.ini"
check "... naming the file" \
    grep -q "private key file $T/ec.key is readable by everyone (mode 0604)" "$T/proxy.log"
stop_proxy
chmod 600 "$T/ec.key"

finish
