#!/usr/bin/env bash
# Renders a result set's summary and SVGs beside its result file:
#   ci/render-set.sh results/<machine>-<date>/matrix.json        -> summary.md
#   ci/render-set.sh results/<machine>-<date>/map-perf-test.json -> map-perf-test-summary.md
# The summary = the machine and run settings (from the file), the command that made it, and
# the tables of `htab-mem export --format markdown`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILE=${1:?usage: ci/render-set.sh RESULT_FILE}
[ -f "$FILE" ] || { echo "render-set: $FILE: no such file" >&2; exit 2; }
DIR=$(dirname "$FILE")
STEM=$(basename "$FILE" .json)
SUMMARY=summary.md
[ "$STEM" = matrix ] || SUMMARY=$STEM-summary.md
BIN=${HTAB_MEM:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release -q -p harness)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/htab-mem
fi

"$BIN" plot "$FILE" --out "$DIR" > /dev/null
TABLES=$("$BIN" export "$FILE" --format markdown)
# The header comes from the file itself, so it describes the machine that ran it.
HEADER=$(python3 - "$FILE" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
h, c = f["host"], f["config"]
cells = f["results"]
ucs = sorted({x["use_case"] for x in cells})
ps = sorted({x["producers"] for x in cells})
fl = list(dict.fromkeys(x["flavor"] for x in cells))
gib = h.get("mem_total_bytes", 0) / 2**30
bench = c.get("benchmark", "htab-mem")
print(f"# {bench} results: {sys.argv[1].split('/')[-2]}\n")
print(f"- machine: {h['cpu_model']}, {h['nr_cpus']} CPUs, kernel {h['kernel']}"
      + (f", {gib:.1f} GiB RAM" if gib else ""))
print(f"- commit {f['git_sha']}, {f['timestamp']}, {f['tool']}")
if bench == "htab-mem":
    print(f"- {c['warmup_s']} s warm-up + {c['duration_s']} s measured per cell, value size "
          f"{c['value_size']} B, max entries {c['max_entries']}, RCU GP pacing "
          f"{c['rcu_gp_delay_us']} us, tasks-trace GP pacing {c['ttrace_gp_delay_us']} us, "
          f"affinity {c['affinity']}")
else:
    params = c.get("map_perf_test") or c.get("kfree_rcu") or {}
    print(f"- runs to completion: {', '.join(f'{k} {v}' for k, v in params.items())}; "
          f"RCU GP pacing {c['rcu_gp_delay_us']} us, affinity {c['affinity']}")
print(f"- {len(cells)} cells: use cases {', '.join(ucs)}; producers "
      f"{', '.join(map(str, ps))}; flavors {', '.join(fl)}")
bad = [x["id"] for x in cells if x["status"] != "ok"]
if bad:
    print(f"- not ok: {', '.join(bad)}")
PY
)
{
  echo "$HEADER"
  echo
  echo "Rendered by \`ci/render-set.sh ${FILE#"$ROOT"/}\`; plots: \`*-bars.svg\` (rate per producer"
  echo "and peak memory per flavor), \`*-scaling.svg\` (against producers), \`*-p<N>-memory.svg\`"
  echo "(live heap over time). \"loop (k/s)\" is per producer, as the kernel's per-prod-op"
  echo "(map-perf-test: k events/s per worker; kfree-rcu: k objects/s per thread)."
  echo
  echo "$TABLES"
} > "$DIR/.$SUMMARY.tmp"
mv "$DIR/.$SUMMARY.tmp" "$DIR/$SUMMARY"
echo "$DIR/$SUMMARY"
