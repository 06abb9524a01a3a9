//! The results table: one row per measurement, one column per implementation, printed as
//! markdown; numeric values are kept for the target ratios.

use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Col {
    /// `rcu::Domain` with `DomainConfig::default()` (no grace-period pacing).
    Rcu,
    /// `rcu::Domain` with `gp_delay` 1 ms (the harness default).
    RcuPaced,
    Urcu,
    Epoch,
    EpochFlush,
}

const COLS: [(Col, &str); 5] = [
    (Col::Rcu, "rcu (gp_delay 0)"),
    (Col::RcuPaced, "rcu (gp_delay 1 ms)"),
    (Col::Urcu, "liburcu memb"),
    (Col::Epoch, "crossbeam-epoch"),
    (Col::EpochFlush, "crossbeam-epoch + flush"),
];

#[derive(Default)]
pub struct Table {
    rows: Vec<(String, HashMap<Col, String>)>,
    nums: HashMap<(String, Col), f64>,
    notes: Vec<String>,
}

impl Table {
    /// Sets a cell; `num` is kept for target ratios under the row's name.
    pub fn set(&mut self, row: &str, col: Col, text: String, num: Option<f64>) {
        let i = match self.rows.iter().position(|(r, _)| r == row) {
            Some(i) => i,
            None => {
                self.rows.push((row.to_string(), HashMap::new()));
                self.rows.len() - 1
            }
        };
        self.rows[i].1.insert(col, text);
        if let Some(v) = num {
            self.nums.insert((row.to_string(), col), v);
        }
    }

    pub fn num(&self, row: &str, col: Col) -> Option<f64> {
        self.nums.get(&(row.to_string(), col)).copied()
    }

    pub fn note(&mut self, s: String) {
        self.notes.push(s);
    }

    pub fn print(&self) {
        print!("| measurement |");
        for (_, name) in COLS {
            print!(" {name} |");
        }
        println!();
        println!("|---|{}", "---|".repeat(COLS.len()));
        for (row, cells) in &self.rows {
            print!("| {row} |");
            for (c, _) in COLS {
                print!(" {} |", cells.get(&c).map(String::as_str).unwrap_or("n/a"));
            }
            println!();
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("- {n}");
            }
        }
    }
}
