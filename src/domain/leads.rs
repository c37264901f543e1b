//! Lead distribution [000]: the quarterly ranking of partners by net new ITSaaS contracts, and the
//! choice of the partner that gets the next self-registered client.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

use super::{InputError, LocalTime};

/// A calendar quarter, written `2026-Q3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quarter {
    year: i32,
    q: u32,
}

impl Quarter {
    /// The quarter a day falls in.
    pub fn of(day: NaiveDate) -> Quarter {
        Quarter { year: day.year(), q: (day.month() - 1) / 3 + 1 }
    }

    /// Its first day.
    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The first day after it.
    pub fn end(self) -> NaiveDate {
        match self.q {
            4 => NaiveDate::from_ymd_opt(self.year + 1, 1, 1),
            q => NaiveDate::from_ymd_opt(self.year, q * 3 + 1, 1),
        }
        .unwrap_or(NaiveDate::MAX)
    }

    /// Whether an instant falls in the quarter, by its local day.
    fn contains(self, at: DateTime<Utc>, local: LocalTime) -> bool {
        let day = local.date(at);
        self.start() <= day && day < self.end()
    }
}

impl FromStr for Quarter {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InputError::new("INVALID_QUARTER", "a quarter like \"2026-Q3\"");
        let (year, q) = s.trim().split_once("-Q").ok_or_else(bad)?;
        if year.len() != 4 || q.len() != 1 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(2000..=2999).contains(&year) {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.q)
    }
}

/// One client's paid ITSaaS contracts, as the ranking sees them: the partner credited, when its first
/// paid contract started and when its last one ends (or ended).
#[derive(Debug, Clone)]
pub struct ClientContracts {
    pub partner: Uuid,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
}

/// A partner's line in the ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankingLine {
    pub partner: Uuid,
    pub new_contracts: i64,
    pub churned: i64,
}

impl RankingLine {
    pub fn net(&self) -> i64 {
        self.new_contracts - self.churned
    }
}

/// The ranking for a quarter [000]: per partner, clients whose first paid contract started in the
/// quarter, minus clients counted new in an earlier quarter whose last paid contract ended in this one
/// (by `now`: a contract that has not ended yet has not churned). Clients that must not count (ITS PROF,
/// lead distribution, promotions) are left out by the caller. Sorted by net, then new contracts, then
/// partner name; partners with neither new nor churned contracts are not listed. The service computes the
/// same rule in SQL over the whole table (`service::ranking`); this is its statement in plain Rust.
pub fn rank_partners(
    clients: &[ClientContracts],
    quarter: Quarter,
    local: LocalTime,
    now: DateTime<Utc>,
    name_of: impl Fn(Uuid) -> String,
) -> Vec<RankingLine> {
    let mut by_partner: HashMap<Uuid, RankingLine> = HashMap::new();
    for c in clients {
        let new = quarter.contains(c.first_start, local);
        let churned =
            local.date(c.first_start) < quarter.start() && quarter.contains(c.last_end, local) && c.last_end <= now;
        if new || churned {
            let line =
                by_partner.entry(c.partner).or_insert(RankingLine { partner: c.partner, new_contracts: 0, churned: 0 });
            line.new_contracts += i64::from(new);
            line.churned += i64::from(churned);
        }
    }
    let mut lines: Vec<(String, RankingLine)> = by_partner.into_values().map(|l| (name_of(l.partner), l)).collect();
    lines.sort_by(|(an, a), (bn, b)| {
        b.net()
            .cmp(&a.net())
            .then(b.new_contracts.cmp(&a.new_contracts))
            .then(an.cmp(bn))
            .then(a.partner.cmp(&b.partner))
    });
    lines.into_iter().map(|(_, l)| l).collect()
}

/// A lead pool member as the distribution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadCandidate {
    /// Position in the pool, 1 is best.
    pub rank: i32,
    /// Share in hundredths: 100 is the default, 200 doubles it, 0 gets nothing.
    pub weight_bp: i32,
    pub excluded: bool,
    /// Leads assigned since the pool started.
    pub assigned: i32,
}

/// The member that gets the next lead: the smallest `assigned / weight`, ties to the better rank.
/// Excluded members and members with weight 0 get none; None when nobody may get it.
pub fn choose_lead_partner(members: &[LeadCandidate]) -> Option<usize> {
    members
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.excluded && m.weight_bp > 0)
        .min_by(|(_, a), (_, b)| {
            // a.assigned / a.weight versus b.assigned / b.weight, without division.
            let lhs = i64::from(a.assigned) * i64::from(b.weight_bp);
            let rhs = i64::from(b.assigned) * i64::from(a.weight_bp);
            lhs.cmp(&rhs).then(a.rank.cmp(&b.rank)).then(Ordering::Equal)
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn quarters_parse_and_bound() {
        let q: Quarter = "2026-Q4".parse().unwrap();
        assert_eq!(q.start(), NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(q.end(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(q.to_string(), "2026-Q4");
        let q1: Quarter = "2017-Q1".parse().unwrap();
        assert_eq!(q1.end(), NaiveDate::from_ymd_opt(2017, 4, 1).unwrap());
        assert_eq!(Quarter::of(NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()).to_string(), "2026-Q2");
        for bad in ["2026Q3", "2026-Q5", "2026-Q0", "26-Q1", "2026-Q", "", "2026-q1", "2026-Q12"] {
            assert_eq!(bad.parse::<Quarter>().unwrap_err().reason, "INVALID_QUARTER", "{bad}");
        }
    }

    #[test]
    fn ranking_counts_new_minus_churned_and_sorts_by_net_then_new_then_name() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let q: Quarter = "2026-Q3".parse().unwrap();
        let now = at(2026, 11, 1);
        let clients = vec![
            // a: two new, one churned (counted new in Q1, last contract ended in Q3) → net 1
            ClientContracts { partner: a, first_start: at(2026, 7, 1), last_end: at(2027, 7, 1) },
            ClientContracts { partner: a, first_start: at(2026, 9, 30), last_end: at(2026, 12, 30) },
            ClientContracts { partner: a, first_start: at(2026, 1, 10), last_end: at(2026, 8, 10) },
            // b: one new → net 1, fewer new contracts than a
            ClientContracts { partner: b, first_start: at(2026, 8, 1), last_end: at(2027, 8, 1) },
            // c: one new → net 1, same as b, "Charlie" after "Bravo"
            ClientContracts { partner: c, first_start: at(2026, 8, 2), last_end: at(2027, 8, 2) },
            // not in the quarter at all
            ClientContracts { partner: c, first_start: at(2026, 10, 2), last_end: at(2027, 10, 2) },
            ClientContracts { partner: c, first_start: at(2026, 1, 2), last_end: at(2027, 1, 2) },
        ];
        let names = |id: Uuid| {
            if id == a {
                "Alpha"
            } else if id == b {
                "Bravo"
            } else {
                "Charlie"
            }
            .to_owned()
        };
        let lines = rank_partners(&clients, q, LocalTime::parse("UTC").unwrap(), now, names);
        assert_eq!(
            lines,
            vec![
                RankingLine { partner: a, new_contracts: 2, churned: 1 },
                RankingLine { partner: b, new_contracts: 1, churned: 0 },
                RankingLine { partner: c, new_contracts: 1, churned: 0 },
            ]
        );
    }

    #[test]
    fn a_contract_that_has_not_ended_yet_has_not_churned() {
        let a = Uuid::from_u128(1);
        let q: Quarter = "2026-Q4".parse().unwrap();
        let clients = vec![ClientContracts { partner: a, first_start: at(2026, 1, 1), last_end: at(2026, 12, 1) }];
        assert!(
            rank_partners(&clients, q, LocalTime::parse("UTC").unwrap(), at(2026, 11, 1), |_| String::new()).is_empty()
        );
        let lines = rank_partners(&clients, q, LocalTime::parse("UTC").unwrap(), at(2026, 12, 2), |_| String::new());
        assert_eq!(lines, vec![RankingLine { partner: a, new_contracts: 0, churned: 1 }]);
        assert_eq!(lines[0].net(), -1);
    }

    fn member(rank: i32, weight_bp: i32, assigned: i32) -> LeadCandidate {
        LeadCandidate { rank, weight_bp, excluded: false, assigned }
    }

    #[test]
    fn the_next_lead_goes_to_the_smallest_share_and_ties_to_the_better_rank() {
        assert_eq!(choose_lead_partner(&[member(1, 100, 0), member(2, 100, 0)]), Some(0));
        assert_eq!(choose_lead_partner(&[member(2, 100, 0), member(1, 100, 0)]), Some(1));
        assert_eq!(choose_lead_partner(&[member(1, 100, 1), member(2, 100, 0)]), Some(1));
        // weight 2 with 3 leads (1.5 each) is behind weight 1 with 2 leads.
        assert_eq!(choose_lead_partner(&[member(1, 100, 2), member(2, 200, 3)]), Some(1));
        let excluded = LeadCandidate { excluded: true, ..member(1, 100, 0) };
        assert_eq!(choose_lead_partner(&[excluded, member(2, 100, 5)]), Some(1));
        assert_eq!(choose_lead_partner(&[excluded, member(2, 0, 0)]), None);
        assert_eq!(choose_lead_partner(&[]), None);
    }

    fn distribute(weights: &[i32], leads: usize) -> Vec<i32> {
        let mut members: Vec<LeadCandidate> =
            weights.iter().enumerate().map(|(i, w)| member(i as i32 + 1, *w, 0)).collect();
        for _ in 0..leads {
            let i = choose_lead_partner(&members).unwrap();
            members[i].assigned += 1;
        }
        members.iter().map(|m| m.assigned).collect()
    }

    #[test]
    fn thirty_leads_over_three_equal_members_are_ten_each_and_weight_two_doubles_a_share() {
        assert_eq!(distribute(&[100, 100, 100], 30), vec![10, 10, 10]);
        assert_eq!(distribute(&[200, 100, 100], 40), vec![20, 10, 10]);
        assert_eq!(distribute(&[50, 100], 30), vec![10, 20]);
    }

    proptest! {
        #[test]
        fn no_member_is_ever_more_than_one_lead_ahead_of_its_share(
            weights in proptest::collection::vec(1i32..=400, 1..8),
            leads in 0usize..300,
        ) {
            let got = distribute(&weights, leads);
            prop_assert_eq!(got.iter().map(|g| *g as usize).sum::<usize>(), leads);
            // Each lead went to a smallest assigned/weight: taking back any member's last lead leaves
            // it no further ahead than anyone else, i.e. (a_i - 1) / w_i <= a_j / w_j for all i, j.
            for (ai, wi) in got.iter().zip(&weights) {
                for (aj, wj) in got.iter().zip(&weights) {
                    if *ai > 0 {
                        prop_assert!(i64::from(ai - 1) * i64::from(*wj) <= i64::from(*aj) * i64::from(*wi));
                    }
                }
            }
        }

        #[test]
        fn equal_members_never_differ_by_more_than_one_lead(members in 1usize..12, leads in 0usize..500) {
            let got = distribute(&vec![100; members], leads);
            let (lo, hi) = (got.iter().min().unwrap(), got.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "{got:?}");
        }
    }
}
