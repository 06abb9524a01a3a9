#!/usr/bin/env python3
"""Checks one soak cell: a `htab-mem --use-case lookup_verify --json FILE` result.

Usage: soak_report.py [--min-verified N] [--header] FILE...

Prints one table row per cell and exits 1 when any check fails:
  - status `ok` (htab-mem sets `error` on an incorrect lookup under a grace-period flavor,
    `leak` on objects never returned);
  - incorrect lookups: `incorrect_lookups_per_million` must be 0;
  - leaked objects: `allocator.leaked` must be 0;
  - verified lookups >= N (default 0: no floor);
  - memory: no upward trend in the charged memory samples of the measured window.

Verified lookups. The result file does not hold the oracle's count of verified lookups
(the lookups that found an element, whose key and value stamp were checked); it holds the
loops. lookup_verify's producers alternate: even ones are writers, odd ones readers. A reader
loop does OP_BATCH = 64 lookups over the writers' 64 keys each (workloads/src/use_cases/
lookup_verify.rs); a writer loop does 64 updates and deletes every fourth key right after
updating it, so 48 of the 64 keys stay in the map and a lookup of them always finds an element
(an update replaces the element in place of the old one). So a reader loop verifies at least
48 lookups once the writers have run once. A writer loop frees 64 elements (48 replaced, 16
deleted), so writer loops = the memory model's frees in the window / 64, and reader loops =
all loops - writer loops. The figure reported is

    verified >= 48 x (loops in the measured window - frees_per_s x window_s / 64)

a lower bound: it leaves out the warm-up (the oracle checks there too) and the deleted keys
that a reader catches between their update and delete.

Memory trend: least-squares slope of `charged_bytes` against `t_ns` over the measured window
(samples from `config.warmup_s` on), in MiB per minute, with its t statistic (slope over its
standard error, widened for the residuals' lag-1 autocorrelation). An upward trend fails the check when it is significant (t > 3) and large:
over the window it adds more than 10 % of the mean charged memory.
"""

import json
import math
import sys

OP_BATCH = 64
VERIFIED_PER_READER_LOOP = 48  # keys a writer never deletes, of OP_BATCH
T_SIGNIFICANT = 3.0
DRIFT_LIMIT = 0.10


def slope(xs, ys):
    """Least-squares slope of ys on xs and its t statistic (inf for a perfect fit)."""
    n = len(xs)
    if n < 3:
        return 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, 0.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    res = [y - a - b * x for x, y in zip(xs, ys)]
    rss = sum(r * r for r in res)
    se = math.sqrt(rss / (n - 2) / sxx)
    # Per-second memory samples are autocorrelated (a long grace period lifts several in a
    # row), which makes the plain standard error too small. Widen it for AR(1) residuals:
    # x sqrt((1 + rho) / (1 - rho)), rho the lag-1 autocorrelation (clamped to [0, 0.9]).
    if rss > 0:
        rho = sum(res[i] * res[i - 1] for i in range(1, n)) / rss
        rho = min(max(rho, 0.0), 0.9)
        se *= math.sqrt((1 + rho) / (1 - rho))
    if se == 0:
        return b, math.inf if b else 0.0
    return b, b / se


def check_cell(cell, warmup, min_verified):
    problems = []
    flavor = cell["flavor"]
    if cell.get("status") != "ok":
        problems.append(f"status {cell.get('status')}: {cell.get('error', '')}")
    m = cell.get("metrics", {})
    inc = m.get("incorrect_lookups_per_million")
    if inc is None:
        problems.append("no incorrect_lookups_per_million (not lookup_verify?)")
        inc_v = math.nan
    else:
        inc_v = inc["value"]
        if inc_v != 0:
            problems.append(f"{inc_v} incorrect lookups per million")
    leaked = cell.get("allocator", {}).get("leaked", 0)
    if leaked != 0:
        problems.append(f"{leaked} objects leaked")

    window = cell.get("samples", [])[warmup:]
    loops = sum(s["loops"] for s in window)
    mm = cell.get("memory_model") or {}
    if "frees_per_s" in mm and "window_s" in mm:
        writer_loops = mm["frees_per_s"] * mm["window_s"] / OP_BATCH
        verified = VERIFIED_PER_READER_LOOP * max(0.0, loops - writer_loops)
    else:
        # No memory model: assume at most half the loops were writers'.
        verified = VERIFIED_PER_READER_LOOP * loops / 2
    if verified < min_verified:
        problems.append(f"verified lookups {verified:.3g} < {min_verified:.3g}")

    xs = [s["t_ns"] / 60e9 for s in window]  # minutes
    ys = [s.get("charged_bytes", s["mem_bytes"]) / 2**20 for s in window]  # MiB
    b, t = slope(xs, ys)
    mean_mib = sum(ys) / len(ys) if ys else 0.0
    span_min = (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
    drift = b * span_min
    significant = abs(t) > T_SIGNIFICANT
    upward = b > 0 and significant and mean_mib > 0 and drift > DRIFT_LIMIT * mean_mib
    if upward:
        problems.append(
            f"memory grows {b:.3f} MiB/min (t={t:.1f}), {drift:.2f} MiB over the window, "
            f"more than {DRIFT_LIMIT:.0%} of the mean {mean_mib:.2f} MiB"
        )
    row = {
        "flavor": flavor,
        "seconds": len(window),
        "loops_per_s": m.get("loops_per_sec", {}).get("value", 0.0),
        "incorrect": inc_v,
        "verified": verified,
        "leaked": leaked,
        "mem_mean_mib": mean_mib,
        "slope_mib_per_min": b,
        "t": t,
        "significant": significant,
        "problems": problems,
    }
    return row


def main(argv):
    min_verified = 0.0
    header = False
    files = []
    it = iter(argv)
    for a in it:
        if a == "--min-verified":
            min_verified = float(next(it))
        elif a == "--header":
            header = True
        else:
            files.append(a)
    if header:
        print(
            "| flavor | samples (1/s) | loops/s | incorrect (per M) | verified lookups (>=) "
            "| leaked | charged mean (MiB) | trend (MiB/min) | t | verdict |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for f in files:
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as e:
            print(f"soak: {f}: {e}", file=sys.stderr)
            failed = True
            continue
        warmup = int(doc.get("config", {}).get("warmup_s", 0))
        if not doc.get("results"):
            print(f"soak: {f}: no cells", file=sys.stderr)
            failed = True
        for cell in doc.get("results", []):
            r = check_cell(cell, warmup, min_verified)
            verdict = "ok" if not r["problems"] else "FAIL"
            sig = "significant" if r["significant"] else "not significant"
            print(
                f"| {r['flavor']} | {r['seconds']} | {r['loops_per_s']:.0f} | {r['incorrect']:g} "
                f"| {r['verified']:.3g} | {r['leaked']} | {r['mem_mean_mib']:.2f} "
                f"| {r['slope_mib_per_min']:+.3f} | {r['t']:.1f} ({sig}) | {verdict} |"
            )
            for p in r["problems"]:
                print(f"soak: {r['flavor']}: {p}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
