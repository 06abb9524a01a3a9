#!/usr/bin/env bash
# Memory errors checked by a tool (issue 14, item 5): valgrind's memcheck on
#  (a) the allocators' and workloads' test binaries (debug builds, `cargo test --no-run`), and
#  (b) a short htab-mem cell of every flavor x use case (-p 2 -w 1 -d 1; each flavor runs in
#      its own `htab-mem --child` process, traced with --trace-children=yes).
# Required: 0 errors and 0 definitely lost blocks (--errors-for-leak-kinds=definite); any
# other outcome exits non-zero. Installs Debian's valgrind when it is missing.
#
#   ci/valgrind.sh              # both parts (what .ci/run runs)
#   ci/valgrind.sh tests        # only (a);  ci/valgrind.sh cells: only (b)
#
# Settings (environment): VALGRIND_OUT (logs, default ci/out/valgrind), HTAB_MEM (the binary
# for (b); default: the release build, which .ci/run has built already), VALGRIND_TEST_FILTER
# (a libtest filter for (a)), VALGRIND_JOBS (processes under valgrind at once; default nproc),
# VALGRIND_USE_CASES (the use cases of (b); default all six; .ci/run names two to stay in
# its time budget: every use case took 873 s of a 32-minute CI run).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
case $what in all | tests | cells) ;; *) echo "usage: ci/valgrind.sh [all|tests|cells]" >&2; exit 2 ;; esac
out=${VALGRIND_OUT:-ci/out/valgrind}
mkdir -p "$out"
rm -f "$out"/*.log

if ! command -v valgrind >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq valgrind
fi
valgrind --version

# Possibly-lost blocks are reported neither as errors nor in the log: libtest's and std's
# thread handles show up as such (an Arc held from a thread-local at exit), which is no leak.
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
  --show-leak-kinds=definite --num-callers=30)
fail=0
t_all=$SECONDS

run_vg() { # name, command...
  local name=$1 t0=$SECONDS rc=0
  shift
  "${vg[@]}" --log-file="$out/$name.%p.log" "$@" >"$out/$name.out" 2>&1 || rc=$?
  # Every traced process must have finished with a clean summary.
  local logs errs
  logs=$(find "$out" -name "$name.*.log" | wc -l)
  errs=$(cat "$out/$name".*.log 2>/dev/null | grep -c 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]' || true)
  local clean
  clean=$(cat "$out/$name".*.log 2>/dev/null | grep -c 'ERROR SUMMARY: 0 errors' || true)
  [ "$clean" -eq "$logs" ] || errs=$((errs + 1))
  echo "valgrind: $name: exit $rc, $((SECONDS - t0)) s" >&2
  if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ]; then
    echo "valgrind: $name FAILED (exit $rc); logs: $out/$name.*.log, output: $out/$name.out" >&2
    cat "$out/$name".*.log >&2 || true
    tail -20 "$out/$name.out" >&2
    return 1
  fi
}

# valgrind runs a process's threads one at a time, so two processes at once use both CPUs:
# VALGRIND_JOBS (default: the online CPUs) run side by side.
jobs=${VALGRIND_JOBS:-$(nproc)}
running=0
run_bg() {
  run_vg "$@" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || fail=1 # whichever finishes first frees its slot
    running=$((running - 1))
  fi
}
wait_all() {
  while [ "$running" -gt 0 ]; do
    wait -n || fail=1
    running=$((running - 1))
  done
}

if [ "$what" != cells ]; then
  # (a) The test binaries, as `cargo test -p allocators -p workloads` builds them (the
  # library's unit tests, the integration tests and the doctests' crates; doctests are
  # not binaries and are left out).
  bins=$(cargo test -q -p allocators -p workloads --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"] + "=" + m["executable"])')
  for b in $bins; do
    name=${b%%=*}
    exe=${b#*=}
    # shellcheck disable=SC2086 # the filter is a word list on purpose
    run_bg "test-$name" "$exe" -q --test-threads=2 ${VALGRIND_TEST_FILTER:-}
  done
  wait_all
fi

if [ "$what" != tests ]; then
  # (b) Every flavor x use case: one htab-mem per use case runs all flavors, each in a
  # child; the children are traced too.
  if [ -z "${HTAB_MEM:-}" ]; then
    # Release (with line tables): valgrind starts it and runs its drain far faster than
    # the debug build, and .ci/run's dashboard test has built it already.
    cargo build --release -q -p harness
    HTAB_MEM=target/release/htab-mem
  fi
  ucs=${VALGRIND_USE_CASES:-no_op overwrite batch_add_batch_del add_del_on_diff_cpu lookup_verify lpm_update_delete}
  n_uc=0
  for uc in $ucs; do
    n_uc=$((n_uc + 1))
    run_bg "cell-$uc" --trace-children=yes "$HTAB_MEM" -A all --use-case "$uc" -p 2 -w 1 -d 1 -q
  done
  wait_all
  # Each child must have been traced (a log per process: the parent and 7 flavors).
  n=$(find "$out" -name 'cell-*.log' | wc -l)
  echo "valgrind: $n processes traced for the cells" >&2
  if [ "$n" -lt $((n_uc * 8)) ]; then
    echo "valgrind: expected $((n_uc * 8)) traced processes ($n_uc use cases x (1 + 7 flavors)), got $n" >&2
    fail=1
  fi
fi

echo "valgrind: took $((SECONDS - t_all)) s" >&2
if [ "$fail" -ne 0 ]; then
  echo "valgrind: FAILED" >&2
  exit 1
fi
echo "valgrind: 0 errors, 0 definitely lost" >&2
