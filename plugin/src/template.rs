//! kubectl's `-o jsonpath=TEMPLATE`, `-o custom-columns=SPEC` and `--sort-by=PATH`, over the
//! JSON the API serves, evaluated with jsonpath-rust (the JSONPath crate kube itself uses).
//! Supported: literal text, `{PATH}` (several results joined by spaces, as kubectl joins them),
//! `{"TEXT"}` with `\n` and `\t`, and `{range PATH}…{end}`, nested.

use jsonpath_rust::JsonPath;
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Text(String),
    Path(String),
    Range(String),
    End,
}

/// The values `path` selects in `value`; kubectl spellings (`.a.b`, `{.a.b}`, `a.b`, `$.a`).
pub fn query<'a>(value: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    let trimmed = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let rooted = if trimmed.starts_with('$') {
        trimmed.to_owned()
    } else if trimmed.starts_with('.') || trimmed.starts_with('[') {
        format!("${trimmed}")
    } else {
        format!("$.{trimmed}")
    };
    value
        .query(&rooted)
        .map_err(|e| format!("{path:?} is not a JSONPath expression ({e})"))
}

/// A selected value as kubectl prints it: strings bare, everything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tokens(template: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            out.push(Token::Text(rest.to_owned()));
            break;
        };
        if open > 0 {
            out.push(Token::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("unclosed {{ in jsonpath template {template:?}"))?;
        let inner = rest[open + 1..close].trim();
        out.push(if inner == "end" {
            Token::End
        } else if let Some(path) = inner.strip_prefix("range ") {
            Token::Range(path.trim().to_owned())
        } else if let Some(quoted) = inner
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        {
            Token::Text(quoted.replace("\\n", "\n").replace("\\t", "\t"))
        } else {
            Token::Path(inner.to_owned())
        });
        rest = &rest[close + 1..];
    }
    Ok(out)
}

/// `template` filled in from `value`.
pub fn render(value: &Value, template: &str) -> Result<String, String> {
    let tokens = tokens(template)?;
    let mut out = String::new();
    let end = render_from(&tokens, 0, value, &mut out)?;
    if end != tokens.len() {
        return Err(format!(
            "{{end}} without {{range}} in jsonpath template {template:?}"
        ));
    }
    Ok(out)
}

/// Renders from `at` until an unmatched `{end}` (its index) or the end of `tokens`.
fn render_from(
    tokens: &[Token],
    at: usize,
    ctx: &Value,
    out: &mut String,
) -> Result<usize, String> {
    let mut i = at;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Text(t) => out.push_str(t),
            Token::Path(p) => {
                let values: Vec<String> = query(ctx, p)?.into_iter().map(text).collect();
                out.push_str(&values.join(" "));
            }
            Token::Range(p) => {
                let items = query(ctx, p)?;
                let end = matching_end(tokens, i + 1)
                    .ok_or_else(|| "{range} without {end} in the jsonpath template".to_owned())?;
                for item in items {
                    render_from(tokens, i + 1, item, out)?;
                }
                i = end;
            }
            Token::End => return Ok(i),
        }
        i += 1;
    }
    Ok(i)
}

/// The index of the `{end}` closing a range whose body starts at `from`.
fn matching_end(tokens: &[Token], from: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(from) {
        match t {
            Token::Range(_) => depth += 1,
            Token::End if depth == 0 => return Some(i),
            Token::End => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `NAME:PATH,NAME:PATH`: the columns' headers and paths.
pub fn parse_columns(spec: &str) -> Result<Vec<(String, String)>, String> {
    spec.split(',')
        .map(|column| {
            let (name, path) = column.split_once(':').ok_or_else(|| {
                format!(
                    "custom-columns entry {column:?} is not NAME:PATH, as in NAME:.metadata.name"
                )
            })?;
            Ok((name.trim().to_owned(), path.trim().to_owned()))
        })
        .collect()
}

/// One row of `columns` for `value`; `<none>` where a path selects nothing.
pub fn column_values(value: &Value, columns: &[(String, String)]) -> Result<Vec<String>, String> {
    columns
        .iter()
        .map(|(_, path)| {
            let values: Vec<String> = query(value, path)?.into_iter().map(text).collect();
            Ok(if values.is_empty() {
                "<none>".to_owned()
            } else {
                values.join(",")
            })
        })
        .collect()
}

/// Orders `items` by what `path` selects in each: numbers by value, the rest as text, items
/// where it selects nothing last. Stable: equal keys keep their order. Each key is read once.
pub fn sort_by<T>(items: &mut [(Value, T)], path: &str) -> Result<(), String> {
    query(&Value::Null, path)?;
    items.sort_by_cached_key(|(v, _)| {
        SortKey(
            query(v, path)
                .ok()
                .and_then(|r| r.first().map(|v| (*v).clone())),
        )
    });
    Ok(())
}

/// What an item is sorted by; `None` (nothing selected) sorts last.
#[derive(PartialEq)]
struct SortKey(Option<Value>);

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            // JSON numbers are finite: the order is total.
            (Some(Value::Number(x)), Some(Value::Number(y))) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Some(x), Some(y)) => text(x).cmp(&text(y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "b"}, "status": {"phase": "Running", "nodeCount": 10}},
            {"metadata": {"name": "a"}, "status": {"phase": "Unreachable", "nodeCount": 2}},
            {"metadata": {"name": "c"}, "status": {}},
        ]})
    }

    #[test]
    fn templates_as_kubectl_writes_them() {
        let l = list();
        assert_eq!(render(&l, "{.items[*].metadata.name}").unwrap(), "b a c");
        assert_eq!(
            render(
                &l,
                r#"{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}"#
            )
            .unwrap(),
            "b=Running\na=Unreachable\nc=\n"
        );
        assert_eq!(
            render(&l, "names: {.items[0].metadata.name}!").unwrap(),
            "names: b!"
        );
        assert_eq!(
            render(&l, "{.items[0].status}").unwrap(),
            r#"{"nodeCount":10,"phase":"Running"}"#
        );
        assert_eq!(render(&l, "{range .items[5:]}x{end}done").unwrap(), "done");
        assert!(render(&l, "{.items[").is_err());
        assert!(render(&l, "{.a}{end}").is_err());
    }

    #[test]
    fn custom_columns_and_sorting() {
        let cols = parse_columns("NAME:.metadata.name,NODES:.status.nodeCount").unwrap();
        let l = list();
        let c = &l["items"][2];
        assert_eq!(column_values(c, &cols).unwrap(), ["c", "<none>"]);
        assert!(parse_columns("NAME").is_err());

        let mut items: Vec<(Value, usize)> = l["items"]
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, v)| (v, i))
            .collect();
        sort_by(&mut items, ".status.nodeCount").unwrap();
        assert_eq!(items.iter().map(|(_, i)| *i).collect::<Vec<_>>(), [1, 0, 2]);
        sort_by(&mut items, "{.metadata.name}").unwrap();
        assert_eq!(items.iter().map(|(_, i)| *i).collect::<Vec<_>>(), [1, 0, 2]);
    }
}
