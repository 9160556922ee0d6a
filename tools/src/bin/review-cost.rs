//! `review-cost FIXTURE COUNT`: the webhook's answer to one review body, COUNT times, in process,
//! against a synced registry of ten registrations. `make bench` runs it under callgrind with two
//! counts; the difference in instructions, divided by the difference in reviews, is what one
//! review costs, start-up excluded. `--show` prints the first answer, to see which path it took.

use anyhow::{Context, Result, bail};
use extcluster_core::policy::Policy;
use extcluster_webhook::admission::Webhook;
use std::hint::black_box;
use std::time::Duration;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, count) = match args.as_slice() {
        [file, count, ..] => (file, count.parse::<u32>().context("COUNT is a number")?),
        _ => bail!("usage: review-cost FIXTURE COUNT [--show]"),
    };
    let body = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let webhook = Webhook::new(Policy::default(), Duration::from_secs(15));
    webhook.registry.update(|index| {
        for n in 0..10 {
            index.upsert(
                &format!("cluster-{n}"),
                &format!("0b5e2a61-0000-4000-8000-{n:012}"),
                true,
            );
        }
    });
    webhook.registry.sync().mark_synced();
    if args.iter().any(|a| a == "--show") {
        let reply = webhook.review(&body);
        println!("{} {}", reply.status, String::from_utf8_lossy(&reply.body));
    }
    for _ in 0..count {
        black_box(webhook.review(black_box(&body)));
    }
    Ok(())
}
