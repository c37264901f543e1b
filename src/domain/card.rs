//! Fields of the subscriber card and of people: KPP and e-mail.

use super::InputError;

/// The tax registration reason code (КПП): 9 characters, digits except positions 5–6, which may be
/// capital Latin letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kpp(String);

impl Kpp {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        let ok = raw.len() == 9
            && raw
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || ((i == 4 || i == 5) && c.is_ascii_uppercase()));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InputError::new(
                "INVALID_KPP",
                "kpp must have 9 characters: digits, with capital letters allowed in positions 5 and 6",
            ))
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An e-mail address, normalised to lower case (addresses are unique case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

pub const EMAIL_MAX: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        let invalid = || InputError::new("INVALID_EMAIL", "not a valid e-mail address");
        if raw.len() > EMAIL_MAX {
            return Err(InputError::new("TOO_LONG", format!("at most {EMAIL_MAX} characters")));
        }
        let (local, domain) = raw.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok { Ok(Self(raw.to_lowercase())) } else { Err(invalid()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kpp_has_nine_characters() {
        assert!(Kpp::parse("773601001").is_ok());
        assert!(Kpp::parse("7736AB001").is_ok());
        for bad in ["77360100", "7736010011", "77360100x", "A73601001", ""] {
            assert_eq!(Kpp::parse(bad).unwrap_err().reason, "INVALID_KPP", "{bad}");
        }
    }

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(Email::parse(" Ivan.Petrov@Example.RU ").unwrap().as_str(), "ivan.petrov@example.ru");
        assert_eq!(Email::parse("иван@пример.рф").unwrap().as_str(), "иван@пример.рф");
        for bad in [
            "",
            "plain",
            "@example.ru",
            "a@",
            "a@b",
            "a@@b.ru",
            "a b@c.ru",
            "a@-b.ru",
            ".a@b.ru",
            "a..b@c.ru",
            "a@b..ru",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_longer_than_the_limit_is_too_long() {
        let long = format!("{}@example.ru", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().reason, "TOO_LONG");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = Email::parse(&s);
            let _ = Kpp::parse(&s);
        }

        #[test]
        fn a_parsed_email_parses_again_to_itself(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,10}\\.[a-z]{2,5}") {
            let e = Email::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e.clone());
        }
    }
}
