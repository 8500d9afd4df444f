#!/bin/bash
# Run every integration suite in turn (used inside the kTLS VM, where one
# boot serves them all); fails if any of them fails.
here=$(cd "$(dirname "$0")" && pwd)
st=0
for suite in suite edge proofs daemon backends latency robust ops obs tickets fleet faults keyupdate \
    soak; do
    echo "### $suite.sh"
    "$here/$suite.sh" || st=1
done
exit $st
