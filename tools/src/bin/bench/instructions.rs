//! Instructions per review, counted by callgrind: repeatable on a noisy machine where seconds are
//! not. `review-cost` answers one review body 1 and then 1,001 times in process; the difference
//! divided by 1,000 is one review's cost, start-up excluded.

use crate::{Reviews, Row, row};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// One row per kind of review.
pub fn rows(review_cost: &Path, reviews: &Reviews) -> Result<Vec<Row>> {
    reviews
        .iter()
        .map(|(kind, body)| {
            let once = collected(review_cost, body, 1)?;
            let many = collected(review_cost, body, 1_001)?;
            let per_review = many.saturating_sub(once) / 1_000;
            Ok(row(
                &format!("instructions per {kind} review (callgrind)"),
                thousands(per_review),
                "kept in docs/performance.md",
            ))
        })
        .collect()
}

/// The instructions callgrind collected over a whole run of `review-cost body count`.
fn collected(review_cost: &Path, body: &Path, count: u32) -> Result<u64> {
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(review_cost)
        .arg(body)
        .arg(count.to_string())
        .output()
        .context("running valgrind (make bench installs it)")?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("callgrind failed: {log}");
    }
    log.lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no instruction count in callgrind's output: {log}"))
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
