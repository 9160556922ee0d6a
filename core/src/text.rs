//! Text that goes into messages.

/// At most `max` bytes of `s`, cut at a character boundary, with "…" when cut: what a user pasted
/// or a program printed stays readable in one message.
pub fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(super::shorten("abc", 3), "abc");
        assert_eq!(super::shorten("aé", 2), "a…");
    }
}
