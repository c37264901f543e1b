//! CRM books (docs/rules.md §10): deal stages and when a deal counts as closed, the CRM's own external ids, the
//! bounded text fields of contacts, companies and deals, and the case folding that search runs on.

use chrono::{DateTime, Utc};

use super::InputError;

pub use entity::enums::DealStage;

/// Whether a deal at this stage is closed: `WON` and `LOST` close it, any other stage reopens it.
pub fn is_closed(stage: DealStage) -> bool {
    matches!(stage, DealStage::Won | DealStage::Lost)
}

/// When a deal closed after a stage change: set when it moves into `WON` or `LOST` (or is created
/// there), kept while the stage stays the same (a CRM re-sending the deal does not move it), set anew
/// on a move between `WON` and `LOST`, cleared when the deal is reopened.
pub fn closed_at(
    old: Option<(DealStage, Option<DateTime<Utc>>)>,
    new: DealStage,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match old {
        _ if !is_closed(new) => None,
        Some((stage, Some(at))) if stage == new => Some(at),
        _ => Some(now),
    }
}

/// The most characters an external id may have.
pub const EXTERNAL_ID_MAX: usize = 255;

/// The CRM's own id of a row: 1–255 characters, no control characters, taken exactly as given (ids are
/// compared byte for byte, so no trimming or case folding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        if raw.trim().is_empty() {
            return Err(InputError::new("EMPTY", "must not be empty"));
        }
        if raw.chars().count() > EXTERNAL_ID_MAX {
            return Err(InputError::new("TOO_LONG", format!("at most {EXTERNAL_ID_MAX} characters")));
        }
        if raw.chars().any(char::is_control) {
            return Err(InputError::new("INVALID_CHARACTERS", "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Limits of the CRM's free-text fields, in characters.
pub const NAME_MAX: usize = 255;
pub const PHONE_MAX: usize = 100;
pub const POSITION_MAX: usize = 255;
pub const COMMENT_MAX: usize = 5000;

/// A required name or title: not blank after trimming, at most [`NAME_MAX`] characters, one line.
pub fn required_line(raw: &str) -> Result<String, InputError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(InputError::new("EMPTY", "must not be empty"));
    }
    check(t, NAME_MAX, false)?;
    Ok(t.to_owned())
}

/// An optional one-line field (phone, position): blank means absent.
pub fn optional_line(raw: &str, max: usize) -> Result<Option<String>, InputError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    check(t, max, false)?;
    Ok(Some(t.to_owned()))
}

/// An optional multi-line note (line breaks and tabs allowed, other control characters not).
pub fn optional_note(raw: &str) -> Result<Option<String>, InputError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    check(t, COMMENT_MAX, true)?;
    Ok(Some(t.to_owned()))
}

fn check(t: &str, max: usize, multiline: bool) -> Result<(), InputError> {
    if t.chars().count() > max {
        return Err(InputError::new("TOO_LONG", format!("at most {max} characters")));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(InputError::new("INVALID_CHARACTERS", "must not contain control characters"));
    }
    Ok(())
}

pub use super::text::fold;

/// The longest search text accepted.
pub const SEARCH_MAX: usize = 200;

/// A search needle, folded and escaped for `LIKE … ESCAPE '\'` as a `%part%` pattern; `None` when blank.
pub fn search_pattern(raw: &str) -> Result<Option<String>, InputError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    check(t, SEARCH_MAX, false)?;
    Ok(Some(super::text::contains_pattern(&fold(t))))
}

/// The text a contact or company is found by: its folded fields, one per line (no needle has a line
/// break, so a match never spans two fields).
pub fn search_text<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
    fields.into_iter().flatten().map(fold).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn closing_sets_the_time_and_reopening_clears_it() {
        assert_eq!(closed_at(None, DealStage::New, t(1)), None);
        assert_eq!(closed_at(None, DealStage::Won, t(1)), Some(t(1)));
        assert_eq!(closed_at(Some((DealStage::Negotiation, None)), DealStage::Lost, t(2)), Some(t(2)));
        assert_eq!(closed_at(Some((DealStage::Won, Some(t(1)))), DealStage::Won, t(5)), Some(t(1)));
        assert_eq!(closed_at(Some((DealStage::Won, Some(t(1)))), DealStage::Lost, t(5)), Some(t(5)));
        assert_eq!(closed_at(Some((DealStage::Won, Some(t(1)))), DealStage::Qualified, t(5)), None);
    }

    #[test]
    fn external_ids_are_exact_and_bounded() {
        assert_eq!(ExternalId::parse(" a-1 ").unwrap().as_str(), " a-1 ");
        assert_eq!(ExternalId::parse("").unwrap_err().reason, "EMPTY");
        assert_eq!(ExternalId::parse("   ").unwrap_err().reason, "EMPTY");
        assert!(ExternalId::parse(&"я".repeat(EXTERNAL_ID_MAX)).is_ok());
        assert_eq!(ExternalId::parse(&"я".repeat(EXTERNAL_ID_MAX + 1)).unwrap_err().reason, "TOO_LONG");
        assert_eq!(ExternalId::parse("a\u{0}b").unwrap_err().reason, "INVALID_CHARACTERS");
    }

    #[test]
    fn texts_refuse_nul_and_notes_keep_line_breaks() {
        assert_eq!(required_line("  ООО «Ёлка» ").unwrap(), "ООО «Ёлка»");
        assert_eq!(required_line("a\nb").unwrap_err().reason, "INVALID_CHARACTERS");
        assert_eq!(optional_line("x\u{0}", PHONE_MAX).unwrap_err().reason, "INVALID_CHARACTERS");
        assert_eq!(optional_note("line 1\nline 2").unwrap().as_deref(), Some("line 1\nline 2"));
        assert_eq!(optional_note("bad\u{0}").unwrap_err().reason, "INVALID_CHARACTERS");
        assert_eq!(optional_line("   ", PHONE_MAX).unwrap(), None);
    }

    #[test]
    fn folding_lowers_cyrillic_and_reads_yo_as_ye() {
        assert_eq!(fold("Ёлкин ЁЖИК Petrov"), "елкин ежик petrov");
        assert_eq!(search_pattern(" ЁЖ ").unwrap().as_deref(), Some("%еж%"));
        assert_eq!(search_pattern("50%_\\").unwrap().as_deref(), Some("%50\\%\\_\\\\%"));
        assert_eq!(search_pattern("  ").unwrap(), None);
        assert_eq!(search_text([Some("Иван"), None, Some("ivan@x.ru")]), "иван\nivan@x.ru");
    }

    proptest! {
        #[test]
        fn folding_is_idempotent(s in ".{0,40}") {
            prop_assert_eq!(fold(&fold(&s)), fold(&s));
        }
    }
}
