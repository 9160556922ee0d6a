//! AdmissionReview v1 in and out. Decoding borrows from the request body and reads only what the
//! rules need; the objects stay raw until the request is known to be about an ExternalCluster.

use extcluster_core::api::GROUP;
use extcluster_core::policy::optional_str;
use extcluster_core::policy::{Operation, Registration};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

pub(crate) const API_VERSION: &str = "admission.k8s.io/v1";
pub(crate) const KIND: &str = "AdmissionReview";

/// Who asked what: the part of a request that its answer, log line and metrics name.
pub(crate) struct Asked<'b> {
    pub uid: Cow<'b, str>,
    pub operation: Operation,
    /// The request's name, which is empty on a create with `generateName`.
    pub name: Cow<'b, str>,
}

/// A request about an ExternalCluster with its objects read: what the rules decide.
pub(crate) struct Decoded<'b> {
    pub asked: Asked<'b>,
    pub dry_run: bool,
    pub new: Option<Registration<'b>>,
    pub old: Option<Registration<'b>>,
}

impl Decoded<'_> {
    /// The name the registration goes by: the object's, else the request's.
    pub fn name(&self) -> &str {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .map_or(&self.asked.name, Registration::name)
    }
}

/// Why a body gets no decision from the rules.
pub(crate) enum Rejection<'b> {
    /// No review to answer: the sentence says what is wrong with the body.
    Malformed(Cow<'static, str>),
    /// A review this webhook answers without deciding: it is about something else, or its
    /// object cannot be read.
    Invalid {
        asked: Asked<'b>,
        reason: &'static str,
        message: String,
    },
}

/// Reads a review's body.
pub(crate) fn decode(body: &[u8]) -> Result<Decoded<'_>, Rejection<'_>> {
    // One pass, objects decoded straight into the rules' view: every well-formed review.
    // Anything else takes the careful path, which says precisely what is wrong.
    // The body is checked to be UTF-8 once, here (std's check runs on whole words over ASCII),
    // instead of string by string as serde_json does when it borrows from bytes.
    let Ok(text) = std::str::from_utf8(body) else {
        return decode_carefully(body);
    };
    match serde_json::from_str::<Review<Registration>>(text) {
        Ok(review) => review
            .into_request()?
            .read_objects(|new, old| Ok((new, old))),
        Err(_) => decode_carefully(body),
    }
}

/// Reads a review one step at a time: the envelope, then each object.
pub(crate) fn decode_carefully(body: &[u8]) -> Result<Decoded<'_>, Rejection<'_>> {
    let review: Review = serde_json::from_slice(body).map_err(|e| {
        Rejection::Malformed(format!("the body is not an AdmissionReview: {e}").into())
    })?;
    review.into_request()?.read_objects(|new, old| {
        let new = registration(new, "object")?;
        Ok((new, registration(old, "oldObject")?))
    })
}

/// A review whose objects are `O`: raw (checked one step at a time, for precise errors) or
/// decoded straight into the rules' view (one pass, the fast path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
struct Review<'a, O = &'a RawValue> {
    #[serde(borrow, default, deserialize_with = "optional_str")]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_str")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default = "none")]
    request: Option<Request<'a, O>>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
struct Request<'a, O> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    kind: GroupVersionKind<'a>,
    #[serde(deserialize_with = "operation")]
    operation: Operation,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(default = "none")]
    object: Option<O>,
    #[serde(default = "none")]
    old_object: Option<O>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct GroupVersionKind<'a> {
    #[serde(borrow, default)]
    group: Cow<'a, str>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// Parsed where it lies: `Cow<str>`'s own `Deserialize` would copy it.
fn operation<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
    struct Named;
    impl serde::de::Visitor<'_> for Named {
        type Value = Operation;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an operation: CREATE, UPDATE, DELETE or CONNECT")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Operation, E> {
            s.parse()
                .map_err(|_| E::custom(format!("unknown operation {s:?}")))
        }
    }
    d.deserialize_str(Named)
}

impl<'a, O> Review<'a, O> {
    /// The request, if the review is one this webhook answers, about an ExternalCluster.
    fn into_request(self) -> Result<Request<'a, O>, Rejection<'a>> {
        self.into_request_about(GROUP, "ExternalCluster")
    }

    /// The request, if the review is a v1 AdmissionReview about a `group` `kind`.
    fn into_request_about(self, group: &str, kind: &str) -> Result<Request<'a, O>, Rejection<'a>> {
        if self.api_version.as_deref() != Some(API_VERSION) || self.kind.as_deref() != Some(KIND) {
            return Err(Rejection::Malformed(
                format!(
                    "expected an {API_VERSION} {KIND}, got apiVersion {:?} kind {:?}; set admissionReviewVersions: [v1]",
                    self.api_version.as_deref().unwrap_or(""),
                    self.kind.as_deref().unwrap_or(""),
                )
                .into(),
            ));
        }
        let Some(req) = self.request else {
            return Err(Rejection::Malformed(
                "the AdmissionReview has no request".into(),
            ));
        };
        let asked = &req.kind;
        if asked.group != group || asked.kind != kind {
            let message = format!(
                "this endpoint reviews only {group} {kind}s, not {}/{} {}; check the \
                 ValidatingWebhookConfiguration's rules",
                asked.group, asked.version, asked.kind
            );
            return Err(Rejection::Invalid {
                asked: Asked {
                    uid: req.uid,
                    operation: req.operation,
                    name: req.name,
                },
                reason: "wrong_kind",
                message,
            });
        }
        Ok(req)
    }
}

/// Reads a review sent to the CRD guard: who asked, and which CRD (the request's name).
pub(crate) fn decode_crd_deletion(body: &[u8]) -> Result<Asked<'_>, Rejection<'_>> {
    let review: Review = serde_json::from_slice(body).map_err(|e| {
        Rejection::Malformed(format!("the body is not an AdmissionReview: {e}").into())
    })?;
    let req = review.into_request_about("apiextensions.k8s.io", "CustomResourceDefinition")?;
    Ok(Asked {
        uid: req.uid,
        operation: req.operation,
        name: req.name,
    })
}

/// A request's objects read as registrations, or why they cannot be.
type Objects<'a> = Result<(Option<Registration<'a>>, Option<Registration<'a>>), String>;

impl<'a, O> Request<'a, O> {
    fn read_objects(
        self,
        read: impl FnOnce(Option<O>, Option<O>) -> Objects<'a>,
    ) -> Result<Decoded<'a>, Rejection<'a>> {
        let asked = Asked {
            uid: self.uid,
            operation: self.operation,
            name: self.name,
        };
        match read(self.object, self.old_object) {
            Ok((new, old)) => Ok(Decoded {
                asked,
                dry_run: self.dry_run,
                new,
                old,
            }),
            Err(message) => Err(Rejection::Invalid {
                asked,
                reason: "unreadable_object",
                message,
            }),
        }
    }
}

/// Decodes one of the review's objects as a registration.
fn registration<'a>(
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
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<[&'a str; 1]>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// The answer's body: allowed (perhaps with a warning the client shows), or refused with an
/// HTTP-like code and a message the user reads.
pub(crate) fn response(uid: &str, refusal: Option<(u16, &str)>, warning: Option<&str>) -> Vec<u8> {
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
            warnings: warning.map(|w| [w]),
        },
    };
    // Room for the envelope, the status's fields and a few escapes: one allocation, no growth.
    let said = refusal.map_or(0, |(_, m)| m.len()) + warning.map_or(0, str::len);
    let mut body = Vec::with_capacity(192 + uid.len() + said + said / 8);
    serde_json::to_writer(&mut body, &out).expect("serializing to a Vec cannot fail");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_operation_is_named_in_the_refusal() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
            "uid":"u","kind":{"group":"extcluster.io","version":"v1alpha1","kind":"ExternalCluster"},
            "operation":"PATCH","name":"a"}}"#;
        let Err(Rejection::Malformed(message)) = decode(body) else {
            panic!("an unknown operation was read");
        };
        assert!(
            message.contains(r#"unknown operation "PATCH""#),
            "{message}"
        );
    }
}
