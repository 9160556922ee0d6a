//! `set-mode NAME import|connect`: moves a registration between read-only and full permission
//! once the stored credentials are shown to hold what the new mode needs, and records the change
//! (from, to, when, by whom) on the registration in the same write.

use crate::commands::annotate::is_conflict;
use crate::dry_run::{DryRun, DryRunArg};
use crate::hub::{Global, Hub, not_found};
use crate::output::resource_name;
use anyhow::{Result, anyhow, bail};
use clap::Args;
use extcluster_core::api::{MANAGER, MODE_CHANGED_ANNOTATION};
use extcluster_core::{ExternalCluster, Mode};
use extcluster_remote::failure::is_not_found;
use extcluster_remote::{probe, stored};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Move a registration to full permission (import) or read-only (connect)
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # Registered read-only, now managed: the stored credentials must be able to write
  kubectl extcluster set-mode staging import

  # Credentials that can only read: get full-access ones first
  kubectl extcluster convert-kubeconfig --from-kubeconfig ~/staging.kubeconfig --access full -o staging-full.kubeconfig
  kubectl extcluster set-credentials staging --from-kubeconfig staging-full.kubeconfig
  kubectl extcluster set-mode staging import")]
pub struct SetModeArgs {
    /// The registration
    pub name: String,
    /// import (full permission) or connect (read-only)
    #[arg(value_parser = |s: &str| s.parse::<Mode>())]
    pub mode: Mode,
    #[command(flatten)]
    pub dry_run: DryRunArg,
}

pub async fn run(global: &Global, args: &SetModeArgs) -> Result<()> {
    let (name, to) = (args.name.as_str(), args.mode);
    let hub = Hub::connect(global).await?;
    let cluster = hub.registration(name).await?;
    if !cluster.is_live() {
        bail!("{name:?} is being disconnected; register the cluster again instead");
    }
    let from = cluster.spec.mode;
    let dry = args.dry_run.dry_run.suffix();
    if from == to {
        println!("{} unchanged{dry}: already {to}", resource_name(name));
        return Ok(());
    }
    check_rights(&hub, &cluster, to).await?;
    let record = format!(
        "{from} to {to} at {} by {}",
        Timestamp::now().round(k8s_openapi::jiff::Unit::Second)?,
        hub.acting_as
            .as_deref()
            .unwrap_or("someone the hub credentials do not name")
    );
    if args.dry_run.dry_run == DryRun::Client {
        println!("{} mode {to} (was {from}){dry}", resource_name(name));
        return Ok(());
    }
    let params = PatchParams {
        dry_run: args.dry_run.dry_run == DryRun::Server,
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mut ops = vec![
        json!({"op": "test", "path": "/spec/mode", "value": from}),
        json!({"op": "replace", "path": "/spec/mode", "value": to}),
    ];
    if cluster.metadata.annotations.is_none() {
        ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
    }
    let key = MODE_CHANGED_ANNOTATION.replace('/', "~1");
    ops.push(json!({"op": "add", "path": format!("/metadata/annotations/{key}"), "value": record}));
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    match hub
        .clusters()
        .patch(name, &params, &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {}
        Err(e) if is_conflict(&e) => bail!(
            "the mode of {name:?} changed while this command ran; nothing was changed: look with `kubectl extcluster describe {name}` and run the command again"
        ),
        Err(e) if is_not_found(&e) => return Err(not_found(name)),
        Err(e) => return Err(hub.err(&format!("change the mode of ExternalCluster {name:?}"), &e)),
    }
    println!("{} mode {to} (was {from}){dry}", resource_name(name));
    Ok(())
}

/// Refuses the change unless the stored credentials hold what `to` needs; moving to read-only
/// with credentials that can still write is allowed, with a warning that says how to narrow them.
async fn check_rights(hub: &Hub, cluster: &ExternalCluster, to: Mode) -> Result<()> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let client = stored::client(&hub.client, cluster).await.map_err(|why| {
        anyhow!("cannot use the credentials stored for {name:?}: {why}; nothing was changed")
    })?;
    let client = &client;
    let rights = |mode| async move {
        probe::missing_rights(client, mode).await.map_err(|f| {
            anyhow!(
                "cannot ask the cluster what the stored credentials of {name:?} may do: {}; nothing was changed",
                stored::explain(cluster, &f)
            )
        })
    };
    let missing = rights(to).await?;
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        bail!(
            "the credentials stored for {name:?} lack rights that {to} mode needs ({}); nothing was changed: make full-access ones with `kubectl extcluster convert-kubeconfig --from-kubeconfig FILE --access full -o NEW`, store them with `kubectl extcluster set-credentials {name} --from-kubeconfig NEW`, then run set-mode again",
            list.join(", ")
        );
    }
    if to == Mode::Connect && rights(Mode::Import).await?.is_empty() {
        eprintln!(
            "Warning: the credentials stored for {name:?} can still write to the whole cluster; for read-only ones, `kubectl extcluster convert-kubeconfig --access read-only` and then `set-credentials`"
        );
    }
    Ok(())
}
