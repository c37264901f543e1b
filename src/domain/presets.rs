//! The three programs the service ships, exactly as docs/rules.md §6 tabulates them. `seed --presets` loads them.

use super::commission::Purchase;

pub struct PresetRule {
    pub status: Option<&'static str>,
    pub category: Option<&'static str>,
    pub purchase: Purchase,
    pub window_months: Option<u32>,
    pub rate_bp: i32,
}

pub struct PresetTariff {
    pub code: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub monthly_price_minor: i64,
    pub periods: &'static [u32],
    pub max_databases: Option<i32>,
    pub partner_only: bool,
}

pub struct Preset {
    pub code: &'static str,
    pub name: &'static str,
    /// Lowest first.
    pub statuses: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// The lowest status that may issue bonus promo codes (None: any status).
    pub promo_min_status: Option<&'static str>,
    /// The lowest status that may join a lead pool (None: any status).
    pub lead_min_status: Option<&'static str>,
    pub rules: Vec<PresetRule>,
    pub tariffs: &'static [PresetTariff],
}

const fn any(status: &'static str, category: &'static str, percent: i32) -> PresetRule {
    PresetRule {
        status: Some(status),
        category: Some(category),
        purchase: Purchase::Any,
        window_months: None,
        rate_bp: percent * 100,
    }
}

pub fn presets() -> Vec<Preset> {
    vec![
        // 1C-Connect [002]: percent of the payment by category and status; "—" cells and VIDEO_CALLS have
        // no rule, so they earn nothing.
        Preset {
            code: "1C-CONNECT",
            name: "1C-Connect",
            statuses: &["AGENT", "DEALER", "INTEGRATOR"],
            categories: &[
                "ITS_BUNDLED",
                "SAAS_CORPORATE",
                "ONPREM_SERVER",
                "ONPREM_USER",
                "DEVELOPER_SERVICES",
                "VIDEO_CALLS",
            ],
            promo_min_status: None,
            lead_min_status: None,
            rules: vec![
                any("INTEGRATOR", "ITS_BUNDLED", 50),
                any("AGENT", "SAAS_CORPORATE", 10),
                any("DEALER", "SAAS_CORPORATE", 25),
                any("INTEGRATOR", "SAAS_CORPORATE", 50),
                any("AGENT", "ONPREM_SERVER", 10),
                any("DEALER", "ONPREM_SERVER", 20),
                any("INTEGRATOR", "ONPREM_SERVER", 30),
                any("AGENT", "ONPREM_USER", 10),
                any("DEALER", "ONPREM_USER", 25),
                any("INTEGRATOR", "ONPREM_USER", 50),
                any("AGENT", "DEVELOPER_SERVICES", 10),
                any("DEALER", "DEVELOPER_SERVICES", 10),
                any("INTEGRATOR", "DEVELOPER_SERVICES", 10),
            ],
            tariffs: &[],
        },
        // Bitrix24 [004]: 50 % of the first purchase, 20 % of later ones, both within 36 months of the
        // client's creation; statuses do not change the rate.
        Preset {
            code: "BITRIX24",
            name: "Bitrix24",
            statuses: &["REGISTERED", "BUSINESS_PARTNER", "CERTIFIED", "GOLD"],
            categories: &["CLOUD", "ON_PREMISE"],
            promo_min_status: Some("BUSINESS_PARTNER"),
            lead_min_status: None,
            rules: vec![
                PresetRule {
                    status: None,
                    category: None,
                    purchase: Purchase::First,
                    window_months: Some(36),
                    rate_bp: 5000,
                },
                PresetRule {
                    status: None,
                    category: None,
                    purchase: Purchase::Subsequent,
                    window_months: Some(36),
                    rate_bp: 2000,
                },
            ],
            tariffs: &[],
        },
        // 1C:Fresh [003, 000]: franchisees 20 % of ITSaaS payments; CSK 65 % (not in the documents: the
        // largest partner income the partner guide quotes). The free "Partner" tariff [001].
        Preset {
            code: "1C-FRESH",
            name: "1C:Fresh",
            statuses: &["FRANCHISEE", "CSK"],
            categories: &["ITSAAS", "EXCHANGE", "AUTONOMOUS_WORKPLACE", "CUSTOM_REPORTS"],
            promo_min_status: None,
            // Leads go to network competence centres only [000].
            lead_min_status: Some("CSK"),
            rules: vec![any("FRANCHISEE", "ITSAAS", 20), any("CSK", "ITSAAS", 65)],
            tariffs: &[PresetTariff {
                code: "FRESH-PARTNER",
                name: "Partner (free)",
                category: "ITSAAS",
                monthly_price_minor: 0,
                periods: &[12],
                max_databases: Some(20),
                partner_only: true,
            }],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_1c_connect_table_has_thirteen_cells_with_a_rate() {
        let p = presets();
        let connect = p.iter().find(|p| p.code == "1C-CONNECT").unwrap();
        assert_eq!(connect.rules.len(), 13);
        assert!(connect.rules.iter().all(|r| r.category != Some("VIDEO_CALLS")));
        assert!(!connect.rules.iter().any(|r| r.category == Some("ITS_BUNDLED") && r.status != Some("INTEGRATOR")));
    }

    #[test]
    fn every_rule_names_a_status_and_category_of_its_program() {
        for p in presets() {
            for r in &p.rules {
                assert!(r.status.is_none_or(|s| p.statuses.contains(&s)), "{} {:?}", p.code, r.status);
                assert!(r.category.is_none_or(|c| p.categories.contains(&c)), "{} {:?}", p.code, r.category);
            }
        }
    }
}

#[cfg(test)]
mod cells {
    use chrono::{Months, TimeZone, Utc};

    use super::*;
    use crate::domain::commission::{RuleSpec, Sale, choose_rule};

    fn rules(code: &str) -> Vec<RuleSpec<usize>> {
        let p = presets().into_iter().find(|p| p.code == code).unwrap();
        p.rules
            .iter()
            .enumerate()
            .map(|(id, r)| RuleSpec {
                id,
                status: r.status.map(Into::into),
                category: r.category.map(Into::into),
                purchase: r.purchase,
                window_months: r.window_months,
                rate_bp: r.rate_bp,
            })
            .collect()
    }

    fn rate(rules: &[RuleSpec<usize>], status: &str, category: &str, first: bool, months_after: u32) -> Option<i32> {
        let created = Utc.with_ymd_and_hms(2024, 3, 15, 9, 0, 0).unwrap();
        let sale = Sale {
            partner_status: Some(status),
            category,
            first_purchase: first,
            client_created_at: created,
            paid_at: created.checked_add_months(Months::new(months_after)).unwrap(),
        };
        choose_rule(rules, &sale).map(|r| r.rate_bp / 100)
    }

    #[test]
    fn every_1c_connect_cell() {
        let r = rules("1C-CONNECT");
        let table: [(&str, [Option<i32>; 3]); 6] = [
            ("ITS_BUNDLED", [None, None, Some(50)]),
            ("SAAS_CORPORATE", [Some(10), Some(25), Some(50)]),
            ("ONPREM_SERVER", [Some(10), Some(20), Some(30)]),
            ("ONPREM_USER", [Some(10), Some(25), Some(50)]),
            ("DEVELOPER_SERVICES", [Some(10), Some(10), Some(10)]),
            ("VIDEO_CALLS", [None, None, None]),
        ];
        for (category, row) in table {
            for (status, expected) in ["AGENT", "DEALER", "INTEGRATOR"].into_iter().zip(row) {
                for first in [true, false] {
                    assert_eq!(rate(&r, status, category, first, 60), expected, "{category} × {status}");
                }
            }
        }
    }

    #[test]
    fn every_bitrix24_cell() {
        let r = rules("BITRIX24");
        for status in ["REGISTERED", "BUSINESS_PARTNER", "CERTIFIED", "GOLD"] {
            for category in ["CLOUD", "ON_PREMISE"] {
                assert_eq!(rate(&r, status, category, true, 0), Some(50));
                assert_eq!(rate(&r, status, category, false, 35), Some(20));
                assert_eq!(rate(&r, status, category, true, 36), None);
                assert_eq!(rate(&r, status, category, false, 36), None);
            }
        }
    }

    #[test]
    fn every_1c_fresh_cell() {
        let r = rules("1C-FRESH");
        for first in [true, false] {
            assert_eq!(rate(&r, "FRANCHISEE", "ITSAAS", first, 100), Some(20));
            assert_eq!(rate(&r, "CSK", "ITSAAS", first, 100), Some(65));
            for service in ["EXCHANGE", "AUTONOMOUS_WORKPLACE", "CUSTOM_REPORTS"] {
                assert_eq!(rate(&r, "CSK", service, first, 0), None);
                assert_eq!(rate(&r, "FRANCHISEE", service, first, 0), None);
            }
        }
    }
}
