#!/bin/bash
# Build the libFuzzer targets (clang, ASan + UBSan) and run each for a fixed
# time:  fuzz.sh [SECONDS_EACH]   (default 5; `make fuzz FUZZ_SECONDS=N`).
# Environment: top_srcdir, top_builddir; FUZZ_CFLAGS and FUZZ_LIBS (the
# library flags configure found); FUZZ_CC (default clang).
# Each target starts from its committed seeds, tests/fuzz/corpus/NAME, and
# grows a work corpus in the build tree.  A crash stops the run: the input is
# kept as BUILDDIR/tests/fuzz/crash-NAME-*; exit 1.  Without clang's libFuzzer
# the run is skipped (exit 77) with a loud message.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
seconds=${1:-5}
cc=${FUZZ_CC:-clang}
targets="config proxy hostname handshake"
src=$top_srcdir/src
out=$top_builddir/tests/fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

skip() {
    echo "##################################################################"
    echo "# SKIP: fuzzing not run: $*"
    echo "# (Debian: apt-get install clang libclang-rt-dev; see contrib/install-deps)"
    echo "##################################################################"
    exit 77
}
command -v "$cc" >/dev/null 2>&1 || skip "no $cc"
mkdir -p "$out/obj"
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' \
    >"$out/probe.c"
"$cc" -fsanitize=fuzzer $san "$out/probe.c" -o "$out/probe" 2>/dev/null ||
    skip "$cc cannot link -fsanitize=fuzzer"

# shellcheck disable=SC2086
# (configure passes PACKAGE_VERSION to the daemon's build; the targets only need a value)
cflags="-g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE $san -I$src ${FUZZ_CFLAGS:-} -DFUZZ_DIR=\"$top_srcdir/tests/fuzz\""
cflags="$cflags -DPACKAGE_VERSION=\"fuzz\""
newest_header=$(ls -t "$src"/*.h | head -1)
objs=()
for c in "$src"/*.c; do
    [ "$(basename "$c")" = main.c ] && continue
    o=$out/obj/$(basename "$c" .c).o
    objs+=("$o")
    if [ ! "$o" -nt "$c" ] || [ ! "$o" -nt "$newest_header" ]; then
        # shellcheck disable=SC2086
        "$cc" $cflags -fsanitize=fuzzer-no-link -c "$c" -o "$o" &
    fi
    [ "$(jobs -r | wc -l)" -ge "$(nproc)" ] && wait -n
done
wait
for t in $targets; do
    # shellcheck disable=SC2086
    "$cc" $cflags -fsanitize=fuzzer "$top_srcdir/tests/fuzz/fuzz_$t.c" "${objs[@]}" \
        -o "$out/fuzz_$t" ${FUZZ_LIBS:-} -lpthread || { echo "# cannot build fuzz_$t"; exit 1; }
done

st=0
for t in $targets; do
    mkdir -p "$out/work-$t"
    "$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/crash-$t-" "$out/work-$t" "$top_srcdir/tests/fuzz/corpus/$t" \
        >"$out/fuzz_$t.log" 2>&1
    rc=$?
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out/fuzz_$t.log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "ok - fuzz_$t: ${runs:-no summary}, corpus $(ls "$out/work-$t" | wc -l) new inputs"
    else
        st=1
        echo "not ok - fuzz_$t: exit $rc; input kept as $out/crash-$t-*; log $out/fuzz_$t.log"
        grep -E 'ERROR|runtime error|Assertion|SUMMARY' "$out/fuzz_$t.log" | head -5 | sed 's/^/#   /'
    fi
done
exit $st
