//! The load generators, pinned to CPU 1: wrk for saturation, oha for fixed rates and handshakes.

use anyhow::{Context, Result, bail};
use extcluster_tests::{bins, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where wrk and oha are installed.
pub struct LoadGenerators {
    wrk: PathBuf,
    oha: PathBuf,
}

pub struct WrkResult {
    pub rps: f64,
    pub p50: String,
    pub p99: String,
    pub errors: u64,
}

pub struct OhaResult {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

impl OhaResult {
    /// Each figure's median over `runs`.
    pub fn median(runs: &[OhaResult]) -> OhaResult {
        let of = |field: fn(&OhaResult) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(field).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        OhaResult {
            rps: of(|r| r.rps),
            p50: of(|r| r.p50),
            p99: of(|r| r.p99),
            p999: of(|r| r.p999),
        }
    }

    pub fn latencies(&self) -> String {
        format!(
            "{:.2}/{:.2}/{:.2} ms",
            self.p50 * 1e3,
            self.p99 * 1e3,
            self.p999 * 1e3
        )
    }
}

impl LoadGenerators {
    pub fn find() -> Result<Self> {
        let wrk = which("wrk").context(
            "wrk is not installed (apt-get install wrk); run `make bench`, which installs it",
        )?;
        let cached = bins::tools_dir().join("bin/oha");
        let oha = which("oha")
            .or_else(|| cached.exists().then_some(cached))
            .context("oha is not installed; run `make bench`, which installs it")?;
        Ok(Self { wrk, oha })
    }

    pub fn wrk(&self, url: &str, body: &Path, secs: u64) -> Result<WrkResult> {
        let out = Command::new("taskset")
            .args(["-c", "1"])
            .arg(&self.wrk)
            .args(["-t1", "-c32", &format!("-d{secs}s"), "--latency", "-s"])
            .arg(repo_root().join("bench/post.lua"))
            .arg(url)
            .env("BODY_FILE", body)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |prefix: &str| -> Option<String> {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
        };
        let rps = field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("wrk said:\n{text}"))?;
        let non_2xx: u64 = text
            .lines()
            .find(|l| l.contains("Non-2xx"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let socket: u64 = text
            .lines()
            .find(|l| l.contains("Socket errors"))
            .map(|l| {
                l.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        Ok(WrkResult {
            rps,
            p50: field("50%").unwrap_or_default(),
            p99: field("99%").unwrap_or_default(),
            errors: non_2xx + socket,
        })
    }

    fn oha(&self, args: &[String]) -> Result<OhaResult> {
        let out = Command::new("taskset")
            .args(["-c", "1"])
            .arg(&self.oha)
            .args(args)
            .output()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("oha said: {}", String::from_utf8_lossy(&out.stderr)))?;
        let pct = |k: &str| json["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN);
        let ok = json["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
        let total: u64 = json["statusCodeDistribution"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        // Requests cut off when the -z window closes are not failures of the server.
        let errors: u64 = json["errorDistribution"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !k.contains("deadline"))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0);
        if ok == 0 || ok != total || errors > 0 {
            bail!(
                "oha saw failures: {} {}",
                json["statusCodeDistribution"],
                json["errorDistribution"]
            );
        }
        Ok(OhaResult {
            rps: json["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
            p50: pct("p50"),
            p99: pct("p99"),
            p999: pct("p99.9"),
        })
    }

    fn common(url: &str, body: &Path, secs: u64) -> Vec<String> {
        vec![
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            "--insecure".into(),
            "-m".into(),
            "POST".into(),
            "-T".into(),
            "application/json".into(),
            "-D".into(),
            body.display().to_string(),
            "-z".into(),
            format!("{secs}s"),
            url.to_owned(),
        ]
    }

    pub fn oha_rate(&self, url: &str, body: &Path, rate: u32, secs: u64) -> Result<OhaResult> {
        let mut args = vec![
            "-c".into(),
            "16".into(),
            "-q".into(),
            rate.to_string(),
            "--latency-correction".into(),
        ];
        args.extend(Self::common(url, body, secs));
        self.oha(&args)
    }

    pub fn oha_plain_rate(&self, url: &str, rate: u32, secs: u64) -> Result<OhaResult> {
        let args: Vec<String> = vec![
            "-c".into(),
            "16".into(),
            "-q".into(),
            rate.to_string(),
            "--latency-correction".into(),
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            "-z".into(),
            format!("{secs}s"),
            url.to_owned(),
        ];
        self.oha(&args)
    }

    pub fn oha_handshakes(&self, url: &str, body: &Path, secs: u64) -> Result<OhaResult> {
        let mut args = vec!["-c".into(), "32".into(), "--disable-keepalive".into()];
        args.extend(Self::common(url, body, secs));
        self.oha(&args)
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}
