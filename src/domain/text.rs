//! Free-text fields: names and optional card fields, trimmed and bounded.

use super::InputError;

pub const NAME_MAX: usize = 200;
pub const TEXT_MAX: usize = 500;

/// The fold of search text, on both sides of every case-insensitive match: Unicode lower case (SQLite's
/// `lower()` folds ASCII only, so the service stores folded copies) with `ё` read as `е`.
pub fn fold(s: &str) -> String {
    s.to_lowercase().replace('ё', "е")
}

/// A `%part%` pattern for `LIKE … ESCAPE '\'` that matches `needle` literally (`\`, `%` and `_`
/// escaped). The needle is already normalised as the column is (folded, or lower-cased e-mail).
pub fn contains_pattern(needle: &str) -> String {
    format!("%{}%", needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// A required name: not blank after trimming, at most [`NAME_MAX`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InputError::new("EMPTY", "must not be empty"));
        }
        check_text(t, NAME_MAX)?;
        Ok(Self(t.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An optional free-text field: blank means absent; at most [`TEXT_MAX`] characters.
pub struct OptionalText;

impl OptionalText {
    pub fn parse(raw: Option<&str>) -> Result<Option<String>, InputError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => {
                check_text(t, TEXT_MAX)?;
                Ok(Some(t.to_owned()))
            }
        }
    }
}

fn check_text(t: &str, max: usize) -> Result<(), InputError> {
    if t.chars().count() > max {
        return Err(InputError::new("TOO_LONG", format!("at most {max} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err(InputError::new("INVALID_CHARACTERS", "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  ООО Ромашка ").unwrap().into_string(), "ООО Ромашка");
        assert_eq!(Name::parse("   ").unwrap_err().reason, "EMPTY");
        assert_eq!(Name::parse(&"я".repeat(NAME_MAX + 1)).unwrap_err().reason, "TOO_LONG");
        assert!(Name::parse(&"я".repeat(NAME_MAX)).is_ok());
        assert_eq!(Name::parse("a\u{0}b").unwrap_err().reason, "INVALID_CHARACTERS");
    }

    #[test]
    fn blank_optional_text_is_absent() {
        assert_eq!(OptionalText::parse(Some("  ")).unwrap(), None);
        assert_eq!(OptionalText::parse(None).unwrap(), None);
        assert_eq!(OptionalText::parse(Some(" x ")).unwrap().as_deref(), Some("x"));
        assert!(OptionalText::parse(Some(&"x".repeat(TEXT_MAX + 1))).is_err());
    }
}
