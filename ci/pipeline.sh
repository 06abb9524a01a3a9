#!/usr/bin/env bash
# The perf pipeline a CI job runs (see ci/README.md):
#   ci/pipeline.sh                       run the whole matrix, then report
#   ci/pipeline.sh run [--shard I/N]     run the matrix (or one shard) into $OUT
#   ci/pipeline.sh report [FILES...]     merge shards, compare with the baseline (measured in
#                                        the same run when there is one, else committed),
#                                        export bmf/gab-bigger/gab-smaller, add the result set
#                                        to $RESULTS and render the dashboard
# Environment: MATRIX_ARGS (extra `htab-mem matrix` options, e.g. "-d 2 -p 1,2,4"),
# RESULTS (default results/), OUT (default ci/out/), MACHINE (result set name prefix,
# default <hostname>-<N>cpu), BASELINE_REF (a commit to build and measure beside this one,
# trial by trial in the same run -- the same-job baseline; compare then judges against it),
# BASELINE_EXE (instead: a built htab-mem of that commit; BASELINE_SHA names it),
# BASELINE (without those: the result file to compare with; default the newest committed
# set of the same MACHINE, else the newest set), HTAB_MEM (a built binary),
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

# The same-job baseline: BASELINE_REF's htab-mem, built once in a worktree under $OUT (its
# commit's own sources and Cargo.lock), or BASELINE_EXE as given. Sets BASE_BIN, BASE_SHA.
BASE_BIN=${BASELINE_EXE:-}
BASE_SHA=${BASELINE_SHA:-}
build_baseline() {
  [ -n "${BASELINE_REF:-}" ] && [ -z "$BASE_BIN" ] || return 0
  local src=$OUT/baseline-src sha
  sha=$(git -C "$ROOT" rev-parse --verify --quiet "${BASELINE_REF}^{commit}") \
    || { say "BASELINE_REF $BASELINE_REF: not a commit here (fetch it first)"; exit 2; }
  BASE_SHA=${BASE_SHA:-${sha:0:12}}
  if [ "$(git -C "$src" rev-parse HEAD 2>/dev/null || true)" != "$sha" ]; then
    git -C "$ROOT" worktree remove --force "$src" 2>/dev/null || rm -rf "$src"
    git -C "$ROOT" worktree prune
    git -C "$ROOT" worktree add --detach -q "$src" "$sha"
  fi
  say "building the baseline $BASE_SHA in $src"
  (cd "$src" && CARGO_TARGET_DIR=$OUT/baseline-target cargo build --release -q -p harness)
  BASE_BIN=$OUT/baseline-target/release/htab-mem
}

# `htab-mem matrix` into $OUT/NAME.json, with the baseline's cells into
# $OUT/baseline-NAME.json when there is one; the rest of the arguments are matrix options.
matrix_into() {
  local name=$1
  shift
  # The matrix resumes a file it finds: only when asked, never from a stale earlier run.
  [ "${RESUME:-0}" = 1 ] || rm -f "$OUT/$name.json" "$OUT/baseline-$name.json"
  if [ -n "$BASE_BIN" ]; then
    say "matrix $* -> $OUT/$name.json, baseline ${BASE_SHA:-baseline} -> $OUT/baseline-$name.json"
    "$BIN" matrix --out "$OUT/$name.json" --baseline-exe "$BASE_BIN" \
      --baseline-out "$OUT/baseline-$name.json" --baseline-sha "${BASE_SHA:-baseline}" "$@"
  else
    say "matrix $* -> $OUT/$name.json"
    "$BIN" matrix --out "$OUT/$name.json" "$@"
  fi
}

run_matrix() {
  local shard="" name=current
  if [ "${1:-}" = "--shard" ]; then
    shard=${2:?--shard needs I/N}
    name="shard-${shard%/*}-of-${shard#*/}"
  fi
  build_baseline
  # shellcheck disable=SC2086 # MATRIX_ARGS is a list of options
  matrix_into "$name" ${shard:+--shard "$shard"} -q $MATRIX_ARGS
  # The other benchmarks are short: whole, in the unsharded run or the first shard.
  if [ -z "$shard" ] || [ "${shard%/*}" = 1 ]; then
    local b args
    for b in $OTHER_BENCHES; do
      case $b in map-perf-test) args=$MPT_ARGS ;; kfree-rcu) args=$KFREE_ARGS ;; *) args= ;; esac
      # shellcheck disable=SC2086 # a list of options
      matrix_into "$b" --benchmark "$b" -q $args
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

  # A same-job baseline (the run's baseline-*.json beside the files given) is what compare
  # judges against; else the committed set.
  local base f b0 same=()
  [ $# -gt 0 ] || set -- "$current"
  for f in "$@"; do
    b0=$(dirname "$f")/baseline-$(basename "$f")
    if [ -f "$b0" ]; then same+=("$b0"); fi
  done
  if [ ${#same[@]} -gt 0 ]; then
    [ ${#same[@]} -eq $# ] \
      || { say "only ${#same[@]} of $# files have a baseline-* file beside them"; exit 2; }
    base=$OUT/baseline.json
    if [ ${#same[@]} -gt 1 ]; then
      "$BIN" merge "${same[@]}" --out "$base"
    else
      cp "${same[0]}" "$base"
    fi
    say "judging against the baseline measured in the same run ($base)"
  else
    base=${BASELINE:-$(find_baseline)}
  fi
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
  # The same-run baseline goes with the set: the dashboard judges "what changed" against it.
  if [ ${#same[@]} -gt 0 ]; then
    mkdir -p "$set/baseline"
    cp "$base" "$set/baseline/matrix.json"
  fi
  HTAB_MEM=$BIN "$ROOT/ci/render-set.sh" "$set/matrix.json" > /dev/null
  local b bs
  for b in $OTHER_BENCHES; do
    [ -f "$OUT/$b.json" ] || continue
    bs=$(dirname "$base")/$b.json
    [ ! -f "$OUT/baseline-$b.json" ] || bs=$OUT/baseline-$b.json
    if [ -n "$base" ] && [ -f "$bs" ]; then
      set +e
      "$BIN" compare "$bs" "$OUT/$b.json" > "$OUT/compare-$b.txt"
      local st=$?
      set -e
      [ "$st" -le 1 ] || { say "compare of $b failed (status $st)"; exit 2; }
      [ "$st" -eq 0 ] || { say "REGRESSION in $b: see $OUT/compare-$b.txt"; status=1; }
    fi
    cp "$OUT/$b.json" "$set/$b.json"
    if [ -f "$OUT/baseline-$b.json" ] && [ -d "$set/baseline" ]; then
      cp "$OUT/baseline-$b.json" "$set/baseline/$b.json"
    fi
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
