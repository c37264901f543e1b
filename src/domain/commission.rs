//! Which commission rule a sale falls under. A rule matches on (partner status or any, product category
//! or any, purchase FIRST | SUBSEQUENT | ANY, window in months from the client's creation or none) and
//! gives a rate; the most specific matching rule wins (status 4 + category 2 + a purchase other than
//! ANY 1); no match means no commission.

use chrono::{DateTime, Months, Utc};

pub use entity::enums::Purchase;

/// A commission rule as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec<Id> {
    pub id: Id,
    pub status: Option<String>,
    pub category: Option<String>,
    pub purchase: Purchase,
    pub window_months: Option<u32>,
    pub rate_bp: i32,
}

/// The facts of one sale that rules match on.
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    /// The bound partner's status in the tariff's program, if it has one.
    pub partner_status: Option<&'a str>,
    pub category: &'a str,
    /// Whether this is the client's first payment ever.
    pub first_purchase: bool,
    pub client_created_at: DateTime<Utc>,
    pub paid_at: DateTime<Utc>,
}

impl<Id> RuleSpec<Id> {
    pub fn specificity(&self) -> u8 {
        4 * self.status.is_some() as u8 + 2 * self.category.is_some() as u8 + (self.purchase != Purchase::Any) as u8
    }

    pub fn matches(&self, sale: &Sale<'_>) -> bool {
        self.status.as_deref().is_none_or(|s| sale.partner_status == Some(s))
            && self.category.as_deref().is_none_or(|c| c == sale.category)
            && match self.purchase {
                Purchase::Any => true,
                Purchase::First => sale.first_purchase,
                Purchase::Subsequent => !sale.first_purchase,
            }
            && self.window_months.is_none_or(|m| within_window(sale.client_created_at, sale.paid_at, m))
    }
}

/// Whether `paid_at` falls within `months` calendar months of `created_at` (end of month clamps).
pub fn within_window(created_at: DateTime<Utc>, paid_at: DateTime<Utc>, months: u32) -> bool {
    match created_at.checked_add_months(Months::new(months)) {
        Some(end) => paid_at < end,
        None => true,
    }
}

/// The most specific matching rule; ties (which the upsert key rules out) go to the higher rate.
pub fn choose_rule<'r, Id>(rules: &'r [RuleSpec<Id>], sale: &Sale<'_>) -> Option<&'r RuleSpec<Id>> {
    rules.iter().filter(|r| r.matches(sale)).max_by_key(|r| (r.specificity(), r.rate_bp))
}

/// Why a sale earns what it earns, in words for partners and support staff.
pub fn explain<Id>(chosen: Option<&RuleSpec<Id>>, sale: &Sale<'_>, program: &str) -> String {
    let purchase = if sale.first_purchase { "the client's first purchase" } else { "a repeat purchase" };
    let status =
        sale.partner_status.map(|s| format!("partner status {s}")).unwrap_or_else(|| "no partner status".into());
    match chosen {
        None => format!(
            "No commission rule of {program} matches category {} for {status} and {purchase} at this date: no commission.",
            sale.category
        ),
        Some(r) => {
            let window = match r.window_months {
                Some(m) => format!(", within {m} months of the client's creation"),
                None => String::new(),
            };
            format!(
                "Rule of {program} for status {}, category {}, purchase {}{window}: {}% ({purchase}, {status}, category {}).",
                r.status.as_deref().unwrap_or("any"),
                r.category.as_deref().unwrap_or("any"),
                r.purchase.as_str(),
                super::money::format_percent(r.rate_bp),
                sale.category
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn rule(
        id: u32,
        status: Option<&str>,
        category: Option<&str>,
        purchase: Purchase,
        window: Option<u32>,
        rate: i32,
    ) -> RuleSpec<u32> {
        RuleSpec {
            id,
            status: status.map(Into::into),
            category: category.map(Into::into),
            purchase,
            window_months: window,
            rate_bp: rate,
        }
    }

    fn sale<'a>(status: Option<&'a str>, category: &'a str, first: bool, months_after: u32) -> Sale<'a> {
        let created = Utc.with_ymd_and_hms(2024, 1, 31, 12, 0, 0).unwrap();
        let paid = created.checked_add_months(Months::new(months_after)).unwrap();
        Sale { partner_status: status, category, first_purchase: first, client_created_at: created, paid_at: paid }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = vec![
            rule(1, None, None, Purchase::Any, None, 100),
            rule(2, None, Some("SAAS"), Purchase::Any, None, 200),
            rule(3, Some("DEALER"), None, Purchase::Any, None, 300),
            rule(4, Some("DEALER"), Some("SAAS"), Purchase::Any, None, 400),
            rule(5, Some("DEALER"), Some("SAAS"), Purchase::First, None, 500),
        ];
        assert_eq!(choose_rule(&rules, &sale(Some("DEALER"), "SAAS", true, 0)).unwrap().id, 5);
        assert_eq!(choose_rule(&rules, &sale(Some("DEALER"), "SAAS", false, 0)).unwrap().id, 4);
        assert_eq!(choose_rule(&rules, &sale(Some("DEALER"), "UNLISTED", false, 0)).unwrap().id, 3);
        assert_eq!(choose_rule(&rules, &sale(Some("AGENT"), "SAAS", false, 0)).unwrap().id, 2);
        assert_eq!(choose_rule(&rules, &sale(None, "UNLISTED", false, 0)).unwrap().id, 1);
        assert!(choose_rule(&rules[1..], &sale(None, "UNLISTED", false, 0)).is_none());
    }

    #[test]
    fn the_window_counts_calendar_months_from_the_clients_creation() {
        let r = vec![rule(1, None, None, Purchase::Subsequent, Some(36), 2000)];
        assert!(choose_rule(&r, &sale(None, "X", false, 35)).is_some());
        // 31 Jan 2024 + 36 months = 31 Jan 2027: a payment exactly then is outside.
        assert!(choose_rule(&r, &sale(None, "X", false, 36)).is_none());
        let created = Utc.with_ymd_and_hms(2024, 1, 31, 0, 0, 0).unwrap();
        // 31 Jan + 1 month clamps to 29 Feb 2024.
        assert!(within_window(created, Utc.with_ymd_and_hms(2024, 2, 28, 23, 59, 59).unwrap(), 1));
        assert!(!within_window(created, Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap(), 1));
    }

    #[test]
    fn first_and_subsequent_split_purchases() {
        let r = vec![
            rule(1, None, None, Purchase::First, None, 5000),
            rule(2, None, None, Purchase::Subsequent, None, 2000),
        ];
        assert_eq!(choose_rule(&r, &sale(None, "X", true, 0)).unwrap().rate_bp, 5000);
        assert_eq!(choose_rule(&r, &sale(None, "X", false, 0)).unwrap().rate_bp, 2000);
    }

    fn arb_rule() -> impl Strategy<Value = RuleSpec<u32>> {
        (
            0u32..1000,
            proptest::option::of(prop_oneof![Just("A"), Just("B")]),
            proptest::option::of(prop_oneof![Just("X"), Just("Y")]),
            prop_oneof![Just(Purchase::First), Just(Purchase::Subsequent), Just(Purchase::Any)],
            proptest::option::of(1u32..48),
            0i32..=10_000,
        )
            .prop_map(|(id, s, c, p, w, r)| rule(id, s, c, p, w, r))
    }

    proptest! {
        #[test]
        fn adding_a_less_specific_rule_never_changes_a_more_specific_match(
            rules in proptest::collection::vec(arb_rule(), 0..8),
            extra in arb_rule(),
            status in proptest::option::of(prop_oneof![Just("A"), Just("B")]),
            category in prop_oneof![Just("X"), Just("Y")],
            first in any::<bool>(),
            months in 0u32..60,
        ) {
            let s = sale(status, category, first, months);
            if let Some(before) = choose_rule(&rules, &s)
                && extra.specificity() < before.specificity()
            {
                let mut more = rules.clone();
                more.push(extra);
                prop_assert_eq!(choose_rule(&more, &s), Some(before));
            }
        }

        #[test]
        fn the_chosen_rule_matches_and_none_matching_is_more_specific(
            rules in proptest::collection::vec(arb_rule(), 0..10),
            first in any::<bool>(),
            months in 0u32..60,
        ) {
            let s = sale(Some("A"), "X", first, months);
            match choose_rule(&rules, &s) {
                Some(c) => {
                    prop_assert!(c.matches(&s));
                    prop_assert!(rules.iter().filter(|r| r.matches(&s)).all(|r| r.specificity() <= c.specificity()));
                }
                None => prop_assert!(rules.iter().all(|r| !r.matches(&s))),
            }
        }
    }
}
