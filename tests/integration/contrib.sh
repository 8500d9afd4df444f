#!/bin/bash
# The deployment examples in contrib/ checked with what runs here: haproxy -c
# and keepalived --config-test on the balancer configurations; for the
# Kubernetes manifest (no API server or schema validator here: the schema is
# NOT checked) the ConfigMap's ktlsproxy.ini passes ktlsproxy -t with the
# Secrets' files where the DaemonSet mounts them, every path it names is under
# a mount, and the placeholder ticket key is refused; and the two phases of
# contrib/fleet/rotate-ticket-keys give key files the daemon accepts, in the
# order that keeps a rolling rotation working.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

C=$top_srcdir/contrib
echo "# contrib examples in $T"
make_certs

if command -v haproxy >/dev/null; then
    check "haproxy -c accepts contrib/fleet/haproxy.cfg" haproxy -c -q -f "$C/fleet/haproxy.cfg"
else
    echo "# SKIP: haproxy not installed"
fi
if command -v keepalived >/dev/null; then
    # It checks that the VRRP interface exists and is not loopback: give the
    # test's network namespace a veth eth0 when there is none.
    ip link show eth0 >/dev/null 2>&1 || ip link add eth0 type veth peer name kp-eth0-peer 2>/dev/null
    check "keepalived --config-test accepts contrib/fleet/keepalived.conf" \
        keepalived --config-test -f "$C/fleet/keepalived.conf"
else
    echo "# SKIP: keepalived not installed"
fi

# ---- Kubernetes: unpack the manifest the way the kubelet would ----
root=$T/pod
python3 - "$C/kubernetes/ktlsproxy.yaml" "$root" <<'PY' >"$T/k8s.out" 2>&1
import os, sys, yaml

docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(sys.argv[1]))}
root = sys.argv[2]
ds = docs[("DaemonSet", "ktlsproxy")]
pod = ds["spec"]["template"]["spec"]
assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
volumes = {v["name"]: v for v in pod["volumes"]}
mounts = []
for c in pod["containers"]:
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        if "configMap" in v:
            data = docs[("ConfigMap", v["configMap"]["name"])]["data"]
        else:
            s = docs[("Secret", v["secret"]["secretName"])]
            data = dict(s.get("stringData") or {}, **(s.get("data") or {}))
        mounts.append(m["mountPath"])
        for name, value in data.items():
            path = root + m["mountPath"] + "/" + name
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").write(value)
ini = open(root + "/etc/ktlsproxy/ktlsproxy.ini").read()
for line in ini.splitlines():
    for word in line.split():
        if word.startswith("/"):
            assert any(word.startswith(m + "/") for m in mounts), word + " is under no mount"
            print("path", word)
cmd = pod["containers"][0]["command"]
assert cmd[-1] == "/etc/ktlsproxy/ktlsproxy.ini", cmd
print("ok")
PY
check "kubernetes: manifest parses, selector matches, every config path is under a mount" \
    grep -qx ok "$T/k8s.out"
k8s_models=${KP_K8S_MODELS:-/opt/ktlsproxy-test/node_modules}
if command -v node >/dev/null && [ -d "$k8s_models/kubernetes-models" ]; then
    python3 -c 'import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))' \
        "$C/kubernetes/ktlsproxy.yaml" >"$T/k8s.json"
    rc=0
    node "$top_srcdir/tests/tools/k8s_validate.mjs" "$k8s_models" <"$T/k8s.json" >"$T/k8s-schema.out" 2>&1 || rc=$?
    check "kubernetes: every object is valid against the API schema (kubernetes-models)" [ "$rc" = 0 ]
    sed 's/^/# /' "$T/k8s-schema.out"
else
    echo "# SKIP: kubernetes-models not installed in $k8s_models (contrib/install-deps installs it)"
fi
# The pod runs as uid 65534 (runAsNonRoot); this test runs as root, which
# ktlsproxy refuses unless the configuration says user = root.
sed -e "s|/etc/ktlsproxy|$root/etc/ktlsproxy|g" -e 's|^listen = \*:8443|listen = 127.0.0.1:18999|' \
    -e 's|^\[global\]$|[global]\nuser = root|' \
    "$root/etc/ktlsproxy/ktlsproxy.ini" >"$T/k8s.ini"
cp "$T/ec.pem" "$root/etc/ktlsproxy/tls/tls.crt"
cp "$T/ec.key" "$root/etc/ktlsproxy/tls/tls.key"
"$KTLSPROXY" -t -c "$T/k8s.ini" >"$T/placeholder.out" 2>&1
check "kubernetes: the placeholder ticket key is refused" \
    grep -q 'ticket.keys: key 1 is not 36 bytes in base64' "$T/placeholder.out"
openssl rand -base64 36 >"$root/etc/ktlsproxy/tickets/ticket.keys"
check "kubernetes: with a real key and certificate, ktlsproxy -t accepts the ConfigMap" \
    "$KTLSPROXY" -t -c "$T/k8s.ini"

# ---- rotate-ticket-keys ----
keys=$root/etc/ktlsproxy/tickets/ticket.keys
k1=$(cat "$keys")
"$C/fleet/rotate-ticket-keys" prepare "$keys"
k2=$(sed -n 2p "$keys")
prepared() { [ "$(sed -n 1p "$keys")" = "$k1" ] && [ -n "$k2" ] && [ "$k2" != "$k1" ]; }
check "rotate prepare: current key first, a new one second" prepared
check "rotate prepare: ktlsproxy -t accepts it" "$KTLSPROXY" -t -c "$T/k8s.ini"
"$C/fleet/rotate-ticket-keys" activate "$keys"
check "rotate activate: the new key first, the old one second" \
    [ "$(cat "$keys")" = "$(printf '%s\n%s' "$k2" "$k1")" ]
check "rotate activate: ktlsproxy -t accepts it" "$KTLSPROXY" -t -c "$T/k8s.ini"
check "rotate: the file is not readable by others" [ "$(stat -c %a "$keys")" = 600 ]

finish
