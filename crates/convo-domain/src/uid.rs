//! The one rule for identifiers of conversations, businesses, staff and clients, at every entry
//! point (HTTP paths, upstream command JSON, token claims): 1-64 characters of ASCII letters,
//! digits, `-` and `_`. vcita's own uids are 16-32 characters of `[a-z0-9]`; the wider rule leaves
//! room for other systems' ids without admitting anything that a URL path, a log line or a Kafka
//! key would have to escape.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest uid accepted.
pub const MAX_UID_LEN: usize = 64;

/// A uid that follows the rule of this module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uid(String);

/// Why a text is not a uid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a uid is 1-{MAX_UID_LEN} characters of letters, digits, '-' and '_'")]
pub struct InvalidUid;

impl Uid {
    pub fn parse(text: &str) -> Result<Self, InvalidUid> {
        let valid = !text.is_empty()
            && text.len() <= MAX_UID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidUid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for Uid {
    type Error = InvalidUid;

    fn try_from(text: String) -> Result<Self, InvalidUid> {
        Self::parse(&text)
    }
}

impl From<Uid> for String {
    fn from(uid: Uid) -> Self {
        uid.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        for good in ["a", "89m2pnabgozdvd9f", "A-b_9", &"x".repeat(MAX_UID_LEN)] {
            assert!(Uid::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(MAX_UID_LEN + 1),
            "a b",
            "a.b",
            "a/b",
            "a:b",
            "é",
            "a\u{0}",
            "%FF",
        ] {
            assert_eq!(Uid::parse(bad), Err(InvalidUid), "{bad:?}");
        }
    }

    #[test]
    fn json_refuses_what_the_rule_refuses() {
        assert!(serde_json::from_str::<Uid>(r#""ok-uid""#).is_ok());
        assert!(serde_json::from_str::<Uid>(r#""not ok""#).is_err());
        assert_eq!(
            serde_json::to_string(&Uid::parse("u1").unwrap()).unwrap(),
            r#""u1""#
        );
    }
}
