//! Labels a person gives a registration (`register --label`, `--datacenter`): checked as the API
//! server checks them, so a mistake is one sentence before anything is written.

/// The label that says which datacenter a registration belongs to (KKP's "AWS US-East").
pub const DATACENTER_LABEL: &str = "extcluster.io/datacenter";
/// The domain whose labels this project sets itself.
const OURS: &str = "extcluster.io/";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error(
        "{given:?} is not KEY=VALUE; write a label as kubectl label does, such as team=payments"
    )]
    NotAPair { given: String },
    #[error(
        "label key {key:?} is not valid ({why}); a key is a name of up to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit, with an optional DNS prefix and '/'"
    )]
    Key { key: String, why: &'static str },
    #[error(
        "label value {value:?} is not valid ({why}); a value is up to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit, such as aws-us-east-1"
    )]
    Value { value: String, why: &'static str },
    #[error(
        "label key {key:?} is in extcluster.io/, which the plugin sets itself; use --datacenter for {DATACENTER_LABEL}"
    )]
    Reserved { key: String },
}

/// Reads `KEY=VALUE` as a label a person may set.
pub fn parse_pair(given: &str) -> Result<(String, String), LabelError> {
    let Some((key, value)) = given.split_once('=') else {
        return Err(LabelError::NotAPair {
            given: given.to_owned(),
        });
    };
    check_key(key)?;
    if key.starts_with(OURS) {
        return Err(LabelError::Reserved {
            key: key.to_owned(),
        });
    }
    check_value(value)?;
    Ok((key.to_owned(), value.to_owned()))
}

/// A label value as the API server accepts it (empty included).
pub fn check_value(value: &str) -> Result<(), LabelError> {
    segment(value, true).map_err(|why| LabelError::Value {
        value: value.to_owned(),
        why,
    })
}

fn check_key(key: &str) -> Result<(), LabelError> {
    let fail = |why| LabelError::Key {
        key: key.to_owned(),
        why,
    };
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            let dns = prefix.len() <= 253
                && !prefix.is_empty()
                && prefix.split('.').all(|part| {
                    !part.is_empty()
                        && part.len() <= 63
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !part.starts_with('-')
                        && !part.ends_with('-')
                });
            if !dns {
                return Err(fail("its prefix is not a lowercase DNS name"));
            }
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err(fail("its name is empty"));
    }
    segment(name, false).map_err(fail)
}

/// Up to 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn segment(s: &str, may_be_empty: bool) -> Result<(), &'static str> {
    if s.is_empty() {
        return if may_be_empty {
            Ok(())
        } else {
            Err("it is empty")
        };
    }
    if s.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("it holds a character other than letters, digits, '-', '_' and '.'");
    }
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !ends(s.bytes().next()) || !ends(s.bytes().last()) {
        return Err("it does not begin and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_as_the_api_server_takes_them() {
        assert_eq!(
            parse_pair("team=payments"),
            Ok(("team".into(), "payments".into()))
        );
        assert!(parse_pair("example.com/tier=").is_ok());
        assert!(matches!(
            parse_pair("team"),
            Err(LabelError::NotAPair { .. })
        ));
        assert!(matches!(
            parse_pair("Example.com/x=y"),
            Err(LabelError::Key { .. })
        ));
        assert!(matches!(parse_pair("-x=y"), Err(LabelError::Key { .. })));
        assert!(matches!(
            parse_pair("extcluster.io/cluster-id=x"),
            Err(LabelError::Reserved { .. })
        ));
        let spaced = check_value("AWS US-East").unwrap_err().to_string();
        assert!(
            spaced.contains("\"AWS US-East\"") && spaced.contains("aws-us-east-1"),
            "{spaced}"
        );
        assert!(check_value(&"a".repeat(64)).is_err());
        assert!(check_value("aws-us-east-1").is_ok());
    }
}
