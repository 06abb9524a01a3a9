#!/usr/bin/env bash
# The perf pipeline a CI job runs (see ci/README.md):
#   ci/pipeline.sh                       run the whole matrix, then report
#   ci/pipeline.sh run [--shard I/N]     run the matrix (or one shard) into $OUT
#   ci/pipeline.sh report [FILES...]     merge shards, compare with the committed baseline,
#                                        export bmf/gab-bigger/gab-smaller, add the result set
#                                        to $RESULTS and render the dashboard
# Environment: MATRIX_ARGS (extra `htab-mem matrix` options, e.g. "-d 2 -p 1,2,4"),
# RESULTS (default results/), OUT (default ci/out/), MACHINE (result set name prefix,
# default <hostname>-<N>cpu), BASELINE (result file to compare with; default the newest
# committed set of the same MACHINE, else the newest set), HTAB_MEM (a built binary),
# RESUME=1 (let the matrix resume an interrupted ci/out file instead of starting afresh),
# OTHER_BENCHES (default "map-perf-test kfree-rcu": the other benchmarks' matrices, run
# whole beside htab-mem's, or with the first shard; empty: htab-mem only), MPT_ARGS and
# KFREE_ARGS (their extra `htab-mem matrix` options).
# Exit status: 0, 1 when compare found a regression (after everything was written), 2 on
# bad input or a failed step.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${RESULTS:-$ROOT/results}
OUT=${OUT:-$ROOT/ci/out}
MACHINE=${MACHINE:-$(hostname -s)-$(nproc)cpu}
MATRIX_ARGS=${MATRIX_ARGS:-}
OTHER_BENCHES=${OTHER_BENCHES-map-perf-test kfree-rcu}
# map_perf_test's default 10000 events take milliseconds; 100000 gives rates that hold.
MPT_ARGS=${MPT_ARGS:---iterations 100000}
KFREE_ARGS=${KFREE_ARGS:-}
mkdir -p "$OUT"

say() { echo "pipeline: $*" >&2; }

BIN=${HTAB_MEM:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release -q -p harness)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/htab-mem
fi

run_matrix() {
  local shard="" name=current
  if [ "${1:-}" = "--shard" ]; then
    shard=${2:?--shard needs I/N}
    name="shard-${shard%/*}-of-${shard#*/}"
  fi
  # The matrix resumes a file it finds: only when asked, never from a stale earlier run.
  [ "${RESUME:-0}" = 1 ] || rm -f "$OUT/$name.json"
  say "matrix ${shard:+shard $shard }-> $OUT/$name.json"
  # shellcheck disable=SC2086 # MATRIX_ARGS is a list of options
  "$BIN" matrix --out "$OUT/$name.json" ${shard:+--shard "$shard"} -q $MATRIX_ARGS
  # The other benchmarks are short: whole, in the unsharded run or the first shard.
  if [ -z "$shard" ] || [ "${shard%/*}" = 1 ]; then
    local b args
    for b in $OTHER_BENCHES; do
      case $b in map-perf-test) args=$MPT_ARGS ;; kfree-rcu) args=$KFREE_ARGS ;; *) args= ;; esac
      [ "${RESUME:-0}" = 1 ] || rm -f "$OUT/$b.json"
      say "matrix --benchmark $b -> $OUT/$b.json"
      # shellcheck disable=SC2086 # a list of options
      "$BIN" matrix --benchmark "$b" --out "$OUT/$b.json" -q $args
    done
  fi
}

# The newest result file under $RESULTS for this machine (by the date in the folder name),
# else the newest of any machine; empty when there is none.
find_baseline() {
  local f
  f=$(ls -1d "$RESULTS/$MACHINE"-*/matrix.json 2>/dev/null | sort | tail -n 1 || true)
  if [ -z "$f" ]; then
    f=$(ls -1d "$RESULTS"/*/matrix.json 2>/dev/null \
      | awk '{ n = split($0, p, "/"); print substr(p[n-1], length(p[n-1]) - 9) " " $0 }' \
      | sort | tail -n 1 | cut -d' ' -f2- || true)
  fi
  echo "$f"
}

report() {
  local current=$OUT/current.json status=0
  if [ $# -gt 1 ]; then
    "$BIN" merge "$@" --out "$current"
  elif [ $# -eq 1 ] && [ "$1" != "$current" ]; then
    cp "$1" "$current"
  fi
  [ -f "$current" ] || { say "no $current: run the matrix first"; exit 2; }

  local base=${BASELINE:-$(find_baseline)}
  if [ -n "$base" ]; then
    say "compare with $base"
    set +e
    "$BIN" compare "$base" "$current" | tee "$OUT/compare.txt"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -le 1 ] || { say "compare failed (status $status)"; exit 2; }
  else
    say "no baseline under $RESULTS: nothing to compare with"
    echo "no baseline" > "$OUT/compare.txt"
  fi

  for fmt in bmf gab-bigger gab-smaller; do
    "$BIN" export "$current" --format "$fmt" --out "$OUT/$fmt.json"
  done

  # A folder per machine and date; a second run on the same day gets the time too, so a
  # committed set (maybe the baseline just compared with) is never overwritten.
  local set="$RESULTS/$MACHINE-$(date -u +%F)"
  [ ! -e "$set/matrix.json" ] || set="$RESULTS/$MACHINE-$(date -u +%F-%H%M%S)"
  mkdir -p "$set"
  cp "$current" "$set/matrix.json"
  HTAB_MEM=$BIN "$ROOT/ci/render-set.sh" "$set/matrix.json" > /dev/null
  local b bs
  for b in $OTHER_BENCHES; do
    [ -f "$OUT/$b.json" ] || continue
    bs=$(dirname "$base")/$b.json
    if [ -n "$base" ] && [ -f "$bs" ]; then
      set +e
      "$BIN" compare "$bs" "$OUT/$b.json" > "$OUT/compare-$b.txt"
      local st=$?
      set -e
      [ "$st" -le 1 ] || { say "compare of $b failed (status $st)"; exit 2; }
      [ "$st" -eq 0 ] || { say "REGRESSION in $b: see $OUT/compare-$b.txt"; status=1; }
    fi
    cp "$OUT/$b.json" "$set/$b.json"
    HTAB_MEM=$BIN "$ROOT/ci/render-set.sh" "$set/$b.json" > /dev/null
  done
  "$BIN" dashboard --results "$RESULTS" --out "$RESULTS/dashboard"
  say "result set $set; exports in $OUT; dashboard $RESULTS/dashboard/index.html"
  [ "$status" -eq 0 ] || say "REGRESSION: see $OUT/compare.txt"
  return "$status"
}

case "${1:-all}" in
  run) shift; run_matrix "$@" ;;
  report) shift; report "$@" ;;
  all) run_matrix; report "$OUT/current.json" ;;
  *) say "unknown step '$1' (run, report or all)"; exit 2 ;;
esac
