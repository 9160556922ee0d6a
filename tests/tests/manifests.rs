//! The install manifests in `manifests/`: the invariants that tie them to the CRD, to each other
//! and to the server, read from the files; then the real kubectl installing them on a real
//! kube-apiserver.

use extcluster_core::api::{
    CRD_NAME, GROUP, INVENTORY_NAMESPACE, PLURAL, SYSTEM_NAMESPACE, VERSION,
};
use extcluster_tests::kubectl::{self, Output};
use extcluster_tests::{ControlPlane, Options, Steps, assert_contains, repo_root};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the server (`webhook/src`) is built to do. The manifests must agree with it.
mod server {
    pub const IMAGE: &str = "ghcr.io/extcluster/extcluster-webhook:v0.1.0";
    pub const BINARY: &str = "/extcluster-webhook";
    /// `--listen`, default `0.0.0.0:8443`: TLS, `POST /validate`.
    pub const LISTEN_PORT: i64 = 8443;
    pub const VALIDATE_PATH: &str = "/validate";
    /// The CRD guard: reviews of the ExternalCluster CRD's deletion.
    pub const CRD_GUARD_PATH: &str = "/validate-crd";
    /// `--probe-listen`, default `0.0.0.0:8080`: plain HTTP, `/healthz`, `/readyz`, `/metrics`.
    pub const PROBE_PORT: i64 = 8080;
    pub const LIVENESS_PATH: &str = "/healthz";
    pub const READINESS_PATH: &str = "/readyz";
    /// Where it reads `tls.crt` and `tls.key`, mounted from this Secret.
    pub const TLS_DIR: &str = "/etc/extcluster/tls";
    pub const TLS_SECRET: &str = "extcluster-webhook-tls";
    /// Its only calls to the API server: a kube-runtime watch of ExternalClusters, and the
    /// resolver's patch and delete of duplicate registrations.
    pub const VERBS: [&str; 5] = ["get", "list", "watch", "patch", "delete"];
}

/// The ServiceAccount, ClusterRole(Binding), Deployment, Service, PDB and
/// ValidatingWebhookConfiguration are all called this.
const NAME: &str = "extcluster-webhook";
const WEBHOOK: &str = "validate.extcluster.io";
const SERVICE_DNS: &str = "extcluster-webhook.extcluster-system.svc";
const CLUSTER_SCOPED: [&str; 5] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingWebhookConfiguration",
];

// ---------------------------------------------------------------------------------------------
// Reading the manifests

fn manifests_dir() -> PathBuf {
    repo_root().join("manifests")
}

/// One YAML document and the file it came from.
#[derive(Debug, Clone)]
struct Doc {
    file: String,
    v: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or_default()
    }
    fn namespace(&self) -> Option<&str> {
        self.v["metadata"]["namespace"].as_str()
    }
    fn id(&self) -> String {
        let ns = self
            .namespace()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        format!("{} {ns}{} (in {})", self.kind(), self.name(), self.file)
    }
}

/// Every document of a (multi-document) YAML text; comment-only documents are skipped.
fn parse_yaml(text: &str, origin: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{origin} is not valid YAML: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The names of the YAML files directly in `dir`, except `kustomization.yaml`.
fn yaml_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter(|n| (n.ends_with(".yaml") || n.ends_with(".yml")) && n != "kustomization.yaml")
        .collect()
}

struct Manifests {
    docs: Vec<Doc>,
}

impl Manifests {
    /// Every document of every manifest file in `manifests/` (top level).
    fn load() -> Self {
        let dir = manifests_dir();
        let mut docs = Vec::new();
        for file in yaml_files(&dir) {
            for v in parse_yaml(&read(&dir.join(&file)), &format!("manifests/{file}")) {
                docs.push(Doc {
                    file: format!("manifests/{file}"),
                    v,
                });
            }
        }
        assert!(!docs.is_empty(), "manifests/ holds no YAML documents");
        Manifests { docs }
    }

    /// The documents of a rendered stream (`kubectl kustomize` output).
    fn rendered(text: &str, origin: &str) -> Self {
        let docs = parse_yaml(text, origin)
            .into_iter()
            .map(|v| Doc {
                file: origin.to_owned(),
                v,
            })
            .collect();
        Manifests { docs }
    }

    fn of_kind(&self, kind: &str) -> Vec<&Doc> {
        self.docs.iter().filter(|d| d.kind() == kind).collect()
    }

    fn find(&self, kind: &str, name: &str) -> Option<&Doc> {
        let found: Vec<&Doc> = self
            .docs
            .iter()
            .filter(|d| d.kind() == kind && d.name() == name)
            .collect();
        assert!(
            found.len() <= 1,
            "{kind} {name} is defined {} times: {:?}",
            found.len(),
            found.iter().map(|d| d.id()).collect::<Vec<_>>()
        );
        found.first().copied()
    }

    #[track_caller]
    fn get(&self, kind: &str, name: &str) -> &Value {
        &self
            .find(kind, name)
            .unwrap_or_else(|| panic!("no {kind} named {name} in the manifests"))
            .v
    }

    fn deployment(&self) -> &Value {
        self.get("Deployment", NAME)
    }

    fn pod_spec(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]
    }

    fn pod_labels(&self) -> &Value {
        &self.deployment()["spec"]["template"]["metadata"]["labels"]
    }

    /// The container running the webhook image.
    fn container(&self) -> &Value {
        let containers = array(&self.pod_spec()["containers"]);
        let ours: Vec<&Value> = containers
            .iter()
            .filter(|c| c["image"] == server::IMAGE)
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "Deployment {NAME} must run exactly one container with image {}; images: {:?}",
            server::IMAGE,
            containers.iter().map(|c| &c["image"]).collect::<Vec<_>>()
        );
        ours[0]
    }

    /// The webhook of the ValidatingWebhookConfiguration that reviews ExternalClusters.
    fn webhook(&self) -> &Value {
        &self.webhooks()[0]
    }

    /// The two webhooks: ExternalClusters first, then the CRD guard.
    fn webhooks(&self) -> &[Value] {
        let vwc = self.get("ValidatingWebhookConfiguration", NAME);
        let hooks = array(&vwc["webhooks"]);
        assert_eq!(
            hooks.len(),
            2,
            "ValidatingWebhookConfiguration {NAME} must have two webhooks, has {}",
            hooks.len()
        );
        assert_eq!(
            hooks[0]["name"], WEBHOOK,
            "the first webhook must be named {WEBHOOK}"
        );
        hooks
    }
}

fn crd() -> Value {
    let docs = parse_yaml(
        &read(&manifests_dir().join("crd.yaml")),
        "manifests/crd.yaml",
    );
    let crds: Vec<Value> = docs
        .into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    assert_eq!(
        crds.len(),
        1,
        "manifests/crd.yaml must hold exactly one CRD"
    );
    crds.into_iter().next().expect("one CRD")
}

// ---------------------------------------------------------------------------------------------
// Small helpers on JSON values

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    array(v)
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {s}"))
                .to_owned()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Does `selector` (a LabelSelector with matchLabels only) select pods labelled `labels`?
/// An empty selector is refused: in a PodDisruptionBudget or spread constraint it would select
/// other pods too.
#[track_caller]
fn selects(selector: &Value, labels: &Value, what: &str) -> bool {
    assert!(
        selector.get("matchExpressions").is_none(),
        "{what}: matchExpressions are not understood by this test; use matchLabels"
    );
    let wanted = selector["matchLabels"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the selector has no matchLabels: {selector}"));
    assert!(!wanted.is_empty(), "{what}: the selector is empty");
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A port (`containerPort` number or port name) of `container`, as a number.
#[track_caller]
fn resolve_port(container: &Value, port: &Value, what: &str) -> i64 {
    if let Some(n) = port.as_i64() {
        return n;
    }
    let name = port
        .as_str()
        .unwrap_or_else(|| panic!("{what}: port {port} is neither a number nor a name"));
    if let Ok(n) = name.parse::<i64>() {
        return n;
    }
    array(&container["ports"])
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("{what}: the container has no port named {name:?}"))
}

/// The value of `--flag=value` or `--flag value` in `args`.
fn flag(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix(&prefix) {
            Some(v.to_owned())
        } else if a == name {
            args.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// A Kubernetes quantity in base units (cores, bytes); enough for requests and limits.
#[track_caller]
fn quantity(v: &Value, what: &str) -> f64 {
    let text = match v {
        Value::Number(n) => return n.as_f64().expect("a finite number"),
        Value::String(s) => s.as_str(),
        _ => panic!("{what} must be a quantity, got {v}"),
    };
    let suffixes: [(&str, f64); 11] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("n", 1e-9),
        ("u", 1e-6),
    ];
    let (number, scale) = suffixes
        .iter()
        .find_map(|(s, f)| text.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((text, 1.0));
    number
        .parse::<f64>()
        .map(|n| n * scale)
        .unwrap_or_else(|_| panic!("{what}: {text:?} is not a quantity"))
}

/// (apiGroup, resource, verb) for every combination a Role or ClusterRole grants.
#[track_caller]
fn grants(role: &Value, what: &str) -> BTreeSet<(String, String, String)> {
    assert!(
        role.get("aggregationRule").is_none(),
        "{what} aggregates other ClusterRoles: what it grants cannot be read from the manifest"
    );
    let mut out = BTreeSet::new();
    for rule in array(&role["rules"]) {
        assert!(
            rule.get("nonResourceURLs").is_none(),
            "{what} grants non-resource URLs: {rule}"
        );
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

fn triples(group: &str, resource: &str, verbs: &[&str]) -> BTreeSet<(String, String, String)> {
    verbs
        .iter()
        .map(|v| (group.to_owned(), resource.to_owned(), (*v).to_owned()))
        .collect()
}

fn touches_secrets((group, resource, _): &(String, String, String)) -> bool {
    (group.is_empty() || group == "*")
        && (resource == "*" || resource == "secrets" || resource.starts_with("secrets/"))
}

/// `v` with every number as a float, so `0` and `0.0` (kustomize re-renders the one as the other)
/// compare equal.
fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_floats).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs the real kubectl without a cluster (`kubectl kustomize`).
fn kubectl_local(args: &[&str]) -> Output {
    kubectl::run_with(Command::new("kubectl").args(args), None)
}

// ---------------------------------------------------------------------------------------------
// The manifests, read from the files

/// The only namespaced objects outside extcluster-system: the controller's right to record events
/// about cluster-scoped registrations, which API servers before 1.22 accept only in kube-system.
const ELSEWHERE: &[(&str, &str)] = &[
    ("Role", "extcluster-controller-events"),
    ("RoleBinding", "extcluster-controller-events"),
];
/// The controller's rights where it publishes ClusterProfiles.
const IN_INVENTORY: &[(&str, &str)] = &[
    ("Role", "extcluster-controller-inventory"),
    ("RoleBinding", "extcluster-controller-inventory"),
];

#[test]
fn every_document_is_a_named_object_in_the_right_namespace() {
    let m = Manifests::load();
    let mut seen = BTreeSet::new();
    for d in &m.docs {
        assert!(
            d.v["apiVersion"].is_string() && !d.kind().is_empty() && !d.name().is_empty(),
            "a document in {} lacks apiVersion, kind or metadata.name: {}",
            d.file,
            d.v
        );
        if CLUSTER_SCOPED.contains(&d.kind()) {
            assert!(
                d.namespace().is_none(),
                "{} is cluster-scoped but sets metadata.namespace",
                d.id()
            );
        } else if ELSEWHERE.contains(&(d.kind(), d.name())) {
            assert_eq!(d.namespace(), Some("kube-system"), "{}", d.id());
        } else if IN_INVENTORY.contains(&(d.kind(), d.name())) {
            assert_eq!(d.namespace(), Some(INVENTORY_NAMESPACE), "{}", d.id());
        } else {
            assert_eq!(
                d.namespace(),
                Some(SYSTEM_NAMESPACE),
                "{} must set metadata.namespace: {SYSTEM_NAMESPACE} (the kustomization sets none)",
                d.id()
            );
        }
        let key = (
            d.kind().to_owned(),
            d.namespace().map(str::to_owned),
            d.name().to_owned(),
        );
        assert!(seen.insert(key), "{} is defined twice", d.id());
    }
    for (kind, name) in [
        ("Namespace", SYSTEM_NAMESPACE),
        ("CustomResourceDefinition", CRD_NAME),
        ("ServiceAccount", NAME),
        ("ClusterRole", NAME),
        ("ClusterRoleBinding", NAME),
        ("Deployment", NAME),
        ("Service", NAME),
        ("PodDisruptionBudget", NAME),
        ("ValidatingWebhookConfiguration", NAME),
        ("ClusterRole", "extcluster-viewer"),
        ("ClusterRole", "extcluster-operator"),
        ("Role", "extcluster-operator"),
    ] {
        m.get(kind, name);
    }
}

#[test]
fn webhook_rules_match_the_crd() {
    let crd = crd();
    let spec = &crd["spec"];
    assert_eq!(crd["metadata"]["name"], CRD_NAME, "the CRD's name");
    let group = spec["group"]
        .as_str()
        .expect("manifests/crd.yaml: the CRD has no spec.group");
    let plural = spec["names"]["plural"]
        .as_str()
        .expect("manifests/crd.yaml: the CRD has no spec.names.plural");
    let scope = spec["scope"]
        .as_str()
        .expect("manifests/crd.yaml: the CRD has no spec.scope");
    let served: BTreeSet<String> = array(&spec["versions"])
        .iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        group, GROUP,
        "the CRD's group differs from extcluster-core's"
    );
    assert_eq!(
        plural, PLURAL,
        "the CRD's plural differs from extcluster-core's"
    );
    assert!(served.contains(VERSION), "the CRD does not serve {VERSION}");

    let m = Manifests::load();
    let hook = m.webhook();
    let rules = array(&hook["rules"]);
    assert!(!rules.is_empty(), "webhook {WEBHOOK} has no rules");
    for rule in rules {
        assert_eq!(
            strings(&rule["apiGroups"]),
            [group],
            "webhook rule apiGroups must be exactly the CRD's group {group}: {rule}"
        );
        assert_eq!(
            strings(&rule["apiVersions"])
                .into_iter()
                .collect::<BTreeSet<_>>(),
            served,
            "webhook rule apiVersions must be exactly the versions the CRD serves {served:?}: {rule}"
        );
        assert_eq!(
            strings(&rule["resources"]),
            [plural],
            "webhook rule resources must be exactly the CRD's plural {plural} (no wildcard, no \
             subresource): {rule}"
        );
        assert_eq!(
            rule["scope"], scope,
            "webhook rule scope must be the CRD's scope {scope}: {rule}"
        );
        assert_eq!(
            strings(&rule["operations"])
                .into_iter()
                .collect::<BTreeSet<_>>(),
            set(&["CREATE", "UPDATE", "DELETE"]),
            "webhook rule operations must be exactly CREATE, UPDATE, DELETE: {rule}"
        );
        assert_eq!(
            strings(&rule["operations"]).len(),
            3,
            "webhook rule operations list one twice: {rule}"
        );
    }
    assert_eq!(
        hook["matchPolicy"], "Equivalent",
        "matchPolicy must be Equivalent, so a request through another version of the API is \
         still validated"
    );
}

#[test]
fn webhook_fails_closed_and_answers_fast() {
    let m = Manifests::load();
    let hook = m.webhook();
    assert_eq!(
        hook["failurePolicy"], "Fail",
        "failurePolicy must be Fail: with Ignore, a down webhook lets every write through"
    );
    assert_eq!(
        hook["sideEffects"], "None",
        "sideEffects must be None: the webhook has none, and dry-run requests must reach it"
    );
    assert_eq!(
        hook["admissionReviewVersions"],
        json!(["v1"]),
        "admissionReviewVersions must be exactly [v1]: the server speaks AdmissionReview v1 only"
    );
    let timeout = hook["timeoutSeconds"]
        .as_i64()
        .expect("timeoutSeconds is not set: the default, 10s, is above 5");
    assert!(
        (1..=5).contains(&timeout),
        "timeoutSeconds must be between 1 and 5, is {timeout}"
    );
}

#[test]
fn webhook_calls_the_service_the_server_listens_behind() {
    let m = Manifests::load();
    let hook = m.webhook();
    let cc = &hook["clientConfig"];
    assert!(
        cc.get("url").is_none(),
        "clientConfig must name the Service, not a url: {cc}"
    );
    let svc_ref = &cc["service"];
    assert_eq!(
        svc_ref["namespace"], SYSTEM_NAMESPACE,
        "clientConfig.service.namespace must be the Service's namespace {SYSTEM_NAMESPACE}"
    );
    assert_eq!(
        svc_ref["name"], NAME,
        "clientConfig.service.name must be the Service {NAME}"
    );
    assert_eq!(
        svc_ref["path"],
        server::VALIDATE_PATH,
        "clientConfig.service.path must be the server's {}",
        server::VALIDATE_PATH
    );
    let port = svc_ref["port"].as_i64().unwrap_or(443);
    assert_eq!(
        port, 443,
        "clientConfig.service.port must be the Service's https port 443"
    );
    if let Some(ca) = cc.get("caBundle") {
        let ca = ca.as_str().unwrap_or_default();
        assert!(
            !ca.is_empty(),
            "caBundle is set but empty: every `kubectl apply` would clear the CA that \
             cert-manager or the admin set; leave the field out instead"
        );
    }

    let svc = m.get("Service", NAME);
    assert_eq!(
        svc["metadata"]["namespace"], SYSTEM_NAMESPACE,
        "the Service's namespace"
    );
    let container = m.container();
    let ports = array(&svc["spec"]["ports"]);
    let https = ports
        .iter()
        .find(|p| p["port"].as_i64() == Some(port))
        .unwrap_or_else(|| panic!("Service {NAME} has no port {port}, which the webhook calls"));
    assert_eq!(
        https["name"], "https",
        "Service port {port} must be named https"
    );
    let target = resolve_port(
        container,
        https.get("targetPort").unwrap_or(&https["port"]),
        "Service port 443",
    );
    assert_eq!(
        target,
        server::LISTEN_PORT,
        "Service port {port} must reach the server's TLS port {}, reaches {target}",
        server::LISTEN_PORT
    );
    for p in ports {
        if let Some(t) = p.get("targetPort") {
            let n = resolve_port(container, t, "a Service port");
            assert!(
                [server::LISTEN_PORT, server::PROBE_PORT].contains(&n),
                "Service port {p} targets {n}, where the server does not listen"
            );
        }
    }
    assert!(
        selects(
            &json!({"matchLabels": svc["spec"]["selector"]}),
            m.pod_labels(),
            "Service selector"
        ),
        "the Service's selector does not select the Deployment's pods"
    );

    let declared: Vec<i64> = array(&container["ports"])
        .iter()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    assert!(
        declared.contains(&server::LISTEN_PORT),
        "the container must declare containerPort {}; declares {declared:?}",
        server::LISTEN_PORT
    );
    let args = strings(&container["args"]);
    for (name, port) in [
        ("--listen", server::LISTEN_PORT),
        ("--probe-listen", server::PROBE_PORT),
    ] {
        if let Some(addr) = flag(&args, name) {
            assert!(
                addr.ends_with(&format!(":{port}")),
                "{name}={addr} moves the server off port {port}, where the Service and probes \
                 expect it"
            );
        }
    }
}

#[test]
fn webhook_rbac_is_exactly_what_the_server_calls() {
    let m = Manifests::load();
    let role = m.get("ClusterRole", NAME);
    let got = grants(role, "ClusterRole extcluster-webhook");
    let want = triples(GROUP, PLURAL, &server::VERBS);
    assert_eq!(
        got,
        want,
        "ClusterRole {NAME} must grant exactly get, list, watch on {GROUP} {PLURAL}: extra {:?}, \
         missing {:?}",
        got.difference(&want).collect::<Vec<_>>(),
        want.difference(&got).collect::<Vec<_>>()
    );
    for rule in array(&role["rules"]) {
        assert!(
            rule.get("resourceNames").is_none(),
            "ClusterRole {NAME}: a watch of all ExternalClusters cannot be limited by resourceNames"
        );
    }

    let sa = m.get("ServiceAccount", NAME);
    assert_eq!(
        sa["metadata"]["namespace"], SYSTEM_NAMESPACE,
        "the ServiceAccount's namespace"
    );
    assert_eq!(
        m.pod_spec()["serviceAccountName"],
        NAME,
        "the Deployment must run as ServiceAccount {NAME}"
    );
    let is_ours = |s: &Value| {
        s["kind"] == "ServiceAccount" && s["name"] == NAME && s["namespace"] == SYSTEM_NAMESPACE
    };
    let bindings: Vec<&Doc> = m
        .docs
        .iter()
        .filter(|d| matches!(d.kind(), "ClusterRoleBinding" | "RoleBinding"))
        .filter(|d| array(&d.v["subjects"]).iter().any(is_ours))
        .collect();
    assert_eq!(
        bindings.len(),
        1,
        "exactly one binding may grant the webhook's ServiceAccount anything; found {:?}",
        bindings.iter().map(|d| d.id()).collect::<Vec<_>>()
    );
    let binding = bindings[0];
    assert_eq!(
        binding.kind(),
        "ClusterRoleBinding",
        "ExternalClusters are cluster-scoped: a ClusterRoleBinding is needed"
    );
    assert_eq!(
        binding.v["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME}),
        "{} must bind ClusterRole {NAME}",
        binding.id()
    );
}

#[test]
fn deployment_is_hardened_and_sized() {
    let m = Manifests::load();
    let dep = m.deployment();
    let pod = m.pod_spec();
    let replicas = dep["spec"]["replicas"].as_i64().unwrap_or(1);
    assert!(
        replicas >= 2,
        "the Deployment must run at least 2 replicas (failurePolicy is Fail), runs {replicas}"
    );
    assert!(
        selects(
            &dep["spec"]["selector"],
            m.pod_labels(),
            "Deployment selector"
        ),
        "the Deployment's selector does not select its own pod template"
    );
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "the pod needs its ServiceAccount token for the watch: automountServiceAccountToken: true"
    );
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        assert_ne!(pod[field], true, "the pod must not set {field}");
    }

    let c = m.container();
    assert!(
        c.get("command").is_none() || c["command"] == json!([server::BINARY]),
        "the container must run the image's entrypoint {}, runs {}",
        server::BINARY,
        c["command"]
    );
    let psc = &pod["securityContext"];
    let csc = &c["securityContext"];
    let effective = |f: &str| {
        if csc[f].is_null() {
            psc[f].clone()
        } else {
            csc[f].clone()
        }
    };
    assert_eq!(effective("runAsNonRoot"), true, "runAsNonRoot must be true");
    let uid = effective("runAsUser");
    assert!(
        uid.as_i64().is_some_and(|u| u > 0),
        "runAsUser must be a non-root uid (the image's 65532), is {uid}"
    );
    assert_eq!(
        effective("seccompProfile")["type"],
        "RuntimeDefault",
        "seccompProfile.type must be RuntimeDefault"
    );
    assert_eq!(
        csc["readOnlyRootFilesystem"], true,
        "the container must set readOnlyRootFilesystem: true"
    );
    assert_eq!(
        csc["allowPrivilegeEscalation"], false,
        "the container must set allowPrivilegeEscalation: false"
    );
    assert_ne!(
        csc["privileged"], true,
        "the container must not be privileged"
    );
    assert!(
        strings(&csc["capabilities"]["drop"]).contains(&"ALL".to_owned()),
        "the container must drop ALL capabilities, drops {}",
        csc["capabilities"]["drop"]
    );
    assert!(
        array(&csc["capabilities"]["add"]).is_empty(),
        "the container must add no capabilities, adds {}",
        csc["capabilities"]["add"]
    );

    let res = &c["resources"];
    for r in ["cpu", "memory"] {
        let req = &res["requests"][r];
        let lim = &res["limits"][r];
        assert!(!req.is_null(), "the container must request {r}");
        assert!(!lim.is_null(), "the container must limit {r}");
        let (req, lim) = (
            quantity(req, &format!("requests.{r}")),
            quantity(lim, &format!("limits.{r}")),
        );
        assert!(
            req > 0.0 && req <= lim,
            "the {r} request ({req}) must be positive and at most the limit ({lim})"
        );
    }

    let spread = array(&pod["topologySpreadConstraints"])
        .iter()
        .find(|t| t["topologyKey"] == "kubernetes.io/hostname")
        .expect("the pods are not spread across nodes: no topologySpreadConstraint on kubernetes.io/hostname");
    assert!(
        selects(
            &spread["labelSelector"],
            m.pod_labels(),
            "topologySpreadConstraint"
        ),
        "the topologySpreadConstraint's labelSelector does not select the webhook's pods"
    );
    let anti = array(
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
    )
    .iter()
    .find(|t| t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname")
    .expect("the pods do not prefer nodes apart: no preferred podAntiAffinity on kubernetes.io/hostname");
    assert!(
        selects(
            &anti["podAffinityTerm"]["labelSelector"],
            m.pod_labels(),
            "podAntiAffinity"
        ),
        "the podAntiAffinity's labelSelector does not select the webhook's pods"
    );
}

#[test]
fn deployment_mounts_the_tls_secret_where_the_server_reads_it() {
    let m = Manifests::load();
    let pod = m.pod_spec();
    let c = m.container();
    let volume = array(&pod["volumes"])
        .iter()
        .find(|v| v["secret"]["secretName"] == server::TLS_SECRET)
        .unwrap_or_else(|| panic!("no volume of the pod mounts Secret {}", server::TLS_SECRET));
    let mount = array(&c["volumeMounts"])
        .iter()
        .find(|vm| vm["name"] == volume["name"])
        .unwrap_or_else(|| panic!("the container does not mount volume {}", volume["name"]));
    assert_eq!(
        mount["mountPath"],
        server::TLS_DIR,
        "the TLS Secret must be mounted at {}",
        server::TLS_DIR
    );
    assert_eq!(
        mount["readOnly"], true,
        "the TLS Secret must be mounted readOnly"
    );
    assert!(
        mount.get("subPath").is_none(),
        "the TLS Secret must not be mounted with subPath: the kubelet never updates a subPath \
         mount, so a renewed certificate would never reach the server"
    );
    let args = strings(&c["args"]);
    for (name, file) in [
        ("--tls-cert-file", "tls.crt"),
        ("--tls-key-file", "tls.key"),
    ] {
        assert_eq!(
            flag(&args, name),
            Some(format!("{}/{file}", server::TLS_DIR)),
            "the server must be given {name}={}/{file}",
            server::TLS_DIR
        );
    }
}

/// The Deployment's arguments, parsed by the server's own command line: every flag exists, every
/// value parses, and the ports and files are the ones the rest of the manifests assume. The
/// server's defaults are checked against this file's constants too.
#[test]
fn the_server_accepts_the_deployments_arguments() {
    use clap::Parser;
    use extcluster_webhook::cli::Cli;

    let defaults = Cli::try_parse_from(["extcluster-webhook"])
        .unwrap_or_else(|e| panic!("the server refuses to start without arguments: {e}"));
    assert_eq!(
        i64::from(defaults.serve.listen.port()),
        server::LISTEN_PORT,
        "the server's default --listen port changed; update these tests and the manifests"
    );
    assert_eq!(
        i64::from(defaults.serve.probe_listen.port()),
        server::PROBE_PORT,
        "the server's default --probe-listen port changed; update these tests and the manifests"
    );

    let m = Manifests::load();
    let args = strings(&m.container()["args"]);
    let cli =
        Cli::try_parse_from(std::iter::once("extcluster-webhook".to_owned()).chain(args.clone()))
            .unwrap_or_else(|e| {
                panic!("the server refuses the Deployment's arguments {args:?}: {e}")
            });
    assert!(
        cli.command.is_none(),
        "the Deployment's arguments run a subcommand instead of the server"
    );
    let serve = &cli.serve;
    assert_eq!(
        i64::from(serve.listen.port()),
        server::LISTEN_PORT,
        "with the Deployment's arguments the server listens on {}, not the Service's target \
         port {}",
        serve.listen,
        server::LISTEN_PORT
    );
    assert_eq!(
        i64::from(serve.probe_listen.port()),
        server::PROBE_PORT,
        "with the Deployment's arguments the probes are on {}, not port {}",
        serve.probe_listen,
        server::PROBE_PORT
    );
    assert!(
        serve.listen.ip().is_unspecified() && serve.probe_listen.ip().is_unspecified(),
        "the server must listen on all addresses in the pod, listens on {} and {}",
        serve.listen,
        serve.probe_listen
    );
    for (flag, file, want) in [
        ("--tls-cert-file", &serve.tls_cert_file, "tls.crt"),
        ("--tls-key-file", &serve.tls_key_file, "tls.key"),
    ] {
        assert_eq!(
            file.as_deref(),
            Some(Path::new(server::TLS_DIR).join(want).as_path()),
            "{flag} must be {}/{want}, where the TLS Secret is mounted",
            server::TLS_DIR
        );
    }
    assert!(
        serve.kubeconfig.is_none(),
        "in the cluster the server must use its ServiceAccount, not --kubeconfig"
    );
}

#[test]
fn probes_ask_the_probe_port() {
    let m = Manifests::load();
    let c = m.container();
    for (probe, path) in [
        ("livenessProbe", server::LIVENESS_PATH),
        ("readinessProbe", server::READINESS_PATH),
    ] {
        let get = &c[probe]["httpGet"];
        assert!(!get.is_null(), "the container needs a {probe} with httpGet");
        assert_eq!(get["path"], path, "{probe} must ask {path}");
        let port = resolve_port(c, &get["port"], probe);
        assert_eq!(
            port,
            server::PROBE_PORT,
            "{probe} must ask the probe port {}, asks {port}",
            server::PROBE_PORT
        );
        assert!(
            get.get("scheme").is_none() || get["scheme"] == "HTTP",
            "{probe}: the probe port speaks plain HTTP, the probe uses {}",
            get["scheme"]
        );
    }
}

#[test]
fn pdb_keeps_a_replica_of_the_webhook_pods() {
    let m = Manifests::load();
    let pdb = m.get("PodDisruptionBudget", NAME);
    assert_eq!(
        pdb["apiVersion"], "policy/v1",
        "the PodDisruptionBudget must be policy/v1 (the only version from Kubernetes 1.25 on)"
    );
    let min = pdb["spec"]["minAvailable"].as_i64();
    let replicas = m.deployment()["spec"]["replicas"].as_i64().unwrap_or(1);
    assert!(
        min.is_some_and(|n| n >= 1 && n < replicas),
        "minAvailable must be at least 1 and below the {replicas} replicas (or no drain could \
         ever proceed), is {}",
        pdb["spec"]["minAvailable"]
    );
    assert!(
        selects(
            &pdb["spec"]["selector"],
            m.pod_labels(),
            "PodDisruptionBudget selector"
        ),
        "the PodDisruptionBudget's selector does not select the Deployment's pods"
    );
}

#[test]
fn roles_for_people_keep_secrets_apart() {
    let m = Manifests::load();
    let viewer = grants(
        m.get("ClusterRole", "extcluster-viewer"),
        "extcluster-viewer",
    );
    let on_secrets: Vec<_> = viewer.iter().filter(|t| touches_secrets(t)).collect();
    assert!(
        on_secrets.is_empty(),
        "ClusterRole extcluster-viewer must grant nothing on secrets, grants {on_secrets:?}"
    );
    let read = ["get", "list", "watch"];
    let inventory = triples("multicluster.x-k8s.io", "clusterprofiles", &read);
    assert_eq!(
        viewer,
        triples(GROUP, PLURAL, &read)
            .into_iter()
            .chain(inventory.iter().cloned())
            .collect::<BTreeSet<_>>(),
        "ClusterRole extcluster-viewer must grant exactly get, list, watch on externalclusters \
         and on the ClusterProfiles published for them"
    );

    let operator = grants(
        m.get("ClusterRole", "extcluster-operator"),
        "extcluster-operator",
    );
    let on_secrets: Vec<_> = operator.iter().filter(|t| touches_secrets(t)).collect();
    assert!(
        on_secrets.is_empty(),
        "ClusterRole extcluster-operator must grant nothing on secrets (it would be every \
         namespace's); grants {on_secrets:?}"
    );
    let all = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let needed = triples(GROUP, PLURAL, &all)
        .into_iter()
        .chain(triples(GROUP, &format!("{PLURAL}/status"), &["patch"]))
        .chain(inventory)
        .collect::<BTreeSet<_>>();
    let missing: Vec<_> = needed.difference(&operator).collect();
    assert!(
        missing.is_empty(),
        "ClusterRole extcluster-operator lacks {missing:?}"
    );

    let role = m.get("Role", "extcluster-operator");
    assert_eq!(
        role["metadata"]["namespace"], SYSTEM_NAMESPACE,
        "Role extcluster-operator must live in {SYSTEM_NAMESPACE}, where kubeconfig Secrets are"
    );
    let hub_identities = triples("", "serviceaccounts", &["get", "create", "patch", "delete"])
        .into_iter()
        .chain(triples("", "serviceaccounts/token", &["create"]));
    assert_eq!(
        grants(role, "Role extcluster-operator"),
        triples("", "secrets", &["get", "create", "patch", "delete"])
            .into_iter()
            .chain(hub_identities)
            .collect::<BTreeSet<_>>(),
        "Role extcluster-operator must grant exactly get, create, patch, delete on secrets, and \
         on serviceaccounts with create on their tokens (federated registrations' hub identities)"
    );

    let people = ["extcluster-viewer", "extcluster-operator"];
    let bound: Vec<String> = m
        .docs
        .iter()
        .filter(|d| matches!(d.kind(), "ClusterRoleBinding" | "RoleBinding"))
        .filter(|d| {
            d.v["roleRef"]["name"]
                .as_str()
                .is_some_and(|n| people.contains(&n))
        })
        .map(Doc::id)
        .collect();
    assert!(
        bound.is_empty(),
        "the roles for people are bound by the admin, not by the install: {bound:?}"
    );
}

#[test]
fn kustomization_lists_every_manifest() {
    let dir = manifests_dir();
    let k = parse_yaml(
        &read(&dir.join("kustomization.yaml")),
        "manifests/kustomization.yaml",
    );
    assert_eq!(
        k.len(),
        1,
        "manifests/kustomization.yaml must be one document"
    );
    let k = &k[0];
    assert_eq!(
        k["kind"], "Kustomization",
        "manifests/kustomization.yaml kind"
    );
    let listed = strings(&k["resources"]);
    let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "manifests/kustomization.yaml lists a resource twice: {listed:?}"
    );
    for r in &listed {
        assert!(
            dir.join(r).is_file(),
            "manifests/kustomization.yaml lists {r}, which is not a file in manifests/"
        );
    }
    let files = yaml_files(&dir);
    let unlisted: Vec<_> = files.difference(&listed_set).collect();
    assert!(
        unlisted.is_empty(),
        "manifests/kustomization.yaml does not list {unlisted:?}: `kubectl apply -k manifests/` \
         would not install them"
    );
    assert!(
        listed_set.contains("crd.yaml"),
        "manifests/kustomization.yaml must install the CRD"
    );

    let cm = dir.join("cert-manager");
    let c = parse_yaml(
        &read(&cm.join("kustomization.yaml")),
        "manifests/cert-manager/kustomization.yaml",
    );
    let c = &c[0];
    let mut used = BTreeSet::new();
    for r in strings(&c["resources"]).into_iter().chain(
        array(&c["patches"])
            .iter()
            .filter_map(|p| p["path"].as_str().map(str::to_owned)),
    ) {
        assert!(
            cm.join(&r).is_file(),
            "manifests/cert-manager/kustomization.yaml names {r}, which is not a file there"
        );
        used.insert(r);
    }
    let unused: Vec<_> = yaml_files(&cm).difference(&used).cloned().collect();
    assert!(
        unused.is_empty(),
        "manifests/cert-manager/kustomization.yaml does not use {unused:?}"
    );
}

/// `kubectl kustomize manifests/` renders exactly the objects of the files.
#[test]
fn the_base_renders_with_kubectl() {
    let dir = manifests_dir();
    let out = kubectl_local(&["kustomize", dir.to_str().expect("a UTF-8 path")]).success();
    let rendered = Manifests::rendered(&out.stdout, "kubectl kustomize manifests/");
    let ids = |m: &Manifests| -> BTreeSet<(String, String)> {
        m.docs
            .iter()
            .map(|d| (d.kind().to_owned(), d.name().to_owned()))
            .collect()
    };
    let files = Manifests::load();
    assert_eq!(
        ids(&rendered),
        ids(&files),
        "kubectl kustomize manifests/ renders other objects than the files hold"
    );
    assert_eq!(rendered.docs.len(), files.docs.len(), "object count");
    // What these tests read (serde-saphyr) is what kubectl reads: no YAML 1.1/1.2 surprises
    // (octal modes, yes/no booleans) between the two.
    for d in &files.docs {
        let r = rendered
            .find(d.kind(), d.name())
            .expect("rendered, checked above");
        assert_eq!(
            numbers_as_floats(&r.v),
            numbers_as_floats(&d.v),
            "kubectl reads {} differently from these tests",
            d.id()
        );
    }
}

/// The cert-manager component, added to the base by a kustomization of one's own (as its
/// kustomization.yaml shows), renders: cert-manager issues the Secret the Deployment mounts and
/// injects its CA into the webhook. cert-manager's CRDs are not installed anywhere here, so this
/// is a client-side render only.
#[test]
fn the_cert_manager_component_renders() {
    let m = render_with(
        &["cert-manager"],
        "the base with the cert-manager component",
    );

    // Everything of the base is still there.
    for d in Manifests::load().docs {
        assert!(
            m.find(d.kind(), d.name()).is_some(),
            "the cert-manager render lost {}",
            d.id()
        );
    }
    let vwc = m.get("ValidatingWebhookConfiguration", NAME);
    let from = vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        .as_str()
        .expect("the webhook configuration lacks the annotation cert-manager.io/inject-ca-from");
    assert_eq!(
        from,
        format!("{SYSTEM_NAMESPACE}/{NAME}"),
        "cert-manager.io/inject-ca-from must name the serving Certificate"
    );
    let (ns, name) = from
        .split_once('/')
        .expect("inject-ca-from is not namespace/name");
    let cert = m
        .of_kind("Certificate")
        .into_iter()
        .find(|d| d.name() == name && d.namespace() == Some(ns))
        .unwrap_or_else(|| {
            panic!("inject-ca-from names Certificate {from}, which is not rendered")
        });
    assert_eq!(
        cert.v["spec"]["secretName"],
        server::TLS_SECRET,
        "the serving Certificate must write the Secret the Deployment mounts"
    );
    assert!(
        strings(&cert.v["spec"]["dnsNames"]).contains(&SERVICE_DNS.to_owned()),
        "the serving Certificate must be for {SERVICE_DNS}, is for {}",
        cert.v["spec"]["dnsNames"]
    );
    let issuer = &cert.v["spec"]["issuerRef"];
    assert!(
        m.of_kind("Issuer")
            .iter()
            .any(|d| d.v["metadata"]["name"] == issuer["name"] && d.namespace() == Some(ns)),
        "the serving Certificate's issuer {issuer} is not rendered"
    );
    assert!(
        m.of_kind("Issuer")
            .iter()
            .any(|d| d.v["spec"].get("selfSigned").is_some()),
        "the component must bring its own self-signed Issuer"
    );
    assert!(
        vwc["webhooks"][0]["clientConfig"].get("caBundle").is_none(),
        "with cert-manager the caBundle must be left to the cainjector"
    );
}

// ---------------------------------------------------------------------------------------------
// On a real API server

fn get_json(hub: &ControlPlane, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = hub.kubectl(&all);
    assert!(
        out.ok(),
        "kubectl {} found nothing after the install: {}",
        args.join(" "),
        out.stderr
    );
    serde_json::from_str(&out.stdout).expect("kubectl prints JSON")
}

/// Does the API server allow it? (`kubectl auth can-i`, impersonating.)
fn can_i(hub: &ControlPlane, who: &str, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend(args);
    let as_ = format!("--as={who}");
    all.push(&as_);
    let out = hub.kubectl(&all);
    match out.stdout.trim() {
        "yes" => true,
        "no" => false,
        _ => panic!(
            "kubectl {} answered neither yes nor no: {out:?}",
            all.join(" ")
        ),
    }
}

/// `kubectl apply -k manifests/`. On an API server without policy/v1 (1.20), its one error must
/// be the PodDisruptionBudget's version; everything else is applied.
fn apply_k(hub: &ControlPlane, dir: &str, serves_policy_v1: bool) -> Output {
    let out = hub.kubectl(&["apply", "-k", dir]);
    if serves_policy_v1 {
        assert!(
            out.ok(),
            "kubectl apply -k manifests/ failed: {}",
            out.stderr
        );
    } else {
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .collect();
        assert!(
            errors.len() == 1
                && errors[0].contains("PodDisruptionBudget")
                && errors[0].contains("policy/v1"),
            "on 1.20, kubectl apply -k manifests/ may fail only on the policy/v1 \
             PodDisruptionBudget; it said:\n{}",
            out.stderr
        );
    }
    out
}

#[track_caller]
fn assert_all_unchanged(out: &Output, what: &str) {
    let changed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.ends_with(" unchanged"))
        .collect();
    assert!(
        changed.is_empty(),
        "{what} must change nothing (the manifests must not fight the API server's defaults or \
         what cert-manager and admins set), but: {changed:?}"
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The hub the manifests are installed on, and what it serves.
struct Install<'a> {
    hub: &'a ControlPlane,
    dir: &'a str,
    serves_policy_v1: bool,
}

#[tokio::test]
async fn kubectl_apply_k_installs_everything_on_a_real_api_server() {
    let hub = ControlPlane::start(Options::default().name("hub"))
        .await
        .unwrap();
    let dir = manifests_dir();
    let serves_policy_v1 = hub
        .kubectl(&["api-versions"])
        .success()
        .stdout
        .lines()
        .any(|l| l.trim() == "policy/v1");
    let install = Install {
        hub: &hub,
        dir: dir.to_str().expect("a UTF-8 path"),
        serves_policy_v1,
    };
    let mut step = Steps::start("install what kubectl kustomize renders");
    let pdb = install_rendered(&install);
    step.next("kubectl apply -k again changes nothing");
    apply_k_again_changes_nothing(&install);
    step.next("every object is there");
    every_object_is_there(&hub);
    step.next("the API server stored every field");
    stored_as_written(&hub);
    step.next("the webhook's account may read ExternalClusters and nothing else");
    webhook_account_reads_only(&hub);
    step.next("the viewer and operator roles grant what they say");
    roles_for_people(&hub);
    step.next("a caBundle set by hand survives the next apply");
    ca_bundle_set_by_hand_survives(&install);
    step.next("the PodDisruptionBudget is valid");
    pod_disruption_budget_is_valid(&install, &pdb);
}

/// Applies the rendered manifests (on 1.20 all but the PodDisruptionBudget); returns the PDB.
fn install_rendered(install: &Install) -> Value {
    let (hub, dir, serves_policy_v1) = (install.hub, install.dir, install.serves_policy_v1);
    // The test API server is 1.20, which serves PodDisruptionBudgets as policy/v1beta1 only
    // (policy/v1 arrived in 1.21); real hubs from 1.25 on serve policy/v1 only, which is what the
    // manifest uses. So on 1.20: everything except the PDB is applied and must succeed, and the
    // PDB is checked below by the server's own validation in the version it serves.
    let rendered = kubectl_local(&["kustomize", dir]).success().stdout;
    let m = Manifests::rendered(&rendered, "kubectl kustomize manifests/");
    let (pdbs, rest): (Vec<&Doc>, Vec<&Doc>) = m
        .docs
        .iter()
        .partition(|d| d.kind() == "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 1, "one PodDisruptionBudget is rendered");
    let install = if serves_policy_v1 {
        m.docs.iter().collect()
    } else {
        rest
    };
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": install.iter().map(|d| d.v.clone()).collect::<Vec<_>>(),
    });
    hub.kubectl_stdin(&["apply", "-f", "-"], &list.to_string())
        .success();
    pdbs[0].v.clone()
}

fn apply_k_again_changes_nothing(install: &Install) {
    let out = apply_k(install.hub, install.dir, install.serves_policy_v1);
    assert_all_unchanged(&out, "a second kubectl apply -k manifests/");
}

fn every_object_is_there(hub: &ControlPlane) {
    // No pod runs: this control plane has no nodes.
    hub.kubectl(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{CRD_NAME}"),
        "--timeout=30s",
    ])
    .success();
    get_json(hub, &["get", "namespace", SYSTEM_NAMESPACE]);
    for kind in ["serviceaccount", "role/extcluster-operator"] {
        let what = if kind.contains('/') {
            kind.to_owned()
        } else {
            format!("{kind}/{NAME}")
        };
        get_json(hub, &["-n", SYSTEM_NAMESPACE, "get", &what]);
    }
    for what in [
        "clusterrole/extcluster-webhook",
        "clusterrole/extcluster-viewer",
        "clusterrole/extcluster-operator",
        "clusterrolebinding/extcluster-webhook",
    ] {
        get_json(hub, &["get", what]);
    }
}

fn stored_as_written(hub: &ControlPlane) {
    // As the API server stored them: nothing dropped as unknown by this older server.
    let dep = get_json(hub, &["-n", SYSTEM_NAMESPACE, "get", "deployment", NAME]);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(dep["spec"]["replicas"], 2, "stored Deployment replicas");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "the API server dropped the pod's seccompProfile"
    );
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true,
        "the API server dropped readOnlyRootFilesystem"
    );
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"], "kubernetes.io/hostname",
        "the API server dropped topologySpreadConstraints"
    );
    let svc = get_json(hub, &["-n", SYSTEM_NAMESPACE, "get", "service", NAME]);
    let https = array(&svc["spec"]["ports"])
        .iter()
        .find(|p| p["name"] == "https")
        .expect("the stored Service has no port named https");
    assert_eq!(https["port"], 443, "stored Service port");
    assert_eq!(https["targetPort"], "https", "stored Service targetPort");
    let vwc = get_json(hub, &["get", "validatingwebhookconfiguration", NAME]);
    let hook = &vwc["webhooks"][0];
    assert_eq!(hook["name"], WEBHOOK, "stored webhook name");
    assert_eq!(hook["failurePolicy"], "Fail", "stored failurePolicy");
    assert_eq!(hook["sideEffects"], "None", "stored sideEffects");
    assert_eq!(hook["timeoutSeconds"], 5, "stored timeoutSeconds");
    assert_eq!(hook["matchPolicy"], "Equivalent", "stored matchPolicy");
    assert_eq!(
        hook["clientConfig"]["service"],
        json!({"namespace": SYSTEM_NAMESPACE, "name": NAME, "path": "/validate", "port": 443}),
        "stored clientConfig.service"
    );
    assert_eq!(
        hook["rules"],
        json!([{
            "apiGroups": [GROUP], "apiVersions": [VERSION], "resources": [PLURAL],
            "operations": ["CREATE", "UPDATE", "DELETE"], "scope": "Cluster"
        }]),
        "stored rules"
    );
}

fn webhook_account_reads_only(hub: &ControlPlane) {
    // RBAC as the API server decides it: the webhook's account can read ExternalClusters and do
    // nothing else.
    let sa = format!("system:serviceaccount:{SYSTEM_NAMESPACE}:{NAME}");
    let ec = format!("{PLURAL}.{GROUP}");
    for verb in server::VERBS {
        assert!(
            can_i(hub, &sa, &[verb, &ec]),
            "the webhook cannot {verb} {ec}"
        );
    }
    for args in [
        vec!["create", ec.as_str()],
        vec!["update", ec.as_str()],
        vec!["patch", ec.as_str(), "--subresource=status"],
        vec!["get", "secrets", "-n", SYSTEM_NAMESPACE],
        vec!["list", "configmaps", "-n", SYSTEM_NAMESPACE],
        vec!["create", "events", "-n", SYSTEM_NAMESPACE],
        vec!["get", "leases.coordination.k8s.io", "-n", SYSTEM_NAMESPACE],
    ] {
        assert!(
            !can_i(hub, &sa, &args),
            "the webhook's ServiceAccount may {}: more than it needs",
            args.join(" ")
        );
    }
}

fn roles_for_people(hub: &ControlPlane) {
    let ec = format!("{PLURAL}.{GROUP}");
    // The roles for people, bound as an admin would.
    hub.kubectl(&[
        "create",
        "clusterrolebinding",
        "test-viewer",
        "--clusterrole=extcluster-viewer",
        "--user=vera",
    ])
    .success();
    assert!(
        can_i(hub, "vera", &["list", &ec]),
        "a viewer cannot list {ec}"
    );
    assert!(
        !can_i(hub, "vera", &["create", &ec]),
        "a viewer can create {ec}"
    );
    assert!(
        !can_i(hub, "vera", &["get", "secrets", "-n", SYSTEM_NAMESPACE]),
        "a viewer can read Secrets in {SYSTEM_NAMESPACE}"
    );
    hub.kubectl(&[
        "create",
        "clusterrolebinding",
        "test-operator",
        "--clusterrole=extcluster-operator",
        "--user=otto",
    ])
    .success();
    hub.kubectl(&[
        "-n",
        SYSTEM_NAMESPACE,
        "create",
        "rolebinding",
        "test-operator",
        "--role=extcluster-operator",
        "--user=otto",
    ])
    .success();
    for args in [
        vec!["create", ec.as_str()],
        vec!["delete", ec.as_str()],
        vec!["patch", ec.as_str(), "--subresource=status"],
        vec!["create", "secrets", "-n", SYSTEM_NAMESPACE],
        vec!["get", "secrets", "-n", SYSTEM_NAMESPACE],
    ] {
        assert!(
            can_i(hub, "otto", &args),
            "an operator cannot {}",
            args.join(" ")
        );
    }
    for args in [
        vec!["list", "secrets", "-n", SYSTEM_NAMESPACE],
        vec!["get", "secrets", "-n", "default"],
        vec!["get", "secrets", "-n", "kube-system"],
    ] {
        assert!(
            !can_i(hub, "otto", &args),
            "an operator can {}",
            args.join(" ")
        );
    }
}

fn ca_bundle_set_by_hand_survives(install: &Install) {
    let hub = install.hub;
    // A caBundle set by hand, as webhook.yaml documents, survives the next apply.
    let ca = base64_encode(hub.ca_pem());
    let patch = json!([{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ca}]);
    hub.kubectl(&[
        "patch",
        "validatingwebhookconfiguration",
        NAME,
        "--type=json",
        "-p",
        &patch.to_string(),
    ])
    .success();
    let out = apply_k(hub, install.dir, install.serves_policy_v1);
    assert_all_unchanged(
        &out,
        "kubectl apply -k manifests/ after setting the caBundle",
    );
    let vwc = get_json(hub, &["get", "validatingwebhookconfiguration", NAME]);
    assert_eq!(
        vwc["webhooks"][0]["clientConfig"]["caBundle"], ca,
        "kubectl apply -k manifests/ cleared the caBundle set by hand"
    );
}

fn pod_disruption_budget_is_valid(install: &Install, pdb: &Value) {
    let hub = install.hub;
    if !install.serves_policy_v1 {
        // The PDB, in the version 1.20 serves: minAvailable and a matchLabels selector mean the
        // same in policy/v1beta1 and policy/v1 (they differ only for an empty selector), so the
        // server's validation of the v1beta1 twin, in a server-side dry run, vouches for the
        // spec. `kubectl apply --dry-run=client` cannot stand in: it needs the server to know
        // policy/v1 to map the kind.
        let mut pdb = pdb.clone();
        pdb["apiVersion"] = json!("policy/v1beta1");
        let out = hub
            .kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &pdb.to_string())
            .success();
        assert_contains(&out.stdout, "poddisruptionbudget.policy/extcluster-webhook");
    } else {
        get_json(hub, &["-n", SYSTEM_NAMESPACE, "get", "pdb", NAME]);
    }
}

// ---------------------------------------------------------------------------------------------
// The controller's Deployment

#[test]
fn the_controller_is_hardened_and_its_binary_takes_the_deployments_arguments() {
    let m = Manifests::load();
    let dep = m.get("Deployment", "extcluster-controller");
    assert!(
        dep["spec"]["replicas"].as_i64() >= Some(2),
        "two replicas, one leading"
    );
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "extcluster-controller");
    let c = &array(&pod["containers"])[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    for kind in ["requests", "limits"] {
        assert!(
            c["resources"][kind]["memory"].is_string(),
            "resources.{kind}.memory"
        );
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args = strings(&c["args"]);
    assert!(
        args.contains(&"--probe-listen=0.0.0.0:8080".to_owned()),
        "{args:?}"
    );

    // The real binary reads every argument and environment variable the Deployment gives it,
    // and gets as far as reaching the hub.
    let bin = extcluster_tests::bins::workspace_bin("extcluster-controller").unwrap();
    let help = Command::new(&bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let env: Vec<(String, String)> = array(&c["env"])
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                "from-the-pod".to_owned(),
            )
        })
        .collect();
    for (name, _) in &env {
        assert_contains(&help, &format!("env: {name}="));
    }
    let out = Command::new(&bin)
        .args(&args)
        .arg("--kubeconfig=/nonexistent/hub.kubeconfig")
        .envs(env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_contains(
        &stderr,
        "cannot read the hub's kubeconfig /nonexistent/hub.kubeconfig",
    );
}

/// `kubectl kustomize` of a user's kustomization: the base and `components` of manifests/.
fn render_with(components: &[&str], label: &str) -> Manifests {
    let target = repo_root().join("target");
    std::fs::create_dir_all(&target).expect("creating target/");
    // Inside the repository, so relative paths reach manifests/ (kustomize refuses absolute ones).
    let user = tempfile::Builder::new()
        .prefix("kustomize-components-")
        .tempdir_in(&target)
        .expect("a temporary directory");
    let up = "../".repeat(
        user.path()
            .strip_prefix(repo_root())
            .expect("under the repository")
            .components()
            .count(),
    );
    let listed: String = components
        .iter()
        .map(|c| format!("- {up}manifests/{c}\n"))
        .collect();
    std::fs::write(
        user.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- \
             {up}manifests\ncomponents:\n{listed}"
        ),
    )
    .expect("writing kustomization.yaml");
    let out = kubectl_local(&["kustomize", user.path().to_str().expect("a UTF-8 path")]).success();
    Manifests::rendered(&out.stdout, label)
}

#[test]
fn the_publishing_components_render() {
    let m = render_with(
        &["cluster-profile", "export-argocd", "export-flux"],
        "the base with the publishing components",
    );
    let crd = m.get(
        "CustomResourceDefinition",
        "clusterprofiles.multicluster.x-k8s.io",
    );
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
    assert_eq!(crd["spec"]["versions"][0]["storage"], true);
    let args = strings(
        &m.get("Deployment", "extcluster-controller")["spec"]["template"]["spec"]["containers"][0]
            ["args"],
    );
    for flag in ["--export=argocd", "--export=flux"] {
        assert!(args.contains(&flag.to_owned()), "{args:?} lacks {flag}");
    }
    for ns in ["argocd", "flux-system"] {
        let role = m
            .of_kind("Role")
            .into_iter()
            .find(|d| d.namespace() == Some(ns))
            .unwrap_or_else(|| panic!("no Role in {ns}"));
        let binding = m
            .of_kind("RoleBinding")
            .into_iter()
            .find(|d| d.namespace() == Some(ns))
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        assert_eq!(binding.v["roleRef"]["name"], role.v["metadata"]["name"]);
        assert_eq!(binding.v["subjects"][0]["name"], "extcluster-controller");
        assert_eq!(
            role.v["rules"][0]["resources"],
            serde_json::json!(["secrets"])
        );
    }
}

#[test]
fn the_crd_guard_is_sent_only_the_guarded_crds_deletion() {
    use extcluster_core::api::{GUARD_LABEL, GUARD_VALUE};
    let m = Manifests::load();
    let guard = &m.webhooks()[1];
    assert_eq!(
        guard["rules"],
        json!([{"apiGroups": ["apiextensions.k8s.io"], "apiVersions": ["v1"],
                "resources": ["customresourcedefinitions"], "operations": ["DELETE"],
                "scope": "Cluster"}])
    );
    assert_eq!(
        guard["objectSelector"],
        json!({"matchLabels": {GUARD_LABEL: GUARD_VALUE}})
    );
    assert_eq!(
        crd()["metadata"]["labels"][GUARD_LABEL],
        GUARD_VALUE,
        "the CRD must carry the label the guard selects"
    );
    let service = &guard["clientConfig"]["service"];
    assert_eq!(service["path"], server::CRD_GUARD_PATH);
    assert_eq!(
        service["name"],
        m.webhook()["clientConfig"]["service"]["name"]
    );
    assert_eq!(guard["failurePolicy"], "Fail");
    assert_eq!(guard["sideEffects"], "None");
    assert_eq!(guard["admissionReviewVersions"], json!(["v1"]));
}

#[test]
fn network_policies_admit_exactly_the_ports_the_pods_serve() {
    let m = Manifests::load();
    for (policy, deployment, ingress) in [
        (NAME, NAME, vec![server::LISTEN_PORT, server::PROBE_PORT]),
        ("extcluster-controller", "extcluster-controller", vec![8080]),
    ] {
        let np = m.get("NetworkPolicy", policy);
        let pods = &m.get("Deployment", deployment)["spec"]["template"]["metadata"]["labels"];
        for (k, v) in np["spec"]["podSelector"]["matchLabels"]
            .as_object()
            .expect("a matchLabels selector")
        {
            assert_eq!(
                &pods[k], v,
                "NetworkPolicy {policy} selects {k}={v}, not {deployment}'s pods"
            );
        }
        let admitted: Vec<i64> = array(&np["spec"]["ingress"])
            .iter()
            .flat_map(|rule| {
                array(&rule["ports"])
                    .iter()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(admitted, ingress, "NetworkPolicy {policy}'s ingress ports");
        let served: Vec<i64> = array(
            &m.get("Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["ports"],
        )
        .iter()
        .map(|p| p["containerPort"].as_i64().unwrap())
        .collect();
        for port in &admitted {
            assert!(
                served.contains(port),
                "{policy} admits {port}, which {deployment} does not serve"
            );
        }
    }
    let egress = &m.get("NetworkPolicy", NAME)["spec"]["egress"];
    assert_eq!(
        array(&egress[0]["ports"])
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [443, 6443],
        "the webhook calls only the API server"
    );
}
