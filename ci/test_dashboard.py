#!/usr/bin/env python3
"""Browser test of the HTML dashboard: headless Chromium loads the page from a loopback
server; the test checks that every plot loaded and drew something, that the page leads with
the trade-off figures (one marker per flavor and producer count) and what changed (the
regression count `htab-mem compare` gives), that no_op comes last, that the sections of
map-perf-test's and kfree-rcu's files follow htab-mem's, each in its own rate unit, and that
the tables hold the numbers of the latest result set's files.

    python3 ci/test_dashboard.py [--bin PATH] [--results DIR] [--screenshot PNG]

Without --results it renders two synthetic result sets (made here: in each, an htab-mem
matrix, a map-perf-test and a kfree-rcu file) in a temp folder. It
installs Debian's chromium when /usr/bin/chromium is missing (needs root). Exit status 0
when every check passes, 1 otherwise, 2 when it cannot run at all.
"""

import argparse
import functools
import html
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
MIB = 1024.0 * 1024.0
# The table columns that carry numbers, with their scale (as the page shows them).
METRICS = {
    "loops_per_sec_per_producer": 1e3,
    "loops_per_sec": 1e3,
    "mem_avg": MIB,
    "mem_peak": MIB,
    "rss_peak": MIB,
}

# Loaded beside the dashboard: opens it in a frame, waits for every image, draws each onto
# a canvas and counts non-white pixels, reads every table cell, and writes the lot as JSON.
CHECK_PAGE = """<!DOCTYPE html><html><body>
<iframe id="f" src="index.html" style="width:1300px;height:900px"></iframe>
<pre id="result">pending</pre>
<script>
const out = document.getElementById('result');
document.getElementById('f').addEventListener('load', async () => {
  try {
    const doc = document.getElementById('f').contentDocument;
    const plots = [];
    for (const img of doc.querySelectorAll('img[data-plot]')) {
      let decoded = true;
      try { await img.decode(); } catch (e) { decoded = false; }
      const r = {src: img.getAttribute('src'), decoded, w: img.naturalWidth, h: img.naturalHeight,
                 inked: 0, colors: 0};
      if (decoded && img.naturalWidth > 0) {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height);
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) {
            r.inked++;
            seen.add((d[i] >> 4) << 8 | (d[i + 1] >> 4) << 4 | (d[i + 2] >> 4));
          }
        }
        r.colors = seen.size;
      }
      plots.push(r);
    }
    const rows = {};
    for (const tr of doc.querySelectorAll('table.results tr[data-id]')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-metric]')) {
        cells[td.dataset.metric] = {value: td.dataset.value, text: td.textContent};
      }
      rows[tr.dataset.id] = cells;
    }
    const history = doc.querySelectorAll('table.history').length;
    const latest = (doc.getElementById('latest-set') || {}).textContent;
    // The trade-off SVGs' markers (the only r=5 circles) and their colours, read from the
    // SVG's own DOM.
    const tradeoff = [];
    for (const fig of doc.querySelectorAll('figure.tradeoff')) {
      const src = fig.querySelector('img').getAttribute('src');
      const svg = new DOMParser().parseFromString(await (await fetch(src)).text(),
                                                  'image/svg+xml');
      const marks = [...svg.querySelectorAll('circle[r="5"]')];
      tradeoff.push({use_case: fig.dataset.useCase,
                     benchmark: fig.dataset.benchmark || 'htab-mem', points: +fig.dataset.points,
                     flavors: fig.dataset.flavors.split(','), src, markers: marks.length,
                     colors: new Set(marks.map(c => c.getAttribute('fill'))).size,
                     parse_error: svg.querySelector('parsererror') !== null});
    }
    const sections = [...doc.querySelectorAll('main section')].map(x => x.id);
    // Each group's section: its benchmark, heading, rate column header and plots drawn.
    const groups = [...doc.querySelectorAll('main section[id^="uc-"]')].map(x => ({
      id: x.id, benchmark: x.dataset.benchmark || 'htab-mem',
      h2: x.querySelector('h2').textContent,
      rate: [...x.querySelectorAll('table.results tr:first-child th:nth-child(2)')]
        .map(th => th.textContent),
      plots: [...x.querySelectorAll('img[data-plot]')].map(i => i.getAttribute('src'))}));
    const ch = doc.getElementById('changes');
    const changes = ch && {regressions: ch.dataset.regressions,
                           tables: [...ch.querySelectorAll('table')].map(t => t.className),
                           text: ch.textContent};
    out.textContent = JSON.stringify({plots, rows, history, latest, tradeoff, sections,
                                      groups, changes, title: doc.title});
  } catch (e) {
    out.textContent = 'error: ' + e;
  }
});
</script></body></html>
"""


def fail(msg, code=1):
    print(f"test_dashboard: {msg}", file=sys.stderr)
    sys.exit(code)


def chromium_flags(profile):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            "--hide-scrollbars"]


def ensure_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() != 0:
        fail(f"{CHROMIUM} is missing and installing it needs root", 2)
    print("test_dashboard: installing Debian's chromium", flush=True)
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode != 0:
            fail(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}", 2)


def find_binary(arg):
    if arg:
        return pathlib.Path(arg)
    r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "harness"], cwd=ROOT)
    if r.returncode != 0:
        fail("cargo build failed", 2)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    return target / "release" / "htab-mem"


# Each benchmark's rate unit and what its `producers` count (as the page labels them).
UNITS = {"htab-mem": ("loops/s", "producer"), "map-perf-test": ("events/s", "worker"),
         "kfree-rcu": ("objects/s", "thread")}


def synthetic_cell(uc, flavor, p, k, mem_mib, bench="htab-mem"):
    # Only htab-mem's cells have per-second samples; the others run to completion.
    samples = [{"t_ns": t * 1_000_000_000, "loops": int(1000 * k) * t,
                "mem_bytes": int(mem_mib * MIB * (0.5 + 0.1 * t)), "rss_bytes": 8 * 2**20}
               for t in range(1, 6)] if bench == "htab-mem" else []
    unit = UNITS[bench][0]
    m = lambda v, sd=None, unit="bytes": {"value": v, "unit": unit, **({"stddev": sd} if sd is not None else {})}
    return {"id": f"{bench}/{uc}/{flavor}/p{p}", "benchmark": bench, "use_case": uc,
            "flavor": flavor, "producers": p, "status": "ok", "samples": samples,
            "metrics": {"loops_per_sec": m(1234.567 * k * p, 10.0, unit),
                        "loops_per_sec_per_producer": m(1234.567 * k, 3.21 * k, unit),
                        "mem_avg": m(mem_mib * 0.8 * MIB, 1000.0), "mem_peak": m(mem_mib * MIB),
                        "rss_peak": m(mem_mib * MIB + 4e6)},
            "allocator": {"from_system": 10, "to_system": 10, "leaked": 0}}


def synthetic_sets(root):
    flavors = ["malloc-call-rcu", "immediate-reuse", "reuse-after-gp", "free-after-gp",
               "call-rcu-free"]
    for day, scale in (("2026-11-22", 0.8), ("2026-11-23", 1.0)):
        cells = []
        for uc in ("no_op", "overwrite", "batch_add_batch_del"):
            for p in (2, 4):
                for i, f in enumerate(flavors):
                    mem = 0.27 if f == "immediate-reuse" else 10.0 * (i + 1) + p
                    cells.append(synthetic_cell(uc, f, p, scale * (1 + i + p / 10), mem))
        # A peer map's row: one more point, no code of the dashboard's names it.
        cells.append(synthetic_cell("overwrite", "peer:dashmap", 4, scale * 2.2, 6.0))
        if day == "2026-11-23":
            # One cell at half its loops/s against a uniformly faster rest: one regression.
            slow = next(c for c in cells if c["id"] == "htab-mem/overwrite/free-after-gp/p4")
            slow["metrics"]["loops_per_sec"]["value"] *= 0.5
        # map_perf_test's tests with their map flavors, and rcuscale's kfree modes.
        mpt = [synthetic_cell(t, f, p, scale * (90 + 10 * i + j), 1.0 + i, "map-perf-test")
               for j, (t, fl) in enumerate((("hash_prealloc", ["prealloc"]),
                                            ("hash_kmalloc", ["immediate-reuse", "free-rcu"])))
               for p in (1, 2) for i, f in enumerate(fl)]
        kfree = [synthetic_cell("kfree", mode, p, scale * (400 + 20 * i), 0.05 * (i + 1),
                                "kfree-rcu")
                 for p in (1, 2)
                 for i, mode in enumerate(["call-rcu", "call-rcu-lazy", "batched",
                                           "batched-polled"])]
        d = root / f"synthetic-2cpu-{day}"
        d.mkdir(parents=True)
        for name, bench, c in (("matrix.json", "htab-mem", cells),
                               ("map-perf-test.json", "map-perf-test", mpt),
                               ("kfree-rcu.json", "kfree-rcu", kfree)):
            doc = {"schema_version": 2, "tool": "htab-mem 0.1.0", "git_sha": "0123456789ab",
                   "timestamp": f"{day}T12:00:00Z",
                   "host": {"cpu_model": "Synthetic CPU", "nr_cpus": 2, "kernel": "6.1.0",
                            "mem_total_bytes": 0},
                   "config": {"benchmark": bench, "warmup_s": 1 if bench == "htab-mem" else 0,
                              "duration_s": 4, "affinity": "0-1", "max_entries": 8192,
                              "value_size": 8, "rcu_gp_delay_us": 1000,
                              "ttrace_gp_delay_us": 10000},
                   "results": c}
            (d / name).write_text(json.dumps(doc, indent=1))


def set_files(d):
    """[(path, doc)] of the result files in folder d, by name."""
    files = []
    for f in sorted(d.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except ValueError:
            continue
        if isinstance(doc, dict) and "schema_version" in doc:
            files.append((f, doc))
    return files


def result_sets(results):
    """(timestamp, name, [(path, doc)]) of every set, oldest first, as the dashboard orders
    them (timestamp, then name)."""
    sets = []
    for d in sorted(p for p in results.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = set_files(d)
        if files:
            sets.append((max(doc["timestamp"] for _, doc in files), d.name, files))
    if not sets:
        fail(f"{results}: no result sets", 2)
    return sorted(sets)


def compare_regressions(binary, sets, work):
    """(cell regressions, flavor regressions across their cells) as `htab-mem compare` counts
    them for the newest set against its same-run baseline or the set before (each side's
    files' cells joined into one file, as the dashboard judges them together), or None when
    it does not apply."""
    # The newest set's baseline measured in the same run, when it has one, else the set
    # before, as the dashboard chooses.
    pair = None
    if sets:
        same_run = set_files(sets[-1][2][0][0].parent / "baseline")
        if same_run:
            pair = [same_run, sets[-1][2]]
    if pair is None and len(sets) >= 2:
        pair = [sets[-2][2], sets[-1][2]]
    if pair is None:
        return None
    paths = []
    for i, files in enumerate(pair):
        doc = dict(files[0][1], results=[c for _, d in files for c in d["results"]])
        paths.append(work / f"joined-{i}.json")
        paths[-1].write_text(json.dumps(doc))
    r = subprocess.run([str(binary), "compare", str(paths[0]), str(paths[1])],
                       capture_output=True, text=True)
    m = re.search(r"(\d+) regressions and (\d+) flavor regressions", r.stdout)
    if r.returncode > 1 or not m:
        fail(f"htab-mem compare failed: {r.stderr.strip()}", 2)
    return int(m.group(1)), int(m.group(2))


# Each benchmark's use cases in table order (htab-mem's: the kernel's; the page keeps it but
# puts no_op last), benchmarks in the page's order.
USE_CASES = {
    "htab-mem": ["no_op", "overwrite", "batch_add_batch_del", "add_del_on_diff_cpu",
                 "lookup_verify"],
    "map-perf-test": ["hash_prealloc", "percpu_hash_prealloc", "hash_kmalloc",
                      "percpu_hash_kmalloc", "lru_hash_prealloc", "nocommon_lru_hash_prealloc",
                      "hash_lookup", "array_lookup", "lru_hash_lookup"],
    "kfree-rcu": ["kfree"],
}


def bench_of(c):
    return c.get("benchmark", "htab-mem")


def page_order(cells):
    """(benchmark, use case) groups with measured cells outside sweeps, in the page's
    order: htab-mem's (no_op last), then map-perf-test's, then kfree-rcu's."""
    out = []
    for bench, known in USE_CASES.items():
        ucs = {c["use_case"] for c in cells if bench_of(c) == bench
               and c["status"] != "error" and not c.get("pacing")}
        order = [u for u in known if u in ucs] + sorted(ucs - set(known))
        if bench == "htab-mem":
            order = [u for u in order if u != "no_op"] + [u for u in order if u == "no_op"]
        out += [(bench, u) for u in order]
    return out


def section_id(group):
    bench, uc = group
    return f"uc-{uc}" if bench == "htab-mem" else f"uc-{bench}-{uc}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(QuietHandler, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", help="htab-mem binary (default: cargo build --release)")
    ap.add_argument("--results", help="folder of result sets (default: synthetic)")
    ap.add_argument("--screenshot", help="also write a PNG of the dashboard here")
    a = ap.parse_args()
    t0 = time.monotonic()
    ensure_chromium()
    binary = find_binary(a.bin)
    work = pathlib.Path(tempfile.mkdtemp(prefix="htab-mem-dash-"))
    try:
        if a.results:
            results = pathlib.Path(a.results).resolve()
        else:
            results = work / "results"
            synthetic_sets(results)
        site = work / "site"
        r = subprocess.run([str(binary), "dashboard", "--results", str(results),
                            "--out", str(site)], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"htab-mem dashboard failed: {r.stderr.strip()}")
        (site / "__check.html").write_text(CHECK_PAGE)
        srv = serve(site)
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        try:
            r = subprocess.run(chromium_flags(work / "profile") + [
                "--virtual-time-budget=20000", "--dump-dom", f"{base}/__check.html"],
                capture_output=True, text=True, timeout=90)
            if a.screenshot:
                subprocess.run(chromium_flags(work / "profile2") + [
                    "--window-size=1280,2400", f"--screenshot={a.screenshot}",
                    f"{base}/index.html"], capture_output=True, timeout=90)
        finally:
            srv.shutdown()
        m = re.search(r'<pre id="result">(.*?)</pre>', r.stdout, re.S)
        if not m:
            fail(f"chromium gave no result (status {r.returncode}): {r.stderr.strip()[-800:]}")
        raw = html.unescape(m.group(1))
        if not raw.startswith("{"):
            fail(f"the check page says: {raw[:500]}")
        got = json.loads(raw)
        sets = result_sets(results)
        name, cells = sets[-1][1], [c for _, doc in sets[-1][2] for c in doc["results"]]
        failures = check(got, name, cells, site)
        failures += check_answer_first(got, cells, len(sets),
                                       compare_regressions(binary, sets, work))
        failures += check_benchmarks(got, cells)
        checks = 5
        elapsed = time.monotonic() - t0
        for f in failures:
            print(f"FAIL {f}", file=sys.stderr)
        benches = sorted({g["benchmark"] for g in got["groups"]})
        print(f"test_dashboard: {len(got['plots'])} plots ({len(got['tradeoff'])} trade-off), "
              f"{len(got['rows'])} table rows, {got['history']} history tables, section order "
              f"({', '.join(benches)}) and what changed checked in Chromium ({elapsed:.1f} s)")
        bad = 1 if failures else 0
        print(f"dashboard: {checks - bad} passed, {bad} failed")
        return 1 if failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check(got, set_name, cells, site):
    """The reasons the page is wrong; empty when it is right."""
    bad = []
    if got["latest"] != set_name:
        bad.append(f"latest set shown is {got['latest']!r}, expected {set_name!r}")
    svgs = sorted(p.name for p in site.glob("*.svg"))
    srcs = sorted(p["src"] for p in got["plots"])
    if not srcs or srcs != svgs:
        bad.append(f"page shows {srcs}, folder holds {svgs}")
    for p in got["plots"]:
        # A rendered plot: decoded, and ink in several colours (axes, text, series).
        if not p["decoded"] or p["w"] < 100 or p["h"] < 100:
            bad.append(f"plot {p['src']} did not load ({p})")
        elif p["inked"] < 0.01 * p["w"] * p["h"] or p["colors"] < 4:
            bad.append(f"plot {p['src']} is blank ({p['inked']} inked pixels, "
                       f"{p['colors']} colours)")
    for c in cells:
        row = got["rows"].get(c["id"])
        if row is None:
            bad.append(f"no table row for {c['id']}")
            continue
        if c["status"] == "error":
            continue
        for metric, scale in METRICS.items():
            # Memory as shown: charged when the cell has it.
            want = c["metrics"].get(metric + "_charged") or c["metrics"][metric]
            td = row.get(metric)
            if td is None:
                bad.append(f"{c['id']}: no {metric} column")
                continue
            v = float(td["value"])
            if abs(v - want["value"]) > 1e-12 * max(abs(v), abs(want["value"])):
                bad.append(f"{c['id']} {metric}: page value {v}, file {want['value']}")
            text = f"{want['value'] / scale:.2f}"
            ci = (c.get("ci95") or {}).get(metric)
            if ci is not None and metric in ("loops_per_sec_per_producer", "loops_per_sec",
                                             "mem_avg"):
                text += f" [{ci[0] / scale:.2f}, {ci[1] / scale:.2f}]"
            elif metric == "loops_per_sec_per_producer" and want.get("stddev") is not None:
                text += f" ± {want['stddev'] / scale:.2f}"
            if td["text"] != text:
                bad.append(f"{c['id']} {metric}: page shows {td['text']!r}, file gives {text!r}")
        leaked = row.get("leaked", {}).get("value")
        if leaked != str(c["allocator"]["leaked"]):
            bad.append(f"{c['id']} leaked: page {leaked}, file {c['allocator']['leaked']}")
    if got["history"] < 1:
        bad.append("no history table")
    return bad


def check_answer_first(got, cells, n_sets, regressions):
    """The top of the page: trade-off figures, then what changed; no_op last."""
    bad = []
    order = page_order(cells)
    secs = got["sections"]
    want = ["tradeoff", "changes"] + [section_id(g) for g in order] + ["history"]
    if secs != want:
        bad.append(f"sections in order {secs}, expected {want}")
    figs = got["tradeoff"]
    if [(f["benchmark"], f["use_case"]) for f in figs] != order:
        bad.append(f"trade-off figures for {[f['use_case'] for f in figs]}, expected {order}")
    for f in figs:
        measured = [c for c in cells if c["use_case"] == f["use_case"]
                    and bench_of(c) == f["benchmark"]
                    and c["status"] != "error" and not c.get("pacing")]
        flavors = {c["flavor"] for c in measured}
        if f["parse_error"]:
            bad.append(f"{f['src']} does not parse as SVG")
        if f["points"] != len(measured):
            bad.append(f"{f['src']}: page says {f['points']} points, the set has "
                       f"{len(measured)} measured cells")
        # Two panels (average and peak memory), a marker per cell in each.
        if f["markers"] != 2 * len(measured):
            bad.append(f"{f['src']}: {f['markers']} markers, expected {2 * len(measured)}")
        if set(f["flavors"]) != flavors:
            bad.append(f"{f['src']}: flavors {f['flavors']}, the set has {sorted(flavors)}")
        if f["colors"] != min(len(flavors), 12):
            bad.append(f"{f['src']}: markers in {f['colors']} colours for {len(flavors)} flavors")
    ch = got["changes"]
    if ch is None:
        bad.append("no 'what changed' section")
    elif n_sets < 2 and regressions is None:
        if "nothing to compare with" not in ch["text"]:
            bad.append("one result set, but 'what changed' does not say so")
    else:
        cell_regressions, flavors = regressions if regressions is not None \
            else (int(ch["regressions"]), 0)
        if regressions is not None and ch["regressions"] != str(cell_regressions + flavors):
            bad.append(f"'what changed' counts {ch['regressions']} regressions, "
                       f"htab-mem compare {cell_regressions} cells and {flavors} flavors")
        # The per-flavor verdicts first, then the cells that regressed, then the rest.
        want_tables = ["changes flavors"] \
            + (["changes regressions"] if cell_regressions else []) + ["changes judged"]
        if ch["tables"] != want_tables:
            bad.append(f"'what changed' tables {ch['tables']}, expected {want_tables}")
    return bad


def check_benchmarks(got, cells):
    """Each benchmark of the set has its sections, headed by its name (htab-mem's by the use
    case alone), with the rate column in its unit, and its plots; memory-over-time plots only
    where the cells have samples (htab-mem's)."""
    bad = []
    present = {bench_of(c) for c in cells}
    seen = {g["benchmark"] for g in got["groups"]}
    if seen != present:
        bad.append(f"sections for {sorted(seen)}, the set holds {sorted(present)}")
    for g in got["groups"]:
        bench = g["benchmark"]
        rate, worker = UNITS.get(bench, ("?", "?"))
        want = "loop (k/s) per producer" if bench == "htab-mem" else f"k {rate} per {worker}"
        if not g["rate"] or any(t != want for t in g["rate"]):
            bad.append(f"{g['id']}: rate columns {g['rate']}, expected {want!r}")
        if bench != "htab-mem" and not g["h2"].startswith(bench + " "):
            bad.append(f"{g['id']}: heading {g['h2']!r} does not name {bench}")
        prefix = "" if bench == "htab-mem" else bench + "-"
        if not any(p.endswith("-bars.svg") and p.startswith(prefix) for p in g["plots"]):
            bad.append(f"{g['id']}: no bars plot among {g['plots']}")
        if bench != "htab-mem" and any(p.endswith("-memory.svg") for p in g["plots"]):
            bad.append(f"{g['id']}: a memory-over-time plot without samples")
    return bad


if __name__ == "__main__":
    sys.exit(main())
