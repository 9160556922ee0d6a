//! `convert-kubeconfig`: from a kubeconfig that logs in through a plugin (OIDC, `aws eks
//! get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) to one with a ServiceAccount token that
//! works without a browser or a cloud CLI. Progress goes to stderr, so stdout can carry the
//! kubeconfig.

use crate::convert::{self, Access, Options, TokenKind};
use crate::hub::Global;
use crate::login::Target;
use crate::output::yaml;
use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use extcluster_remote::kubeconfig::{self, Entry, Resolved, file, shell_quote};
use k8s_openapi::jiff::Timestamp;
use kube::config::Kubeconfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Make a kubeconfig with a ServiceAccount token from one that logs in through a plugin (exec, OIDC)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # A token kubeconfig for the current context, full access, to a new file
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks -o eks-token.kubeconfig

  # Read-only, with a token that expires in 30 days
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --from-context prod \\
      --access read-only --token bound --duration 720h -o prod-ro.kubeconfig

  # Every context of a file, rewritten in place (other contexts are kept)
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/gke --all-contexts --in-place

  # Replace a leaked token: the old one stops working
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/.kube/eks --rotate -o eks-token.kubeconfig")]
pub struct ConvertArgs {
    /// The kubeconfig to convert (its users may log in with exec plugins or OIDC)
    #[arg(long, value_name = "FILE")]
    pub from_kubeconfig: PathBuf,
    /// The context to convert (default: the file's current-context)
    #[arg(long, value_name = "CONTEXT", conflicts_with = "all_contexts")]
    pub from_context: Option<String>,
    /// Convert every context in the file
    #[arg(long)]
    pub all_contexts: bool,
    /// The namespace of the ServiceAccount
    #[arg(long, default_value = "kube-system", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The ServiceAccount to make (or reuse) [default: extcluster-manager for full access,
    /// extcluster-reader for read-only]; one account never serves both
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// full (a binding to cluster-admin) or read-only (get, list, watch on everything)
    #[arg(long, value_enum, default_value = "full", value_name = "ACCESS")]
    pub access: AccessArg,
    /// secret (a token Secret, lives until rotated) or bound (a TokenRequest token valid for --duration)
    #[arg(long, value_enum, default_value = "secret", value_name = "KIND")]
    pub token: TokenArg,
    /// How long a bound token is valid, as kubectl writes durations [default: 8760h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Write the new kubeconfig to FILE (mode 0600, atomically) instead of stdout (`-`)
    #[arg(short, long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Rewrite --from-kubeconfig itself: converted contexts use the token, the rest is kept
    #[arg(long)]
    pub in_place: bool,
    /// Replace the token, so a leaked one stops working
    #[arg(long)]
    pub rotate: bool,
}

/// `--access`, as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessArg {
    /// A ClusterRoleBinding to cluster-admin.
    Full,
    /// A ClusterRole with get, list, watch on everything (and get on non-resource URLs).
    ReadOnly,
}

impl From<AccessArg> for Access {
    fn from(a: AccessArg) -> Self {
        match a {
            AccessArg::Full => Access::Full,
            AccessArg::ReadOnly => Access::ReadOnly,
        }
    }
}

/// `--token`, as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenArg {
    /// A kubernetes.io/service-account-token Secret, filled by the token controller; lives until
    /// rotated.
    Secret,
    /// A token from the TokenRequest API, valid for --duration.
    Bound,
}

impl From<TokenArg> for TokenKind {
    fn from(t: TokenArg) -> Self {
        match t {
            TokenArg::Secret => TokenKind::Secret,
            TokenArg::Bound => TokenKind::Bound,
        }
    }
}

/// A duration the way kubectl (Go's `time.ParseDuration`) reads it: `8760h`, `30m`, `1h30m`,
/// `3600s`, `1.5h`. Negative ones are refused: nothing here can last less than nothing.
fn parse_duration(s: &str) -> Result<Duration, String> {
    extcluster_core::duration::parse(s).map_err(|why| {
        format!(
            "{s:?} is not a duration ({why}); write it like kubectl does: 8760h, 30m, 1h30m, 3600s"
        )
    })
}

pub async fn run(global: &Global, args: &ConvertArgs) -> Result<()> {
    let opts = options(args)?;
    let path = &args.from_kubeconfig;
    let shown = path.display().to_string();
    let kc = kubeconfig::read(path)?;
    // Every context is checked before anything is made in any cluster.
    let resolved = contexts(args, &kc, &shown)?;
    let original = if args.in_place {
        Some(file::read_value(path).map_err(|why| {
            anyhow!("cannot read {shown} to rewrite it in place: {why}; nothing was changed")
        })?)
    } else {
        None
    };
    // `-o -` is standard output, as kubectl and most tools read it.
    let output = args.output.as_ref().filter(|o| o.as_os_str() != "-");
    if let Some(out) = output {
        check_folder(out)?;
    }

    let mut entries = Vec::new();
    let mut expiry = None;
    for r in resolved {
        eprintln!("Converting context {:?} ({}):", r.context, r.server);
        let target = Target::connect(&kc, &shown, r, global.exec_timeout).await?;
        let converted = convert::convert(&target, &opts, &mut |line| eprintln!("  {line}")).await?;
        entries.push(converted.entry);
        expiry = expiry.or(converted.expires);
    }
    match (output, original) {
        (_, Some(original)) => rewrite(path, original, &entries, expiry),
        (Some(out), None) => write_new(out, &kc, &entries, expiry),
        (None, None) => {
            if let Some(t) = expiry {
                eprintln!("{}", expiry_note(t).trim_start_matches("; "));
            }
            let current = entries[0].context.clone();
            print!("{}", yaml(&file::build(&entries, &current))?);
            Ok(())
        }
    }
}

fn options(args: &ConvertArgs) -> Result<Options> {
    let token = TokenKind::from(args.token);
    if args.duration.is_some() && token != TokenKind::Bound {
        bail!("--duration sets the lifetime of a bound token; pass it with --token bound");
    }
    let access = Access::from(args.access);
    let opts = Options {
        namespace: args.namespace.clone(),
        service_account: args
            .service_account
            .clone()
            .unwrap_or_else(|| access.default_service_account().to_owned()),
        access,
        token,
        duration: args
            .duration
            .unwrap_or(Options::for_mode(access.mode()).duration),
        rotate: args.rotate,
    };
    opts.check()?;
    Ok(opts)
}

/// The contexts to convert, resolved.
fn contexts(args: &ConvertArgs, kc: &Kubeconfig, shown: &str) -> Result<Vec<Resolved>> {
    let names: Vec<Option<String>> = if args.all_contexts {
        if kc.contexts.is_empty() {
            bail!(
                "{shown} has no contexts; give --from-kubeconfig a kubeconfig with at least one context"
            );
        }
        kc.contexts.iter().map(|c| Some(c.name.clone())).collect()
    } else {
        vec![args.from_context.clone()]
    };
    Ok(names
        .iter()
        .map(|n| kubeconfig::resolve(kc, shown, n.as_deref()))
        .collect::<Result<_, _>>()?)
}

fn check_folder(out: &Path) -> Result<()> {
    if let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        bail!(
            "cannot write {}: folder {} does not exist; create it or pass another -o",
            out.display(),
            parent.display()
        );
    }
    Ok(())
}

fn expiry_note(expires: Timestamp) -> String {
    format!("; the token expires at {expires}, run this again before then")
}

fn context_list(entries: &[Entry]) -> String {
    let contexts: Vec<String> = entries.iter().map(|e| format!("{:?}", e.context)).collect();
    contexts.join(", ")
}

/// `--in-place`: the converted contexts use their tokens, the rest of the file is kept.
fn rewrite(
    path: &Path,
    original: serde_json::Value,
    entries: &[Entry],
    expiry: Option<Timestamp>,
) -> Result<()> {
    let shown = path.display();
    let merged = file::merge(original, entries);
    let written = file::write_atomic(path, yaml(&merged)?.as_bytes())
        .map_err(|e| anyhow!("cannot rewrite {shown}: {e}; it was left as it was"))?;
    println!(
        "{} rewritten (mode 0600): context {} now use{} a ServiceAccount token; its other contexts are unchanged{}",
        written.display(),
        context_list(entries),
        if entries.len() == 1 { "s" } else { "" },
        expiry.map(expiry_note).unwrap_or_default()
    );
    Ok(())
}

/// `-o FILE`: a new kubeconfig with only the converted contexts.
fn write_new(
    out: &Path,
    kc: &Kubeconfig,
    entries: &[Entry],
    expiry: Option<Timestamp>,
) -> Result<()> {
    let current = kc
        .current_context
        .as_deref()
        .filter(|c| entries.iter().any(|e| e.context == *c))
        .unwrap_or(&entries[0].context)
        .to_owned();
    let built = file::build(entries, &current);
    file::write_atomic(out, yaml(&built)?.as_bytes()).map_err(|e| {
        anyhow!(
            "cannot write {}: {e}; an existing file there was left as it was",
            out.display()
        )
    })?;
    let quoted = shell_quote(&out.display().to_string());
    println!(
        "{} written (mode 0600) with context {}; use it with `kubectl --kubeconfig {quoted} get namespaces`, or register it with `kubectl extcluster register NAME --from-kubeconfig {quoted}`{}",
        out.display(),
        context_list(entries),
        expiry.map(expiry_note).unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        let cases = [
            ("8760h", 8760 * 3600),
            ("30m", 1800),
            ("3600s", 3600),
            ("1h30m", 5400),
            ("1h30m15s", 5415),
            ("1.5h", 5400),
            ("0", 0),
            ("+10m", 600),
            ("90m", 5400),
            (" 10m ", 600),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        for bad in [
            "",
            "10",
            "10d",
            "-5m",
            "h",
            "1..5h",
            "1h 30m",
            "abc",
            ".",
            "10days",
            "99999999999999999999h",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(
                err.contains("not a duration") && err.contains("8760h"),
                "{err}"
            );
        }
        assert!(
            parse_duration("10")
                .unwrap_err()
                .contains("unit is missing")
        );
        assert_eq!(convert::go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(
            convert::go_duration(Duration::from_secs(8760 * 3600)),
            "8760h0m0s"
        );
    }
}
