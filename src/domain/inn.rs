//! The Russian taxpayer number (ИНН): 10 digits for an organisation, 12 for an individual entrepreneur,
//! with check digits.

use super::InputError;

/// A taxpayer number whose length and check digits are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Inn(String);

const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

fn check_digit(digits: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    sum % 11 % 10
}

impl Inn {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        let invalid = |why: &str| InputError::new("INVALID_INN", format!("inn {why}"));
        if raw.len() != 10 && raw.len() != 12 {
            return Err(invalid("must have 10 or 12 digits"));
        }
        let digits: Vec<u32> = raw
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("must contain digits only"))?;
        let valid = if digits.len() == 10 {
            check_digit(&digits[..9], &W10) == digits[9]
        } else {
            check_digit(&digits[..10], &W11) == digits[10] && check_digit(&digits[..11], &W12) == digits[11]
        };
        if !valid {
            return Err(invalid("has a wrong check digit"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_organisation_inn() {
        assert_eq!(Inn::parse("7707083893").unwrap().as_str(), "7707083893");
    }

    #[test]
    fn refuses_a_wrong_check_digit() {
        assert_eq!(Inn::parse("7707083894").unwrap_err().reason, "INVALID_INN");
    }

    #[test]
    fn accepts_a_valid_individual_inn_and_refuses_each_wrong_check_digit() {
        // 500100732259 is a well-known valid 12-digit INN.
        assert!(Inn::parse("500100732259").is_ok());
        assert!(Inn::parse("500100732269").is_err());
        assert!(Inn::parse("500100732258").is_err());
    }

    #[test]
    fn refuses_wrong_lengths_and_non_digits() {
        for bad in ["", "123", "77070838931", "770708389a", "７７０７０８３８９３", "7707 83893"] {
            assert!(Inn::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_nine_digits_with_their_check_digit_are_valid(d in proptest::collection::vec(0u32..10, 9)) {
            let c = check_digit(&d, &W10);
            let s: String = d.iter().chain(std::iter::once(&c)).map(|x| char::from_digit(*x, 10).unwrap()).collect();
            prop_assert!(Inn::parse(&s).is_ok());
            let wrong = (c + 1) % 10;
            let s2: String = d.iter().chain(std::iter::once(&wrong)).map(|x| char::from_digit(*x, 10).unwrap()).collect();
            prop_assert!(Inn::parse(&s2).is_err());
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            let _ = Inn::parse(&s);
        }
    }
}
