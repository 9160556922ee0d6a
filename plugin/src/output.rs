//! Output the way kubectl prints it: aligned tables, `-o wide|json|yaml|name`, kubectl's ages.

use anyhow::Result;
use extcluster_core::api::{GROUP, PLURAL};
use extcluster_core::{ExternalCluster, ExternalClusterStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Adds SERVER and CLUSTER-ID to the table.
    Wide,
    Json,
    Yaml,
    /// `externalcluster.extcluster.io/NAME`, one a line.
    Name,
    /// `jsonpath=TEMPLATE`.
    JsonPath(String),
    /// `custom-columns=NAME:PATH,…`: (header, path) per column.
    CustomColumns(Vec<(String, String)>),
}

/// `-o`'s value, as kubectl spells it.
pub fn parse_format(s: &str) -> Result<Format, String> {
    let (kind, arg) = s.split_once('=').unwrap_or((s, ""));
    match (kind, arg) {
        ("wide", "") => Ok(Format::Wide),
        ("json", "") => Ok(Format::Json),
        ("yaml", "") => Ok(Format::Yaml),
        ("name", "") => Ok(Format::Name),
        ("jsonpath", t) if !t.is_empty() => Ok(Format::JsonPath(t.to_owned())),
        ("custom-columns", c) if !c.is_empty() => {
            crate::template::parse_columns(c).map(Format::CustomColumns)
        }
        _ => Err(format!(
            "unknown output format {s:?}; use wide, json, yaml, name, jsonpath=TEMPLATE or custom-columns=NAME:PATH,…"
        )),
    }
}

/// How `list` and `get` print, with kubectl's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Printing {
    /// Output format: wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=NAME:PATH,…
    #[arg(short, long, value_name = "FORMAT", value_parser = parse_format)]
    pub output: Option<Format>,
    /// Print tables without their header line
    #[arg(long)]
    pub no_headers: bool,
    /// Order by what this JSONPath selects, as kubectl's --sort-by ('{.status.nodeCount}')
    #[arg(long, value_name = "PATH")]
    pub sort_by: Option<String>,
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`): text from a
/// registration or a cluster can neither fake a line of output nor drive the terminal.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Every string of `value` (names, labels, annotations, messages) through [`escape_controls`].
pub fn escape_controls_in(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(escape_controls(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(escape_controls_in).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (escape_controls(k).into_owned(), escape_controls_in(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// kubectl's resource/name form: `externalcluster.extcluster.io/prod-eu`.
pub fn resource_name(name: &str) -> String {
    let kind = PLURAL.trim_end_matches('s');
    format!("{kind}.{GROUP}/{name}")
}

/// Ages as kubectl prints them (`duration.HumanDuration`): 5s, 3m20s, 2d4h, 3y.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = hours / 24;
        let dy = days % 365;
        return if dy == 0 {
            format!("{}y", days / 365)
        } else {
            format!("{}y{dy}d", days / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of something created at `t`, `<unknown>` when there is no time.
pub fn age(t: Option<&Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(*t)),
        None => "<unknown>".into(),
    }
}

/// Columns padded like kubectl's tabwriter (3 spaces between columns); the last is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|s| (*s).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub const HEADER: [&str; 7] = [
    "NAME", "MODE", "PROVIDER", "VERSION", "PHASE", "NODES", "AGE",
];
pub const WIDE_EXTRA: [&str; 4] = ["SERVER", "CLUSTER-ID", "REGION", "INSTANCE-TYPE"];

/// One table row: VERSION is what the cluster last reported, else what it reported at
/// registration.
pub fn row(c: &ExternalCluster, now: Timestamp, wide: bool) -> Vec<String> {
    let status = c.status.clone().unwrap_or_default();
    let mut row = vec![
        c.metadata.name.clone().unwrap_or_default(),
        c.spec.mode.to_string(),
        c.spec.provider.to_string(),
        status
            .observed_version
            .clone()
            .unwrap_or_else(|| c.spec.kubernetes_version.clone()),
        phase_cell(&status, now),
        status
            .node_count
            .map_or_else(|| "<none>".into(), |n| n.to_string()),
        age(c.metadata.creation_timestamp.as_ref().map(|t| &t.0), now),
    ];
    if wide {
        let nodes = status.nodes.unwrap_or_default();
        let listed = |values: &[String]| {
            if values.is_empty() {
                "<none>".to_owned()
            } else {
                values.join(",")
            }
        };
        row.push(c.spec.server.clone());
        row.push(c.spec.cluster_id.clone());
        row.push(listed(&nodes.regions));
        row.push(listed(&nodes.instance_types));
    }
    row
}

/// The phase, marked `(stale)` when nothing has confirmed it within its window: the controller
/// is not running, or cannot reach the hub.
fn phase_cell(status: &ExternalClusterStatus, now: Timestamp) -> String {
    let phase = status
        .phase
        .map_or_else(|| "<none>".into(), |p| p.to_string());
    if extcluster_core::health::is_stale(status, now) {
        format!("{phase}(stale)")
    } else {
        phase
    }
}

/// Prints registrations as `printing` says. `single` is a `get NAME`: the object itself rather
/// than a List.
pub fn print_clusters(
    clusters: &[ExternalCluster],
    printing: &Printing,
    single: bool,
    now: Timestamp,
) -> Result<String> {
    let sorted: Vec<ExternalCluster>;
    let clusters = match &printing.sort_by {
        None => clusters,
        Some(path) => {
            sorted = sorted_by(clusters, path)?;
            &sorted
        }
    };
    let format = &printing.output;
    let wide = *format == Some(Format::Wide);
    let headed = |text: String| {
        if printing.no_headers {
            text.split_once('\n')
                .map_or(String::new(), |(_, rest)| rest.to_owned())
        } else {
            text
        }
    };
    Ok(match format {
        None | Some(Format::Wide) => {
            let mut header: Vec<&str> = HEADER.to_vec();
            if wide {
                header.extend(WIDE_EXTRA);
            }
            let rows: Vec<Vec<String>> = clusters.iter().map(|c| row(c, now, wide)).collect();
            headed(table(&header, &rows))
        }
        Some(Format::CustomColumns(columns)) => {
            let header: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
            let rows = clusters
                .iter()
                .map(|c| {
                    crate::template::column_values(&serde_json::to_value(c)?, columns)
                        .map_err(anyhow::Error::msg)
                })
                .collect::<Result<Vec<_>>>()?;
            headed(table(&header, &rows))
        }
        Some(Format::JsonPath(template)) => {
            let value = if single && clusters.len() == 1 {
                serde_json::to_value(&clusters[0])?
            } else {
                serde_json::to_value(list(clusters))?
            };
            crate::template::render(&value, template)
                .map_err(|e| anyhow::anyhow!("-o jsonpath: {e}"))?
        }
        Some(Format::Name) => clusters
            .iter()
            .map(|c| resource_name(c.metadata.name.as_deref().unwrap_or_default()) + "\n")
            .collect(),
        Some(Format::Json) => serialized(clusters, single, true)?,
        Some(Format::Yaml) => serialized(clusters, single, false)?,
    })
}

/// `-o json` (else `-o yaml`): the object for a `get NAME`, else a List; without managedFields,
/// as kubectl prints by default (they are noise to a reader).
fn serialized(clusters: &[ExternalCluster], single: bool, json: bool) -> Result<String> {
    let shown: Vec<ExternalCluster> = clusters
        .iter()
        .cloned()
        .map(|mut c| {
            c.metadata.managed_fields = None;
            c
        })
        .collect();
    let one = single && shown.len() == 1;
    Ok(match (json, one) {
        (true, true) => serde_json::to_string_pretty(&shown[0])? + "\n",
        (true, false) => serde_json::to_string_pretty(&list(&shown))? + "\n",
        (false, true) => yaml(&shown[0])?,
        (false, false) => yaml(&list(&shown))?,
    })
}

/// `clusters` in the order `--sort-by PATH` gives them.
fn sorted_by(clusters: &[ExternalCluster], path: &str) -> Result<Vec<ExternalCluster>> {
    let mut keyed = clusters
        .iter()
        .map(|c| Ok((serde_json::to_value(c)?, c)))
        .collect::<Result<Vec<_>>>()?;
    crate::template::sort_by(&mut keyed, path).map_err(|e| anyhow::anyhow!("--sort-by: {e}"))?;
    Ok(keyed.into_iter().map(|(_, c)| c.clone()).collect())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [ExternalCluster],
    metadata: serde_json::Value,
}

fn list(items: &[ExternalCluster]) -> List<'_> {
    List {
        api_version: "v1",
        kind: "List",
        items,
        metadata: serde_json::json!({"resourceVersion": ""}),
    }
}

/// `value` as YAML, with exactly the fields the API would show.
pub fn yaml<T: Serialize>(value: &T) -> Result<String> {
    Ok(extcluster_remote::yaml::to_string(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn ages_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (52 * 3600, "2d4h"),
            (8 * 24 * 3600, "8d"),
            (400 * 24 * 3600, "400d"),
            (2 * 365 * 24 * 3600, "2y"),
            ((2 * 365 + 30) * 24 * 3600, "2y30d"),
            (9 * 365 * 24 * 3600, "9y"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(secs(s)), want, "{s}s");
        }
        let now = Timestamp::from_second(1_000_000).unwrap();
        let then = Timestamp::from_second(1_000_000 - 185).unwrap();
        assert_eq!(age(Some(&then), now), "3m5s");
        assert_eq!(age(None, now), "<unknown>");
    }

    #[test]
    fn tables_align_like_kubectl() {
        let out = table(
            &["NAME", "MODE", "AGE"],
            &[
                vec!["prod-eu".into(), "Import".into(), "5s".into()],
                vec!["a".into(), "Connect".into(), "2d4h".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME      MODE      AGE\nprod-eu   Import    5s\na         Connect   2d4h\n"
        );
    }

    #[test]
    fn a_status_past_its_window_is_marked_stale() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let at = |s| Timestamp::from_second(s).unwrap();
        let status = ExternalClusterStatus {
            phase: Some(extcluster_core::Phase::Running),
            stale_after: Some(Time(at(1_000))),
            ..Default::default()
        };
        assert_eq!(phase_cell(&status, at(1_000)), "Running");
        assert_eq!(phase_cell(&status, at(1_001)), "Running(stale)");
        assert_eq!(
            phase_cell(&ExternalClusterStatus::default(), at(9_999)),
            "<none>"
        );
    }

    #[test]
    fn names_like_kubectl() {
        assert_eq!(
            resource_name("prod-eu"),
            "externalcluster.extcluster.io/prod-eu"
        );
    }
}
