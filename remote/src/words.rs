//! Plain words for messages: the last line of a plugin's stderr, a command's name, an I/O error
//! in a few words, a string cut short or put on one line.

/// ": LINE", the last non-empty line of a plugin's stderr (shortened), or nothing.
pub fn last_words(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {}", shorten(l)))
        .unwrap_or_default()
}

/// The file name of a command, for messages.
pub fn command_base(command: &str) -> String {
    std::path::Path::new(command)
        .file_name()
        .map_or(command.to_owned(), |b| b.to_string_lossy().into_owned())
}

pub fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such command".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// At most 200 bytes of `s`, cut at a character boundary.
pub fn shorten(s: &str) -> String {
    extcluster_core::text::shorten(s, 200)
}

/// Collapses whitespace runs (newlines included) so a message stays on one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses() {
        assert_eq!(one_line("a\n  b\tc \n"), "a b c");
    }
}
