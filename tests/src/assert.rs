//! The containment assertion: on failure it shows the missing text and the whole text searched.

/// Asserts that `haystack` contains `needle`; the failure names the caller's line and shows the
/// whole haystack.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "{needle:?} not found in:\n{haystack}"
    );
}
