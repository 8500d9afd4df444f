# Shared helpers of the integration tests: a scratch dir, certificates, real
# backends, the daemon, and TAP-style reporting.  Sourced by suite.sh.
#
# Environment: top_builddir, top_srcdir (as set by make check).

: "${top_builddir:?}" "${top_srcdir:?}"
KTLSPROXY=$top_builddir/src/ktlsproxy
KP_BACKEND=$top_builddir/tests/tools/kp_backend
PROXY_PORT=18443
# The system python: a pyenv shim costs seconds per start (more in the VM).
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
# Inside the kTLS VM the daemon must use kernel TLS; on a host without it,
# the user-space fallback.
IN_VM=${KP_VM_GUEST:-0}
if [ "$IN_VM" = 1 ]; then KTLS=required; else KTLS=auto; fi

# On the host each suite runs in a network namespace of its own (as root), so
# that suites make check runs side by side cannot collide on a port; the kTLS
# VM runs them one after another.  KP_NETNS=1 once inside.
if [ "$IN_VM" != 1 ] && [ -z "${KP_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
    KP_NETNS=1 exec unshare -n "$0" "$@"
fi
if [ -n "${KP_NETNS:-}" ]; then
    ip link set lo up || { echo "lib.sh: cannot bring lo up in the suite's namespace" >&2; exit 1; }
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/kp-it.XXXXXX")
npass=0
nfail=0
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$nfail" -eq 0 ] && [ -z "${KP_KEEP:-}" ]; then rm -rf "$T"; else keep_scratch; fi
}
# keep_scratch: say where the scratch is.  In the VM /tmp is a tmpfs that
# vanishes with it: copy the scratch (files under 16 MiB) into the build
# tree, which the host sees.
keep_scratch() {
    local dest
    if [ "$IN_VM" = 1 ]; then
        dest=$top_builddir/vm-scratch/$(basename "$T")
        mkdir -p "$dest" && (cd "$T" && find . -size -16M -type f -print0 |
            tar --null --no-recursion -T - -cf -) | tar -C "$dest" -xf - && T=$dest
    fi
    echo "# scratch kept in $T"
}
trap cleanup EXIT

ok() { npass=$((npass + 1)); echo "ok - $*"; }
not_ok() { nfail=$((nfail + 1)); echo "not ok - $*"; }
# check NAME CMD...: one assertion.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
finish() {
    echo "$npass passed, $nfail failed"
    [ "$nfail" -eq 0 ]
}

# ---- certificates ----
make_certs() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$T/ec.key" -out "$T/ec.pem" -subj /CN=ec.test \
        -addext "subjectAltName=DNS:ec.test,DNS:*.wild.test,DNS:localhost" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
        -keyout "$T/rsa.key" -out "$T/rsa.pem" -subj /CN=rsa.test \
        -addext "subjectAltName=DNS:rsa.test" 2>/dev/null
}

# ---- backends ----
# start_bg NAME CMD...: run in the background, remember the pid.
start_bg() {
    local name=$1
    shift
    "$@" >"$T/$name.out" 2>&1 &
    pids+=($!)
    eval "pid_$name=$!"
}

wait_port() { # host port
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "# nothing listens on $1:$2" >&2
    return 1
}

# ---- the daemon ----
# global_ini WORKERS: the [global] section every test configuration starts with.
global_ini() {
    # user = root: the tests run as root, which ktlsproxy refuses unless asked for.
    printf '[global]\nworkers = %s\nlog_level = debug\nktls = %s\nuser = root\n\n' "$1" "$KTLS"
}

# frontend_ini NAME LISTEN BACKEND_ADDRESS VERSIONS [LINE...]: a [frontend NAME]
# with the test certificate, passing to a [backend NAME] at BACKEND_ADDRESS;
# each LINE goes into the frontend's section.
frontend_ini() {
    local name=$1 listen=$2 address=$3 versions=$4
    shift 4
    printf '[frontend %s]\nlisten = %s\ncert = %s %s\ntls_versions = %s\nbackend = %s\n' \
        "$name" "$listen" "$T/ec.pem" "$T/ec.key" "$versions" "$name"
    [ $# -eq 0 ] || printf '%s\n' "$@"
    printf '\n[backend %s]\naddress = %s\n\n' "$name" "$address"
}

# start_proxy CONFIG: start ktlsproxy -c CONFIG and wait until it listens.
start_proxy() {
    : >"$T/proxy.log"
    "$KTLSPROXY" -c "$1" >>"$T/proxy.log" 2>&1 &
    proxy_pid=$!
    local i
    for i in $(seq 1 200); do
        grep -q 'notice: started' "$T/proxy.log" && return 0
        kill -0 "$proxy_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "# ktlsproxy did not start:" >&2
    sed 's/^/#   /' "$T/proxy.log" >&2
    return 1
}

# stop_proxy: SIGTERM, must exit 0 and the log must show no sanitizer report.
stop_proxy() {
    kill -TERM "$proxy_pid"
    local st=0
    wait "$proxy_pid" || st=$?
    if [ "$st" -ne 0 ] || grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$T/proxy.log"; then
        echo "# ktlsproxy exit status $st; log:" >&2
        sed 's/^/#   /' "$T/proxy.log" | tail -40 >&2
        return 1
    fi
}

sha() { sha256sum | cut -d' ' -f1; }

tls_stat() { # NAME: a counter from /proc/net/tls_stat (kTLS VM only)
    awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat
}

# trace_start FILE SYSCALLS: strace every thread of the running ktlsproxy, for
# the syscalls listed as strace's -e trace= takes them, into FILE (strace's
# own messages into FILE.err) until trace_stop.  Returns once attached.
trace_start() {
    strace -f -qq -p "$proxy_pid" -e trace="$2" -o "$1" 2>"$1.err" &
    tracer_pid=$!
    sleep 3 # attaching to every thread takes a while under TCG
}

# trace_stop: let the last calls of what was traced reach the file, then detach.
trace_stop() {
    sleep 1
    kill -INT "$tracer_pid"
    wait "$tracer_pid"
}
