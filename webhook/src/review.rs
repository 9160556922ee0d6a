//! AdmissionReview v1 in and out. Decoding borrows from the request body and reads only what the
//! rules need; the objects stay raw until the request is known to be about an ExternalCluster.

use extcluster_core::policy::{Operation, Registration};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// A review whose objects are `O`: raw (checked one step at a time, for precise errors) or
/// decoded straight into the rules' view (one pass, the fast path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
pub struct Review<'a, O = &'a RawValue> {
    #[serde(borrow, default)]
    pub api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default = "none")]
    pub request: Option<Request<'a, O>>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
pub struct Request<'a, O = &'a RawValue> {
    #[serde(borrow)]
    pub uid: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: GroupVersionKind<'a>,
    #[serde(with = "operation")]
    pub operation: Operation,
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    #[serde(default = "none")]
    pub object: Option<O>,
    #[serde(default = "none")]
    pub old_object: Option<O>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize)]
pub struct GroupVersionKind<'a> {
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

mod operation {
    use extcluster_core::policy::Operation;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match &*s {
            "CREATE" => Ok(Operation::Create),
            "UPDATE" => Ok(Operation::Update),
            "DELETE" => Ok(Operation::Delete),
            "CONNECT" => Ok(Operation::Connect),
            other => Err(serde::de::Error::custom(format!(
                "unknown operation {other:?}"
            ))),
        }
    }
}

/// Decodes one of the review's objects as a registration.
pub fn registration<'a>(
    raw: Option<&'a RawValue>,
    which: &str,
) -> Result<Option<Registration<'a>>, String> {
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| format!("the review's {which} is not a readable ExternalCluster: {e}")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// The answer's body: allowed, or refused with an HTTP-like code and a message the user reads.
pub fn response(uid: &str, refusal: Option<(u16, &str)>) -> Vec<u8> {
    let status = refusal.map(|(code, message)| StatusOut {
        code,
        reason: if code == 403 {
            "Forbidden"
        } else {
            "BadRequest"
        },
        message,
    });
    let out = ReviewOut {
        api_version: API_VERSION,
        kind: KIND,
        response: ResponseOut {
            uid,
            allowed: status.is_none(),
            status,
        },
    };
    let mut body = Vec::with_capacity(128 + refusal.map_or(0, |(_, m)| m.len()));
    serde_json::to_writer(&mut body, &out).expect("serializing to a Vec cannot fail");
    body
}
