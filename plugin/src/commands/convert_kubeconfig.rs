//! `convert-kubeconfig`: from a kubeconfig that logs in through a plugin (OIDC, `aws eks
//! get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) to one with a ServiceAccount token that
//! works without a browser or a cloud CLI. Progress goes to stderr, so stdout can carry the
//! kubeconfig.

use crate::cli::ConvertArgs;
use crate::convert::{self, Options, TokenKind};
use crate::external::{self, Resolved};
use crate::kubeconfig_file;
use crate::login::Target;
use anyhow::{Result, anyhow, bail};

pub async fn run(args: &ConvertArgs) -> Result<()> {
    if args.duration.is_some() && args.token != TokenKind::Bound {
        bail!("--duration sets the lifetime of a bound token; pass it with --token bound");
    }
    let opts = Options {
        namespace: args.namespace.clone(),
        service_account: args.service_account.clone(),
        access: args.access,
        token: args.token,
        duration: args
            .duration
            .map_or(Options::for_mode(args.access.mode()).duration, |d| d.0),
        rotate: args.rotate,
    };
    opts.check()?;

    let path = &args.from_kubeconfig;
    let shown = path.display().to_string();
    let kc = external::read(path)?;
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
    // Every context is checked before anything is made in any cluster.
    let resolved: Vec<Resolved> = names
        .iter()
        .map(|n| external::resolve(&kc, &shown, n.as_deref()))
        .collect::<Result<_, _>>()?;
    let original = if args.in_place {
        Some(kubeconfig_file::read_value(path).map_err(|why| {
            anyhow!("cannot read {shown} to rewrite it in place: {why}; nothing was changed")
        })?)
    } else {
        None
    };
    if let Some(out) = &args.output
        && let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        bail!(
            "cannot write {}: folder {} does not exist; create it or pass another -o",
            out.display(),
            parent.display()
        );
    }

    let mut entries = Vec::new();
    let mut expiry = None;
    for r in resolved {
        eprintln!("Converting context {:?} ({}):", r.context, r.server);
        let target = Target::connect(&kc, &shown, r).await?;
        let converted = convert::convert(&target, &opts, &mut |line| eprintln!("  {line}")).await?;
        entries.push(converted.entry);
        expiry = expiry.or(converted.expires);
    }
    let expiry = match expiry {
        Some(t) => format!("; the token expires at {t}, run this again before then"),
        None => String::new(),
    };
    let contexts: Vec<String> = entries.iter().map(|e| format!("{:?}", e.context)).collect();
    let contexts = contexts.join(", ");

    match (&args.output, original) {
        (_, Some(original)) => {
            let merged = kubeconfig_file::merge(original, &entries);
            let written =
                kubeconfig_file::write_atomic(path, crate::output::yaml(&merged)?.as_bytes())
                    .map_err(|e| anyhow!("cannot rewrite {shown}: {e}; it was left as it was"))?;
            println!(
                "{} rewritten (mode 0600): context {contexts} now use{} a ServiceAccount token; its other contexts are unchanged{expiry}",
                written.display(),
                if entries.len() == 1 { "s" } else { "" }
            );
        }
        (Some(out), None) => {
            let current = kc
                .current_context
                .as_deref()
                .filter(|c| entries.iter().any(|e| e.context == *c))
                .unwrap_or(&entries[0].context)
                .to_owned();
            let built = kubeconfig_file::build(&entries, &current);
            kubeconfig_file::write_atomic(out, crate::output::yaml(&built)?.as_bytes()).map_err(
                |e| {
                    anyhow!(
                        "cannot write {}: {e}; an existing file there was left as it was",
                        out.display()
                    )
                },
            )?;
            println!(
                "{} written (mode 0600) with context {contexts}; use it with `kubectl --kubeconfig {} get namespaces`, or register it with `kubectl extcluster register NAME --from-kubeconfig {}`{expiry}",
                out.display(),
                external::shell_quote(&out.display().to_string()),
                external::shell_quote(&out.display().to_string())
            );
        }
        (None, None) => {
            if !expiry.is_empty() {
                eprintln!("{}", expiry.trim_start_matches("; "));
            }
            let current = entries[0].context.clone();
            print!(
                "{}",
                crate::output::yaml(&kubeconfig_file::build(&entries, &current))?
            );
        }
    }
    Ok(())
}
