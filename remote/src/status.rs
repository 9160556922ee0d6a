//! A registration's status, written by server-side apply with one field manager per writer:
//! whoever probes (the controller, or the plugin when a person registers or refreshes) keeps
//! every field but `exports`, and the publisher keeps `exports`. `conditions` is a list-map keyed
//! by `type` and `exports` one keyed by `kind`, so each entry has its own owner.
//!
//! Apply cannot clear a field another manager still holds (an omitted field goes only when the
//! applier was its last owner), so a field a writer leaves unset that someone else wrote is
//! cleared by a merge patch over the version the apply just made: a write made since is never
//! undone.

use extcluster_core::{ExportStatus, ExternalCluster, ExternalClusterStatus};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

/// The controller: its probe's status fields, and everything else it writes but `exports`
/// (published objects, its Lease), so `--show-managed-fields` tells its writes from the plugin's.
pub const CONTROLLER_MANAGER: &str = "extcluster-controller";
/// The controller's publisher, which keeps `status.exports`.
pub const PUBLISHER_MANAGER: &str = "extcluster-publisher";

const EXPORTS: &str = "exports";

/// Writes the probe's fields of `status` (all but `exports`) as `manager`. With `read_at`, only
/// over that resource version: a registration written since (by anyone) answers 409 Conflict.
pub async fn apply_probed(
    api: &Api<ExternalCluster>,
    name: &str,
    manager: &str,
    read_at: Option<&str>,
    status: &ExternalClusterStatus,
) -> Result<ExternalCluster, kube::Error> {
    let mut fields = to_fields(status);
    fields.remove(EXPORTS);
    let applied = apply(api, name, manager, read_at, &fields).await?;
    clear_leftovers(api, name, manager, applied, &fields, |k| k != EXPORTS).await
}

/// Writes `status.exports` as the publisher; none removes the field.
pub async fn apply_exports(
    api: &Api<ExternalCluster>,
    name: &str,
    exports: &[ExportStatus],
) -> Result<ExternalCluster, kube::Error> {
    let mut fields = Map::new();
    if !exports.is_empty() {
        fields.insert(EXPORTS.into(), json!(exports));
    }
    let applied = apply(api, name, PUBLISHER_MANAGER, None, &fields).await?;
    clear_leftovers(api, name, PUBLISHER_MANAGER, applied, &fields, |k| {
        k == EXPORTS
    })
    .await
}

async fn apply(
    api: &Api<ExternalCluster>,
    name: &str,
    manager: &str,
    read_at: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<ExternalCluster, kube::Error> {
    let mut metadata = json!({ "name": name });
    if let Some(version) = read_at {
        metadata["resourceVersion"] = version.into();
    }
    let body = json!({
        "apiVersion": ExternalCluster::api_version(&()),
        "kind": ExternalCluster::kind(&()),
        "metadata": metadata,
        "status": fields,
    });
    let params = PatchParams::apply(manager).force();
    api.patch_status(name, &params, &Patch::Apply(&body)).await
}

/// Clears what another writer still holds among the fields `kept` says this writer keeps: a field
/// `wanted` leaves unset, or a list entry (a condition's type, an export's kind) `wanted` lacks.
async fn clear_leftovers(
    api: &Api<ExternalCluster>,
    name: &str,
    manager: &str,
    applied: ExternalCluster,
    wanted: &Map<String, Value>,
    kept: impl Fn(&str) -> bool,
) -> Result<ExternalCluster, kube::Error> {
    let now = applied.status.as_ref().map(to_fields).unwrap_or_default();
    let leftovers: Map<String, Value> = now
        .iter()
        .filter(|(k, v)| kept(k) && is_leftover(v, wanted.get(*k)))
        .map(|(k, _)| (k.clone(), wanted.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    if leftovers.is_empty() {
        return Ok(applied);
    }
    let body = json!({
        "metadata": { "resourceVersion": applied.metadata.resource_version },
        "status": leftovers,
    });
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    };
    api.patch_status(name, &params, &Patch::Merge(&body)).await
}

/// Whether a field as stored holds more than the writer gave: anything, when it gave nothing; an
/// entry whose key it did not give, for a list-map.
fn is_leftover(stored: &Value, wanted: Option<&Value>) -> bool {
    let Some(wanted) = wanted else {
        return true;
    };
    let (Value::Array(stored), Value::Array(wanted)) = (stored, wanted) else {
        return false;
    };
    let key = |entry: &Value| ["type", "kind"].map(|k| entry.get(k).cloned());
    let given: Vec<_> = wanted.iter().map(key).collect();
    stored.iter().any(|entry| !given.contains(&key(entry)))
}

fn to_fields(status: &ExternalClusterStatus) -> Map<String, Value> {
    match serde_json::to_value(status) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_leftover;
    use serde_json::json;

    #[test]
    fn a_field_given_is_not_a_leftover_whatever_the_server_made_of_it() {
        assert!(!is_leftover(&json!("Running"), Some(&json!("Unreachable"))));
        assert!(is_leftover(&json!("a message"), None));
    }

    #[test]
    fn a_list_entry_is_a_leftover_only_when_its_key_was_not_given() {
        let stored = json!([{"type": "Ready", "status": "True"}, {"type": "Old"}]);
        let given = json!([{"type": "Ready", "status": "False"}]);
        assert!(is_leftover(&stored, Some(&given)));
        let given = json!([{"type": "Ready"}, {"type": "Old", "status": "x"}]);
        assert!(!is_leftover(&stored, Some(&given)));
        let exports = json!([{"kind": "ArgoCD"}, {"kind": "Flux"}]);
        assert!(is_leftover(&exports, Some(&json!([{"kind": "Flux"}]))));
    }
}
