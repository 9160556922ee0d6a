//! The admission policy: one function that takes an operation, the new and old registration and a
//! read-only view of the live registrations, and allows or denies with one plain sentence.
//!
//! It reads a borrowed view of an ExternalCluster ([`Registration`]) rather than the owned API
//! type, so the webhook can decode straight from the request body the few fields the rules read.

mod denial;
mod operation;
mod registration;
mod registry;
mod rules;

pub use denial::Denial;
pub use operation::Operation;
pub use registration::{Metadata, Registration, Relevant, SecretRef, Spec, optional_str};
pub use registry::{Registry, RegistryUnavailable};
pub use rules::{Decision, Policy, decide_crd_delete, warning};
