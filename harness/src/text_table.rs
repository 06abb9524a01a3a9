//! Markdown tables padded so they also read well as plain text (the mailing-list shape).

/// Renders `header` and `rows` as a markdown table, every column padded to its widest
/// cell in chars ('±' is one column but two bytes), separator cells `--` as in the seeds.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut all: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    all.extend(rows.iter().cloned());
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            all.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| -> String {
        let padded: Vec<String> = (0..n)
            .map(|c| {
                let s = row.get(c).map_or("", String::as_str);
                let w = widths[c];
                format!("{s:<w$}")
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&all[0]);
    out.push_str(&line(&vec!["--".to_string(); n]));
    for row in &all[1..] {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_in_chars() {
        let t = render(
            &["name", "loop (k/s)"],
            &[vec!["a".into(), "1.00 ± 2.00".into()]],
        );
        assert_eq!(
            t,
            "| name | loop (k/s)  |\n| --   | --          |\n| a    | 1.00 ± 2.00 |\n"
        );
    }
}
