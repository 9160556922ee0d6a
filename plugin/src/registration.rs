//! The hub side of a registration, shared by the commands that make, change and remove one: the
//! ExternalCluster and its kubeconfig Secret, built, stored, given a status, and removed.

use crate::hub::Hub;
use crate::output::yaml;
use anyhow::{Result, anyhow, bail};
use extcluster_core::api::{
    CLUSTER_ID_LABEL, DISCONNECT_ANNOTATION, MANAGED_BY_LABEL, MANAGER, REGISTRATION_LABEL,
    SYSTEM_NAMESPACE,
};
use extcluster_core::facts::Facts;
use extcluster_core::health::{self, CredentialFacts, Observation, Settings, Subject};
use extcluster_core::{
    ExternalCluster, ExternalClusterSpec, ExternalClusterStatus, Mode, Origin, Provider,
    SecretKeyRef,
};
use extcluster_remote::explain::{self, FromFile, Reach};
use extcluster_remote::failure::{Failure, is_not_found};
use extcluster_remote::kubeconfig::Minimized;
use extcluster_remote::status;
use extcluster_remote::stored::{self, SECRET_KEY, secret_name};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;

/// A name that works for the ExternalCluster, its Secret and the labels that carry it.
pub fn check_name(name: &str) -> Result<()> {
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

/// Refuses credentials for a cluster whose certificate is not checked (`insecure-skip-tls-verify:
/// true`) unless the user said they mean it: the hub would send them to whatever answers.
pub fn refuse_unverified_tls(
    skips_verify: bool,
    allowed: bool,
    context: &str,
    server: &str,
    path: &str,
) -> Result<()> {
    if skips_verify && !allowed {
        bail!(
            "context {context:?} in {path} sets insecure-skip-tls-verify: true, so the hub would \
             send the stored credentials to whatever answers at {server} without checking it is \
             the cluster; put the cluster's CA in certificate-authority-data, or pass \
             --insecure-skip-tls-verify if you mean it (nothing was changed)"
        );
    }
    Ok(())
}

/// What a registration records about the cluster besides what a probe saw.
#[derive(Debug, Clone)]
pub struct Described {
    pub mode: Mode,
    pub provider: Provider,
    pub server: String,
    pub display_name: Option<String>,
    /// Where the hub's controller should export it besides the ClusterProfile.
    pub exports: std::collections::BTreeSet<extcluster_core::exports::Export>,
    /// Labels given at registration (`--label`, `--datacenter`), checked already.
    pub labels: BTreeMap<String, String>,
    /// Set for a federated registration: no credential is stored.
    pub federated: Option<extcluster_core::Federated>,
}

/// The ExternalCluster for a cluster registered as `name`.
pub fn build_cluster(name: &str, described: &Described, facts: &Facts) -> ExternalCluster {
    let mut cluster = ExternalCluster::new(
        name,
        ExternalClusterSpec {
            mode: described.mode,
            origin: Origin::Imported,
            provider: described.provider,
            cluster_id: facts.cluster_id.clone(),
            server: described.server.clone(),
            kubernetes_version: facts.git_version.clone(),
            kubeconfig_secret_ref: Some(SecretKeyRef {
                namespace: SYSTEM_NAMESPACE.into(),
                name: secret_name(name),
                key: SECRET_KEY.into(),
            }),
            display_name: described.display_name.clone(),
            federated: described.federated.clone(),
        },
    );
    let mut labels = described.labels.clone();
    labels.extend([
        (CLUSTER_ID_LABEL.to_owned(), facts.cluster_id.clone()),
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
    ]);
    cluster.metadata.labels = Some(labels);
    if !described.exports.is_empty() {
        cluster.metadata.annotations = Some(BTreeMap::from([(
            extcluster_core::exports::ANNOTATION.to_owned(),
            extcluster_core::exports::format(&described.exports),
        )]));
    }
    cluster
}

/// The Secret holding the kubeconfig of registration `name`.
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

fn write_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(MANAGER.into()),
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Replaces the kubeconfig stored for `cluster`; the Secret keeps its name, labels and owner. A
/// registration that lost its Secret gets it again, owned by the registration.
pub async fn store_kubeconfig(
    hub: &Hub,
    cluster: &ExternalCluster,
    kubeconfig: Vec<u8>,
) -> Result<()> {
    let SecretKeyRef {
        namespace,
        name: secret,
        key,
    } = stored::secret_ref(cluster);
    let secrets = hub.secrets(&namespace);
    let data = json!({"data": {key.as_str(): ByteString(kubeconfig.clone())}});
    match secrets
        .patch(&secret, &patch_params(), &Patch::Merge(&data))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => {
            let name = cluster.name_any();
            let mut fresh = build_secret(&name, &cluster.spec.cluster_id, Vec::new());
            fresh.metadata.name = Some(secret.clone());
            fresh.metadata.namespace = Some(namespace.clone());
            fresh.data = Some(BTreeMap::from([(key, ByteString(kubeconfig))]));
            fresh.metadata.owner_references = Some(vec![owner_reference(cluster)]);
            secrets
                .create(&write_params(), &fresh)
                .await
                .map_err(|e| hub.err(&format!("create Secret {namespace}/{secret}"), &e))?;
            Ok(())
        }
        Err(e) => Err(hub.err(&format!("update Secret {namespace}/{secret}"), &e)),
    }
}

/// Writes `new` as the status of registration `name`, as the plugin: what a person just probed
/// is newer than whatever the status held.
pub async fn record_status(
    hub: &Hub,
    name: &str,
    new: &ExternalClusterStatus,
) -> Result<(), kube::Error> {
    status::apply_probed(&hub.clusters(), name, MANAGER, None, new)
        .await
        .map(drop)
}

/// The status after `observation`, by the controller's rules, except that a probe a person
/// asked for shows an unreachable cluster as Unreachable at once.
pub fn derived_status(
    cluster: &ExternalCluster,
    observation: &Observation,
) -> ExternalClusterStatus {
    let subject = Subject {
        cluster_id: &cluster.spec.cluster_id,
        generation: cluster.metadata.generation,
    };
    let old = cluster.status.as_ref();
    health::derive(
        old,
        subject,
        observation,
        0,
        &Settings::on_request(),
        Timestamp::now(),
    )
    .status
}

/// The status a registration gets from what a probe just saw, through credentials whose rights
/// were just checked.
pub fn probed_status(
    cluster: &ExternalCluster,
    facts: &Facts,
    credentials: CredentialFacts,
) -> ExternalClusterStatus {
    let observation = Observation {
        outcome: Ok(facts.seen()),
        missing_rights: Some(Vec::new()),
        credentials,
    };
    derived_status(cluster, &observation)
}

/// A phase as the commands print it.
pub fn phase_text(status: &ExternalClusterStatus) -> String {
    status
        .phase
        .map_or_else(|| "Pending".to_owned(), |p| p.to_string())
}

/// Creates the registration, then its Secret owned by it: a denied registration writes no
/// Secret, and however the registration goes later (disconnect, a raw delete, the webhook
/// removing a duplicate), the garbage collector takes its Secret along. On a failure, what was
/// written is removed again.
pub async fn create(
    hub: &Hub,
    cluster: &ExternalCluster,
    mut secret: Secret,
    facts: &Facts,
) -> Result<ExternalClusterStatus> {
    let name = cluster.name_any();
    let created = hub
        .clusters()
        .create(&write_params(), cluster)
        .await
        .map_err(|e| hub.err(&format!("create ExternalCluster {name:?}"), &e))?;
    secret.metadata.owner_references = Some(vec![owner_reference(&created)]);
    if let Err(e) = hub.system_secrets().create(&write_params(), &secret).await {
        let err = hub.err(
            &format!("create Secret {SYSTEM_NAMESPACE}/{}", secret_name(&name)),
            &e,
        );
        return Err(with_rollback(err, rollback(hub, &name).await));
    }
    let credentials = stored::from_secret(Some(&secret), &stored::secret_ref(&created))
        .map(|k| extcluster_remote::observe::credential_facts(&k, &created))
        .unwrap_or_default();
    let new_status = probed_status(&created, facts, credentials);
    if let Err(e) = record_status(hub, &name, &new_status).await {
        let err = hub.err(&format!("set the status of {name:?}"), &e);
        return Err(with_rollback(err, rollback(hub, &name).await));
    }
    Ok(new_status)
}

/// Removes what a failed registration wrote; returns what could not be removed.
async fn rollback(hub: &Hub, name: &str) -> Vec<String> {
    let mut problems = Vec::new();
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
        && !is_not_found(&e)
    {
        problems.push(format!(
            "deleting ExternalCluster {name:?}: {}",
            Failure::of(&e)
        ));
    }
    if let Err(e) = hub
        .system_secrets()
        .delete(&secret_name(name), &DeleteParams::default())
        .await
        && !is_not_found(&e)
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

/// Deletes registration `name`'s kubeconfig Secret, `at` (`stored::secret_ref`), found by name:
/// an operator may get and delete Secrets in the system namespace, not list them. Strays labelled
/// as the registration's are removed too where the caller may list and the name is a label
/// value; returns what was deleted.
pub async fn remove_secrets(hub: &Hub, name: &str, at: &SecretKeyRef) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    if delete_secret(hub, &at.namespace, &at.name).await? {
        removed.push(format!("{}/{}", at.namespace, at.name));
    }
    for stray in labelled_strays(hub, name).await {
        if stray != at.name && delete_secret(hub, SYSTEM_NAMESPACE, &stray).await? {
            removed.push(format!("{SYSTEM_NAMESPACE}/{stray}"));
        }
    }
    Ok(removed)
}

/// Whether the Secret was there to delete.
async fn delete_secret(hub: &Hub, namespace: &str, name: &str) -> Result<bool> {
    match hub
        .secrets(namespace)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(hub.err(&format!("delete Secret {namespace}/{name}"), &e)),
    }
}

/// Secrets labelled as `name`'s in the system namespace, when the caller may list them; none
/// otherwise (an operator may not, and a long name is no label value).
async fn labelled_strays(hub: &Hub, name: &str) -> Vec<String> {
    if !extcluster_core::api::is_label_value(name) {
        return Vec::new();
    }
    let selector = ListParams::default().labels(&format!("{REGISTRATION_LABEL}={name}"));
    match hub.system_secrets().list(&selector).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The context a minimized kubeconfig was taken from, for messages.
pub fn from_file<'a>(minimized: &'a Minimized, path: &'a str) -> FromFile<'a> {
    FromFile {
        server: &minimized.server,
        context: &minimized.context,
        path,
    }
}

/// The sentence for a failed request to a cluster reached with a kubeconfig's credentials.
pub fn failed(from: FromFile<'_>, doing: &str, f: &Failure) -> anyhow::Error {
    anyhow!("{}", explain::sentence(Reach::Registering(from), doing, f))
}

/// A client with a minimized kubeconfig's credentials.
pub async fn external_client(minimized: &Minimized, path: &str) -> Result<Client> {
    extcluster_remote::client::for_kubeconfig(&minimized.kubeconfig)
        .await
        .map_err(|f| failed(from_file(minimized, path), "connect", &f))
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
        let facts = Facts {
            git_version: "v1.29.3".into(),
            cluster_id: "uid-1".into(),
            nodes: vec![],
            provider: Provider::Generic,
        };
        let described = Described {
            labels: BTreeMap::from([("team".to_owned(), "payments".to_owned())]),
            federated: None,
            mode: Mode::Import,
            provider: facts.provider,
            server: "https://x".into(),
            display_name: Some("Prod".into()),
            exports: Default::default(),
        };
        let cluster = build_cluster("prod", &described, &facts);
        let text = dry_run_text(&cluster, &secret).unwrap();
        assert!(!text.contains("very-secret"), "{text}");
        assert!(!text.contains("dmVyeS1zZWNyZXQ"), "{text}");
        assert!(text.contains("18 bytes, not shown"), "{text}");
        assert!(text.contains("kind: ExternalCluster"), "{text}");
        assert!(text.contains("clusterID: uid-1"), "{text}");
        assert!(text.contains("name: prod-kubeconfig"), "{text}");
        let labels = cluster.metadata.labels.unwrap();
        assert_eq!(labels[CLUSTER_ID_LABEL], "uid-1");
        assert_eq!(labels["team"], "payments");
    }
}
