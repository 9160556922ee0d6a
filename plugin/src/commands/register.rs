//! `register`, `connect`, `import`: from an external kubeconfig to a Running registration, or
//! nothing at all.

use crate::cli::{Global, ProviderChoice, RegistrationArgs};
use crate::convert;
use crate::errors::{Failure, Transport};
use crate::external::{self, External};
use crate::hub::Hub;
use crate::kubeconfig_file;
use crate::output::{resource_name, yaml};
use crate::probe::{self, Facts};
use crate::status;
use anyhow::{Result, anyhow, bail};
use extcluster_core::api::{
    CLUSTER_ID_LABEL, DISCONNECT_ANNOTATION, MANAGED_BY_LABEL, MANAGER, REGISTRATION_LABEL,
    SYSTEM_NAMESPACE,
};
use extcluster_core::policy::Policy;
use extcluster_core::{
    ExternalCluster, ExternalClusterSpec, Mode, Operation, Origin, Registration, SecretKeyRef,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;

pub const SECRET_KEY: &str = "kubeconfig";

pub fn secret_name(name: &str) -> String {
    format!("{name}-kubeconfig")
}

pub async fn run(global: &Global, args: &RegistrationArgs, mode: Mode) -> Result<()> {
    let name = args.name.as_str();
    check_name(name)?;
    let path = args.from_kubeconfig.display().to_string();
    let kc = external::read(&args.from_kubeconfig)?;
    let resolved = external::resolve(&kc, &path, args.from_context.as_deref())?;

    // The external cluster first: it is only read, and nothing is written before it answered.
    // With --convert and a plugin login, it is read with that login; the ServiceAccount token is
    // made only once the hub has said it would accept the registration.
    let (mut ext, facts, mut conversion) = if args.convert && resolved.uses_plugin() {
        let ext = External {
            context: resolved.context.clone(),
            server: resolved.server.clone(),
            kubeconfig: serde_json::Value::Null,
        };
        let target = crate::login::Target::connect(&kc, &path, resolved).await?;
        let facts = probe::facts(&target.client)
            .await
            .map_err(|f| external_failure(&ext, &path, "read the cluster", f))?;
        (ext, facts, Some(target))
    } else {
        if args.convert {
            eprintln!(
                "--convert: context {:?} does not log in through a plugin; registering with its credentials as they are",
                resolved.context
            );
        }
        let ext = external::minimize(&kc, &path, args.from_context.as_deref())?;
        let client = probe::client(&ext.kubeconfig)
            .await
            .map_err(|f| external_failure(&ext, &path, "connect", f))?;
        check_rights(&client, mode, &ext, &path).await?;
        let facts = probe::facts(&client)
            .await
            .map_err(|f| external_failure(&ext, &path, "read the cluster", f))?;
        (ext, facts, None)
    };
    if facts.cluster_id.is_empty() {
        bail!(
            "the external cluster at {} has no kube-system namespace UID to identify it by",
            ext.server
        );
    }

    let cluster = build_cluster(name, mode, args, &ext, &facts);
    // With --convert the kubeconfig does not exist yet: the checks below run with an empty one.
    let kubeconfig_yaml = if conversion.is_some() {
        String::new()
    } else {
        external::to_yaml(&ext.kubeconfig)?
    };
    let mut secret = build_secret(name, &facts.cluster_id, kubeconfig_yaml.into_bytes());

    // The hub: the same rules the webhook enforces, locally, then the hub's own verdict.
    let hub = Hub::connect(global).await?;
    let clusters = hub.clusters();
    let secrets = hub.system_secrets();
    let existing = clusters
        .list(&Default::default())
        .await
        .map_err(|e| hub.err("list ExternalClusters", &e))?;
    let registry: Vec<Registration<'_>> = existing.items.iter().map(Registration::from).collect();
    let candidate = Registration::from(&cluster);
    Policy::new(args.accepted_versions.clone())
        .decide(
            Operation::Create,
            Some(&candidate),
            None,
            registry.as_slice(),
        )
        .map_err(|denial| anyhow!("the hub refuses this registration: {denial}"))?;
    if existing
        .items
        .iter()
        .any(|c| c.metadata.name.as_deref() == Some(name))
    {
        bail!(
            "a registration named {name:?} already exists on the hub; choose another name, or run `kubectl extcluster disconnect {name}` first"
        );
    }
    let dry = PostParams {
        dry_run: true,
        field_manager: Some(MANAGER.into()),
    };
    clusters
        .create(&dry, &cluster)
        .await
        .map_err(|e| hub.err(&format!("create ExternalCluster {name:?}"), &e))?;
    secrets.create(&dry, &secret).await.map_err(|e| {
        hub.err(
            &format!("create Secret {SYSTEM_NAMESPACE}/{}", secret_name(name)),
            &e,
        )
    })?;

    if args.dry_run {
        print!("{}", dry_run_text(&cluster, &secret)?);
        if conversion.is_some() {
            let o = convert::Options::for_mode(mode);
            println!(
                "# --convert: the cluster would get serviceaccount {} in {} with {} access and a token Secret, and the Secret above would hold a kubeconfig with that token",
                o.service_account, o.namespace, o.access
            );
        }
        return Ok(());
    }
    if let Some(target) = conversion.take() {
        eprintln!(
            "Converting context {:?} ({}) to a ServiceAccount token:",
            ext.context, ext.server
        );
        let options = convert::Options::for_mode(mode);
        let converted =
            convert::convert(&target, &options, &mut |line| eprintln!("  {line}")).await?;
        ext.kubeconfig = kubeconfig_file::single(&converted.entry);
        let client = probe::client(&ext.kubeconfig)
            .await
            .map_err(|f| external_failure(&ext, &path, "connect", f))?;
        check_rights(&client, mode, &ext, &path).await?;
        secret = build_secret(
            name,
            &facts.cluster_id,
            external::to_yaml(&ext.kubeconfig)?.into_bytes(),
        );
    }

    let write = PostParams {
        dry_run: false,
        field_manager: Some(MANAGER.into()),
    };
    // The registration first, then its Secret owned by it: a denied registration writes no
    // Secret, and however the registration goes later (disconnect, a raw delete, the webhook
    // removing a duplicate), the garbage collector takes its Secret along.
    let created = clusters
        .create(&write, &cluster)
        .await
        .map_err(|e| hub.err(&format!("create ExternalCluster {name:?}"), &e))?;
    secret.metadata.owner_references = Some(vec![owner_reference(&created)]);
    if let Err(e) = secrets.create(&write, &secret).await {
        let err = hub.err(
            &format!("create Secret {SYSTEM_NAMESPACE}/{}", secret_name(name)),
            &e,
        );
        return Err(with_rollback(err, rollback(&hub, name, true).await));
    }
    let new_status = status::after_probe(
        None,
        Ok(&facts),
        k8s_openapi::jiff::Timestamp::now(),
        created.metadata.generation,
    );
    let patched = clusters
        .patch_status(
            name,
            &PatchParams::apply(MANAGER),
            &Patch::Merge(status::patch(&new_status)),
        )
        .await;
    if let Err(e) = patched {
        let err = hub.err(&format!("set the status of {name:?}"), &e);
        return Err(with_rollback(err, rollback(&hub, name, true).await));
    }

    let phase = new_status
        .phase
        .map_or_else(|| "Pending".to_owned(), |p| p.to_string());
    println!(
        "{} registered ({mode}, {}): {phase}, {}, {} nodes",
        resource_name(name),
        cluster.spec.provider,
        facts.git_version,
        facts.nodes.len()
    );
    Ok(())
}

/// Refuses credentials that lack the rights `mode` needs, listing them.
pub async fn check_rights(
    client: &kube::Client,
    mode: Mode,
    ext: &External,
    path: &str,
) -> Result<()> {
    let missing = probe::missing_rights(client, mode)
        .await
        .map_err(|f| external_failure(ext, path, "ask for its rights", f))?;
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let next = match mode {
            Mode::Connect => "grant it read access (get, list, watch on all resources)",
            Mode::Import => {
                "grant it full rights (for instance a ClusterRoleBinding to cluster-admin), or register with --mode connect"
            }
        };
        bail!(
            "the credentials of context {:?} in {path} lack rights that {mode} mode needs on the external cluster: {}; {next}",
            ext.context,
            list.join(", ")
        );
    }
    Ok(())
}

/// A name that works for the ExternalCluster, its Secret and the labels that carry it.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        bail!(
            "{name:?} is not a valid registration name; use at most 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
        )
    }
}

pub fn external_failure(ext: &External, path: &str, doing: &str, f: Failure) -> anyhow::Error {
    let (server, ctx) = (&ext.server, &ext.context);
    match f {
        Failure::Transport(t @ Transport::Untrusted(_)) => anyhow!(
            "cannot reach the external cluster at {server} (context {ctx:?}): {t}; put the cluster's own CA in certificate-authority-data of that context in {path}"
        ),
        Failure::Transport(t) => anyhow!(
            "cannot reach the external cluster at {server} (context {ctx:?}): {t}; check that the cluster is running and that {path} has its address"
        ),
        Failure::Status { code: 401, .. } => anyhow!(
            "the external cluster at {server} refused the credentials of context {ctx:?} (401 Unauthorized); renew them in {path}"
        ),
        Failure::Status {
            code: 403, message, ..
        } => anyhow!(
            "the credentials of context {ctx:?} in {path} may not {doing} on the external cluster ({message}); use credentials with the rights the mode needs"
        ),
        other => anyhow!(
            "the external cluster at {server} (context {ctx:?}) failed when asked to {doing}: {other}"
        ),
    }
}

pub fn build_cluster(
    name: &str,
    mode: Mode,
    args: &RegistrationArgs,
    ext: &External,
    facts: &Facts,
) -> ExternalCluster {
    let provider = match args.provider {
        ProviderChoice::Auto => facts.provider,
        ProviderChoice::Fixed(p) => p,
    };
    let mut cluster = ExternalCluster::new(
        name,
        ExternalClusterSpec {
            mode,
            origin: Origin::Imported,
            provider,
            cluster_id: facts.cluster_id.clone(),
            server: ext.server.clone(),
            kubernetes_version: facts.git_version.clone(),
            kubeconfig_secret_ref: Some(SecretKeyRef {
                namespace: SYSTEM_NAMESPACE.into(),
                name: secret_name(name),
                key: SECRET_KEY.into(),
            }),
            display_name: args.display_name.clone(),
        },
    );
    cluster.metadata.labels = Some(BTreeMap::from([
        (CLUSTER_ID_LABEL.to_owned(), facts.cluster_id.clone()),
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
    ]));
    cluster
}

pub fn build_secret(name: &str, cluster_id: &str, kubeconfig: Vec<u8>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(name)),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            labels: Some(BTreeMap::from([
                (REGISTRATION_LABEL.to_owned(), name.to_owned()),
                (CLUSTER_ID_LABEL.to_owned(), cluster_id.to_owned()),
                (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
            ])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            SECRET_KEY.to_owned(),
            ByteString(kubeconfig),
        )])),
        ..Default::default()
    }
}

/// Makes the registration the owner of its kubeconfig Secret.
pub fn owner_reference(cluster: &ExternalCluster) -> OwnerReference {
    OwnerReference {
        api_version: ExternalCluster::api_version(&()).into_owned(),
        kind: ExternalCluster::kind(&()).into_owned(),
        name: cluster.name_any(),
        uid: cluster.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// What `--dry-run` prints: both objects as YAML, the kubeconfig itself left out.
pub fn dry_run_text(cluster: &ExternalCluster, secret: &Secret) -> Result<String> {
    let mut shown = serde_json::to_value(secret)?;
    shown["apiVersion"] = json!("v1");
    shown["kind"] = json!("Secret");
    if let Some(data) = shown.get_mut("data").and_then(|d| d.as_object_mut()) {
        let sizes: Vec<(String, usize)> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.len()))
            .collect();
        for (k, len) in sizes {
            data.insert(k, json!(format!("<{len} bytes, not shown>")));
        }
    }
    Ok(format!(
        "# --dry-run: nothing was written. This would be created:\n{}---\n{}",
        yaml(cluster)?,
        yaml(&shown)?
    ))
}

/// Removes what a failed registration wrote; returns what could not be removed.
async fn rollback(hub: &Hub, name: &str, cluster_written: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if cluster_written {
        let mark = json!({"metadata": {"annotations": {DISCONNECT_ANNOTATION: "true"}}});
        if let Err(e) = hub
            .clusters()
            .patch(name, &PatchParams::default(), &Patch::Merge(&mark))
            .await
        {
            problems.push(format!(
                "marking {name:?} for disconnect: {}",
                Failure::of(&e)
            ));
        }
        if let Err(e) = hub.clusters().delete(name, &DeleteParams::default()).await
            && !Failure::of(&e).is_not_found()
        {
            problems.push(format!(
                "deleting ExternalCluster {name:?}: {}",
                Failure::of(&e)
            ));
        }
    }
    if let Err(e) = hub
        .system_secrets()
        .delete(&secret_name(name), &DeleteParams::default())
        .await
        && !Failure::of(&e).is_not_found()
    {
        problems.push(format!(
            "deleting Secret {SYSTEM_NAMESPACE}/{}: {}",
            secret_name(name),
            Failure::of(&e)
        ));
    }
    problems
}

fn with_rollback(err: anyhow::Error, problems: Vec<String>) -> anyhow::Error {
    if problems.is_empty() {
        anyhow!("{err:#}; nothing was left on the hub")
    } else {
        anyhow!(
            "{err:#}; cleaning up also failed ({}); remove what is left with `kubectl extcluster disconnect NAME --yes`",
            problems.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["prod-eu", "a", "eks.prod-1", "x1"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "Prod", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dry_run_hides_the_kubeconfig() {
        let secret = build_secret("prod", "uid-1", b"token: very-secret".to_vec());
        let ext = External {
            context: "c".into(),
            server: "https://x".into(),
            kubeconfig: json!({}),
        };
        let facts = Facts {
            git_version: "v1.29.3".into(),
            cluster_id: "uid-1".into(),
            nodes: vec![],
            provider: extcluster_core::Provider::Generic,
        };
        let args = RegistrationArgs {
            name: "prod".into(),
            from_kubeconfig: "k".into(),
            from_context: None,
            provider: ProviderChoice::Auto,
            display_name: Some("Prod".into()),
            dry_run: true,
            convert: false,
            accepted_versions: Default::default(),
        };
        let cluster = build_cluster("prod", Mode::Import, &args, &ext, &facts);
        let text = dry_run_text(&cluster, &secret).unwrap();
        assert!(!text.contains("very-secret"), "{text}");
        assert!(!text.contains("dmVyeS1zZWNyZXQ"), "{text}");
        assert!(text.contains("18 bytes, not shown"), "{text}");
        assert!(text.contains("kind: ExternalCluster"), "{text}");
        assert!(text.contains("clusterID: uid-1"), "{text}");
        assert!(text.contains("name: prod-kubeconfig"), "{text}");
        assert_eq!(cluster.metadata.labels.unwrap()[CLUSTER_ID_LABEL], "uid-1");
    }
}
