//! The memory model's arithmetic, its JSON section and the --explain-memory table.

use allocators::{AllocStats, HoldStats, HoldSummary};
use harness::memory_model::{Inputs, MemoryModel, Standing};
use harness::report::memory_model_table;
use harness::result::{CellResult, DomainReport};

/// A 72-byte bpf_ma unit, charged at kmalloc-96: the model works in charged bytes.
const UNIT: usize = 96;
const UNIT_RAW: usize = 72;

fn before() -> HoldStats {
    HoldStats {
        frees: 1_000,
        entries: 1_000,
        // Every sampled object has left: no age of a held one to add.
        stamped: 15,
        stamp_sum_in: 1234,
        stamp_sum_out: 1234,
        at_ns: 1_000_000_000,
        to_reuse: HoldSummary {
            count: 10,
            sum_ns: 123,
            ..Default::default()
        },
        to_slab: HoldSummary {
            count: 5,
            sum_ns: 456,
            ..Default::default()
        },
        batch_fill_ns: 7,
        batch_fill_n: 3,
        after_gp_obj_ns: 11.0,
    }
}

/// `h` and `n` more holds of `mean_ns` each, with these cumulative p50 and p99.
fn grown(h: &HoldSummary, n: u64, mean_ns: u64, [p50_ns, p99_ns]: [u64; 2]) -> HoldSummary {
    HoldSummary {
        count: h.count + n,
        sum_ns: h.sum_ns + n * mean_ns,
        p50_ns,
        p99_ns,
        max_ns: p99_ns,
    }
}

/// 2 s window: 1,000,000 frees, 1,200,000 entries (200,000 spills), 1000 sampled exits
/// holding 10 ms on average (600 reused after 5 ms, 400 returned after 17.5 ms).
fn after() -> HoldStats {
    let b = before();
    HoldStats {
        frees: b.frees + 1_000_000,
        entries: b.entries + 1_200_000,
        stamped: b.stamped + 1000,
        stamp_sum_in: b.stamp_sum_in + 5_555,
        stamp_sum_out: b.stamp_sum_out + 5_555,
        at_ns: 3_000_000_000,
        to_reuse: grown(&b.to_reuse, 600, 5_000_000, [5_000_000, 6_000_000]),
        to_slab: grown(&b.to_slab, 400, 17_500_000, [17_000_000, 20_000_000]),
        batch_fill_ns: b.batch_fill_ns + 50 * 200_000,
        batch_fill_n: b.batch_fill_n + 50,
        // 1e6 frees x 3 ms on the post-GP lists.
        after_gp_obj_ns: b.after_gp_obj_ns + 3e12,
    }
}

fn standing() -> Standing {
    let mut s = Standing::default();
    // Two samples: in use 1000 and 3000, cached 10 and 30, waiting 100 and 300;
    // outstanding = in_use + cached + waiting; 1 MiB of other heap each time.
    for k in [1i64, 3] {
        let st = AllocStats {
            from_slab: (1110 * k) as u64 + 50,
            to_slab: 50,
            in_use: 1000 * k,
            waiting_gp: 100 * k,
            cached: 10 * k,
            leaked: 0,
        };
        let live = 1110 * k * UNIT as i64 + (1 << 20);
        s.add(&st, live, UNIT);
    }
    s
}

fn rcu_report() -> DomainReport {
    DomainReport {
        domain: "rcu".into(),
        cb_latency_samples: 9,
        cb_latency_mean_ns: 6_000_000,
        cb_wait_gp_start_mean_ns: 1_000_000,
        cb_in_gp_mean_ns: 2_000_000,
        cb_wait_invoke_mean_ns: 3_000_000,
        ..Default::default()
    }
}

fn model() -> MemoryModel {
    model_with(after())
}

fn model_with(a: HoldStats) -> MemoryModel {
    let (b, s, d) = (before(), standing(), rcu_report());
    MemoryModel::compute(&Inputs {
        window_s: 2.0,
        unit: UNIT,
        unit_raw: UNIT_RAW,
        before: &b,
        after: &a,
        standing: &s,
        mem_avg_bytes: 4_000_000.0,
        mem_avg_stderr_bytes: 100_000.0,
        rcu: Some(&d),
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn prediction_is_rate_times_hold_times_unit_plus_standing() {
    let m = model();
    assert!(close(m.frees_per_s, 500_000.0), "{m:?}");
    assert!(close(m.entries_per_s, 600_000.0));
    assert!(close(m.mean_hold_per_entry_ns, 10_000_000.0));
    // 600k entries/s x 10 ms = 6000 objects deferred, = 500k frees/s x 12 ms.
    assert!(close(m.deferred_bytes, 6000.0 * UNIT as f64));
    assert!(close(m.mean_held_ns, 12_000_000.0));
    assert!(close(m.completed_hold_mean_ns, 10_000_000.0));
    assert_eq!((m.sampled_held_start, m.sampled_held_end), (0, 0));
    assert_eq!(m.to_reuse.count, 600);
    assert!(close(m.to_reuse.mean_ns, 5_000_000.0));
    assert_eq!(m.to_slab.count, 400);
    assert!(close(m.to_slab.mean_ns, 17_500_000.0));
    assert_eq!(m.to_slab.p99_ns, 20_000_000);
    // Standing: time averages of the two samples.
    assert!(close(m.in_use_bytes, 2000.0 * UNIT as f64));
    assert!(close(m.cached_bytes, 20.0 * UNIT as f64));
    assert!(close(m.other_heap_bytes, (1 << 20) as f64));
    assert!(close(m.deferred_measured_bytes, 200.0 * UNIT as f64));
    assert!(close(
        m.predicted_bytes,
        (6000.0 + 2000.0 + 20.0) * UNIT as f64 + (1 << 20) as f64
    ));
    assert!(close(m.ratio(), m.predicted_bytes / 4_000_000.0));
    assert!(close(m.deferred_ratio(), 30.0));
    // The live heap's 10 ms average: (1110 + 3330) / 2 units plus 1 MiB.
    let live = 2220.0 * UNIT as f64 + (1 << 20) as f64;
    assert!(close(m.measured_10ms_avg_bytes, live));
    assert!(close(m.ratio_10ms(), m.predicted_bytes / live));
    assert_eq!(m.unit_bytes, UNIT as u64);
    assert_eq!(m.measured_avg_stderr_bytes, 100_000.0);
}

/// A backlog growing in the window: 100 more sampled objects entered at 2.5 s and were still
/// held at the end (3 s). Their 0.5 s each count; the completed holds alone do not see them.
#[test]
fn objects_still_held_at_the_end_count_with_their_age() {
    let mut a = after();
    a.stamped += 100;
    a.entries += 120_000;
    a.stamp_sum_in += 100 * 2_500_000_000;
    let m = model_with(a);
    assert_eq!(m.sampled_held_end, 100);
    assert!(close(m.completed_hold_mean_ns, 10_000_000.0));
    // (1000 x 10 ms + 100 x 500 ms) / 1100 sampled entries.
    let per_entry = (1e10 + 5e10) / 1100.0;
    assert!(close(m.mean_hold_per_entry_ns, per_entry), "{m:?}");
    assert!(close(m.entries_per_s, 660_000.0));
    assert!(close(
        m.deferred_bytes,
        660_000.0 * per_entry / 1e9 * UNIT as f64
    ));
}

#[test]
fn stages_come_from_the_samples_the_domain_and_the_lists() {
    let st = model().stages;
    assert!(close(st.batch_fill_ns, 200_000.0), "{st:?}");
    assert!(close(st.pacing_ns, 1_000_000.0));
    assert!(close(st.gp_ns, 2_000_000.0));
    assert!(close(st.cb_wait_ns, 3_000_000.0));
    assert!(close(st.tasks_trace_ns, 3_000_000.0));
    assert!(close(st.sum_ns(), 9_200_000.0));
}

#[test]
fn no_rcu_callbacks_no_rcu_stages_and_empty_windows_are_zero() {
    let (b, s) = (before(), Standing::default());
    let mut d = rcu_report();
    d.cb_latency_samples = 0;
    let m = MemoryModel::compute(&Inputs {
        window_s: 1.0,
        unit: UNIT,
        unit_raw: UNIT_RAW,
        before: &b,
        after: &b,
        standing: &s,
        mem_avg_bytes: 0.0,
        mem_avg_stderr_bytes: 0.0,
        rcu: Some(&d),
    });
    assert_eq!(m.stages.pacing_ns, 0.0);
    assert_eq!(m.stages.sum_ns(), 0.0);
    assert_eq!(m.mean_held_ns, 0.0);
    assert_eq!(m.predicted_bytes, 0.0);
    assert_eq!(m.ratio(), 0.0);
}

const OLD_CELL: &str = r#"{"id": "htab-mem/overwrite/free-rcu/p2", "use_case": "overwrite",
 "flavor": "free-rcu", "producers": 2, "status": "ok", "samples": [],
 "metrics": {"loops_per_sec": {"value": 1, "unit": "loops/s"},
   "loops_per_sec_per_producer": {"value": 1, "unit": "loops/s"},
   "mem_avg": {"value": 1, "unit": "bytes"}, "mem_peak": {"value": 1, "unit": "bytes"},
   "rss_peak": {"value": 1, "unit": "bytes"}},
 "allocator": {"from_system": 0, "to_system": 0, "leaked": 0}}"#;

#[test]
fn json_round_trips_and_old_cells_still_parse() {
    let mut c: CellResult = serde_json::from_str(OLD_CELL).unwrap();
    assert_eq!(c.memory_model, None);
    // Absent stays absent: a cell without a model writes no key.
    let v = serde_json::to_value(&c).unwrap();
    assert!(v.get("memory_model").is_none());

    c.memory_model = Some(model());
    let text = serde_json::to_string(&c).unwrap();
    let back: CellResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, c);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let m = &v["memory_model"];
    assert_eq!(m["unit_bytes"], 96);
    assert_eq!(m["unit_raw_bytes"], 72);
    assert!(m["stages"]["tasks_trace_ns"].is_number());
    assert!(m["predicted_bytes"].is_number());
}

#[test]
fn table_has_a_row_per_cell_and_dashes_without_a_model() {
    let old: CellResult = serde_json::from_str(OLD_CELL).unwrap();
    let mut new = old.clone();
    new.flavor = "reuse-after-gp".into();
    new.memory_model = Some(model());
    let t = memory_model_table(&[new, old]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].contains("mean held (ms)") && lines[0].contains("tasks-trace (ms)"));
    assert!(
        lines[2].contains("reuse-after-gp") && lines[2].contains("500.00k"),
        "{t}"
    );
    assert!(lines[2].contains("12.000"), "mean held per free, ms: {t}");
    assert!(
        lines[2].contains("3.81 ± 0.10"),
        "mem_avg with its stderr: {t}"
    );
    assert!(
        lines[3].starts_with("| free-rcu") && lines[3].contains(" - "),
        "{t}"
    );
}
