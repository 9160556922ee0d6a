//! YAML as kubectl writes it.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serializing to JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("serializing to YAML: {0}")]
    Yaml(#[from] serde_saphyr::ser::Error),
}

/// `value` as YAML, through JSON first so it has exactly the fields the API would show; it ends
/// with a newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    let json = serde_json::to_value(value)?;
    let mut s = serde_saphyr::to_string(&json)?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}
