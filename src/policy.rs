//! The `[sync]` policy: which quantity changes are pushed at once and which are held.

use crate::model::{AccountMapping, ServiceMapping, VendorSnapshot};
use crate::plan::Hold;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Apply,
    Review,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPolicy {
    pub increases: Decision,
    pub decreases: Decision,
    /// A change larger than this percentage of the current quantity is held.
    pub max_change_percent: Option<u32>,
    /// More failed accounts than this share of a vendor's accounts fails the whole vendor.
    pub max_failed_accounts_percent: u32,
    /// A line whose monthly revenue change is larger than this (either way) is held.
    pub max_change_amount: Option<Decimal>,
    /// An addition recon set that shows another quantity now: hold (`Review`) or overwrite.
    pub outside_changes: Decision,
    /// `[sync.vendors.NAME]`: one vendor's own policy keys.
    pub vendors: BTreeMap<String, VendorPolicy>,
    /// When a line's price or cost is a finding.
    pub costs: CostRules,
}

/// `[sync] cost_tolerance_percent` and `min_margin_percent`: when a price or a cost is worth a
/// person's look. Findings are never writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CostRules {
    /// A vendor cost further than this from the PSA line's cost is a finding.
    pub tolerance_percent: Decimal,
    /// A margin under this is a finding; `None`: margins are not judged.
    pub min_margin_percent: Option<u32>,
    /// A cost that differs becomes a held change of the line's cost (`[sync] update_costs`).
    pub update_costs: bool,
}

impl Default for CostRules {
    fn default() -> Self {
        CostRules { tolerance_percent: Decimal::ONE, min_margin_percent: None, update_costs: false }
    }
}

/// The policy keys one vendor may override; `None` keeps the `[sync]` value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VendorPolicy {
    pub increases: Option<Decision>,
    pub decreases: Option<Decision>,
    pub max_change_percent: Option<Option<u32>>,
    pub max_change_amount: Option<Option<Decimal>>,
}

/// Safe for cron out of the box: increases are pushed, decreases wait for a person, and a
/// line (or a vendor's total) moving by more than half is held, so a vendor answering zeros
/// cannot zero anyone's billing.
impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            increases: Decision::Apply,
            decreases: Decision::Review,
            max_change_percent: Some(50),
            max_failed_accounts_percent: 5,
            max_change_amount: None,
            outside_changes: Decision::Review,
            vendors: BTreeMap::new(),
            costs: CostRules::default(),
        }
    }
}

impl SyncPolicy {
    /// Every change pushed at once: what the sandbox and most tests use.
    pub fn push_everything() -> SyncPolicy {
        SyncPolicy { decreases: Decision::Apply, max_change_percent: None, ..SyncPolicy::default() }
    }

    /// Why the policy holds a change of one line from `before` (what ConnectWise holds now;
    /// `None` when there is no addition yet, which counts as 0) to `after` (what the vendors
    /// report); `None` means the change may be pushed at once.
    ///
    /// `max_change_percent` only judges lines that hold a positive quantity now: a change from
    /// nothing has no percentage, so an addition from 0 is judged by `increases` alone.
    pub fn hold(&self, before: Option<Decimal>, after: u32, revenue_change: Option<Decimal>) -> Option<Hold> {
        let before = before.unwrap_or_default();
        let after = Decimal::from(after);
        if after > before && self.increases == Decision::Review {
            return Some(Hold::Increase);
        }
        if after < before && self.decreases == Decision::Review {
            return Some(Hold::Decrease);
        }
        if let Some(limit) = self.max_change_percent
            && before > Decimal::ZERO
            && after != before
        {
            let hundredths = ((after - before) * Decimal::from(10_000) / before).round();
            if hundredths.abs() > Decimal::from(limit) * Decimal::from(100) {
                let hundredths = i64::try_from(hundredths).unwrap_or(i64::MAX);
                return Some(Hold::ChangePercent { hundredths, limit });
            }
        }
        if let (Some(limit), Some(amount)) = (self.max_change_amount, revenue_change)
            && amount.abs() > limit
        {
            return Some(Hold::ChangeAmount { amount, limit });
        }
        None
    }

    /// The policy for one vendor's lines: `[sync]` with `[sync.vendors.NAME]` over it.
    pub fn for_vendor(&self, vendor: &str) -> SyncPolicy {
        let mut policy = SyncPolicy {
            increases: self.increases,
            decreases: self.decreases,
            max_change_percent: self.max_change_percent,
            max_failed_accounts_percent: self.max_failed_accounts_percent,
            max_change_amount: self.max_change_amount,
            outside_changes: self.outside_changes,
            vendors: BTreeMap::new(),
            costs: self.costs,
        };
        if let Some(o) = self.vendors.get(vendor) {
            policy.increases = o.increases.unwrap_or(policy.increases);
            policy.decreases = o.decreases.unwrap_or(policy.decreases);
            policy.max_change_percent = o.max_change_percent.unwrap_or(policy.max_change_percent);
            policy.max_change_amount = o.max_change_amount.unwrap_or(policy.max_change_amount);
        }
        policy
    }
}

/// What a run read from one vendor, as the vendor guard judges it.
#[derive(Debug, Clone, Copy)]
pub struct VendorRead<'a> {
    /// Accounts the vendor listed (conflicting ids included).
    pub listed: usize,
    /// Accounts whose usage could not be read, or whose records conflict.
    pub failed: usize,
    /// The quantities read now, by (account id, service key), of mapped pairs only.
    pub now: &'a BTreeMap<(String, String), u64>,
    /// The quantities as of the last pushed sync, by (account id, service key).
    pub last: &'a BTreeMap<(String, String), u64>,
}

/// Why nothing of a vendor should be pushed in this run, if so: it listed nobody, too many
/// of its accounts failed, or (the outage guard) its total over the accounts it could read
/// fell by more than `max_change_percent` since the last pushed sync. A vendor answering
/// zeros, or half its answers, looks like that; `accept_drop` says the fall is real.
pub fn vendor_guard(read: &VendorRead, policy: &SyncPolicy, accept_drop: bool) -> Option<String> {
    if read.listed == 0 {
        return Some("returned no accounts; the outage guard pushes nothing for it".to_string());
    }
    let limit = u64::from(policy.max_failed_accounts_percent);
    if read.failed as u64 * 100 > read.listed as u64 * limit {
        return Some(format!(
            "{} of its {} accounts failed ({}%), more than max_failed_accounts_percent = {limit}; \
             nothing is pushed for it",
            read.failed,
            read.listed,
            read.failed * 100 / read.listed
        ));
    }
    let limit = policy.max_change_percent?;
    if accept_drop {
        return None;
    }
    // Only pairs read now and known before: an account that failed or was not listed is
    // neither a fall nor a rise.
    let (mut now, mut last) = (0u64, 0u64);
    for (pair, quantity) in read.now {
        if let Some(before) = read.last.get(pair) {
            now += quantity;
            last += before;
        }
    }
    if last == 0 || now >= last {
        return None;
    }
    let fall = (last - now) * 100 / last;
    (fall > u64::from(limit)).then(|| {
        format!(
            "its total mapped usage fell from {last} to {now} (-{fall}%) over the accounts it answered for, \
             more than max_change_percent = {limit}; nothing is pushed for it. If the fall is real, run \
             again with --accept-drop"
        )
    })
}

/// What the vendor guard compares: the vendor's quantities read now, by (account id,
/// service key), of mapped accounts and mapped services only.
pub fn mapped_usage(
    vendor: &str,
    snapshot: &VendorSnapshot,
    accounts: &[AccountMapping],
    services: &[ServiceMapping],
) -> BTreeMap<(String, String), u64> {
    let accounts: BTreeSet<&str> =
        accounts.iter().filter(|m| m.vendor == vendor).map(|m| m.account_id.as_str()).collect();
    let services: BTreeSet<&str> =
        services.iter().filter(|m| m.vendor == vendor).map(|m| m.service_key.as_str()).collect();
    snapshot
        .usage
        .iter()
        .filter(|u| accounts.contains(u.account_id.as_str()) && services.contains(u.service_key.as_str()))
        .map(|u| ((u.account_id.clone(), u.service_key.clone()), u64::from(u.quantity)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCREASE: &str = "increase held for review ([sync] increases = \"review\")";
    const DECREASE: &str = "decrease held for review ([sync] decreases = \"review\")";

    fn policy(increases: Decision, decreases: Decision, max: Option<u32>) -> SyncPolicy {
        SyncPolicy { increases, decreases, max_change_percent: max, ..SyncPolicy::default() }
    }

    #[test]
    fn hold_reason_table() {
        use Decision::{Apply, Review};
        /// (what, policy, before, after, the reason it is held for)
        type Case = (&'static str, SyncPolicy, Option<f64>, u32, Option<&'static str>);
        let cases: &[Case] = &[
            ("push_everything applies an increase", SyncPolicy::push_everything(), Some(5.0), 9, None),
            ("push_everything applies a decrease", SyncPolicy::push_everything(), Some(9.0), 5, None),
            ("push_everything applies an add", SyncPolicy::push_everything(), None, 9, None),
            ("default applies a small increase", SyncPolicy::default(), Some(10.0), 12, None),
            ("default applies an add", SyncPolicy::default(), None, 90, None),
            ("default holds a decrease", SyncPolicy::default(), Some(9.0), 8, Some(DECREASE)),
            (
                "default holds a large increase",
                SyncPolicy::default(),
                Some(5.0),
                9,
                Some("change of +80% exceeds max_change_percent = 50"),
            ),
            ("increase under review", policy(Review, Apply, None), Some(5.0), 6, Some(INCREASE)),
            ("add counts as an increase", policy(Review, Apply, None), None, 1, Some(INCREASE)),
            ("add of zero is no increase", policy(Review, Review, None), None, 0, None),
            (
                "decrease applies when only increases reviewed",
                policy(Review, Apply, None),
                Some(6.0),
                5,
                None,
            ),
            ("decrease under review", policy(Apply, Review, None), Some(6.0), 5, Some(DECREASE)),
            ("decrease to zero under review", policy(Apply, Review, None), Some(6.0), 0, Some(DECREASE)),
            (
                "increase applies when only decreases reviewed",
                policy(Apply, Review, None),
                Some(5.0),
                6,
                None,
            ),
            ("no change is never held", policy(Review, Review, Some(0)), Some(5.0), 5, None),
            ("fractional before, decrease", policy(Apply, Review, None), Some(5.5), 5, Some(DECREASE)),
            ("fractional before, increase", policy(Review, Apply, None), Some(5.5), 6, Some(INCREASE)),
            (
                "large decrease",
                policy(Apply, Apply, Some(50)),
                Some(8.0),
                3,
                Some("change of -62% exceeds max_change_percent = 50"),
            ),
            (
                "large increase",
                policy(Apply, Apply, Some(50)),
                Some(4.0),
                10,
                Some("change of +150% exceeds max_change_percent = 50"),
            ),
            ("exactly at the limit applies", policy(Apply, Apply, Some(50)), Some(4.0), 6, None),
            ("exactly at the limit down applies", policy(Apply, Apply, Some(50)), Some(4.0), 2, None),
            (
                "just over the limit shows decimals",
                policy(Apply, Apply, Some(50)),
                Some(250.0),
                376,
                Some("change of +50.4% exceeds max_change_percent = 50"),
            ),
            ("add from nothing is not judged by percent", policy(Apply, Apply, Some(10)), None, 500, None),
            ("add from zero is not judged by percent", policy(Apply, Apply, Some(10)), Some(0.0), 500, None),
            (
                "decrease to zero is over any limit below 100",
                policy(Apply, Apply, Some(50)),
                Some(4.0),
                0,
                Some("change of -100% exceeds max_change_percent = 50"),
            ),
            ("limit 100 allows a drop to zero", policy(Apply, Apply, Some(100)), Some(4.0), 0, None),
            (
                "direction rule wins over percent",
                policy(Review, Apply, Some(10)),
                Some(1.0),
                100,
                Some(INCREASE),
            ),
            (
                "percent still holds what direction allows",
                policy(Review, Apply, Some(10)),
                Some(100.0),
                1,
                Some("change of -99% exceeds max_change_percent = 10"),
            ),
        ];
        for (name, policy, before, after, want) in cases {
            let before = before.map(|b| Decimal::try_from(b).unwrap());
            let got = policy.hold(before, *after, None).map(crate::output::wording::hold_text);
            assert_eq!(got.as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn vendor_guard_table() {
        let pairs = |list: &[(&str, u64)]| -> BTreeMap<(String, String), u64> {
            list.iter().map(|(a, q)| ((a.to_string(), "s".to_string()), *q)).collect()
        };
        let last = pairs(&[("a", 10), ("b", 10), ("c", 10), ("d", 10)]);
        let policy = SyncPolicy::default(); // 50 % and 5 %
        /// (what, listed, failed, now, accept_drop, the reason nothing is pushed)
        type Case = (&'static str, usize, usize, Vec<(&'static str, u64)>, bool, Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("steady", 4, 0, vec![("a", 10), ("b", 10), ("c", 10), ("d", 10)], false, None),
            ("no accounts", 0, 0, vec![], false, Some("returned no accounts")),
            (
                "all zeros",
                4,
                0,
                vec![("a", 0), ("b", 0), ("c", 0), ("d", 0)],
                false,
                Some("fell from 40 to 0 (-100%)"),
            ),
            ("all zeros, accepted", 4, 0, vec![("a", 0), ("b", 0), ("c", 0), ("d", 0)], true, None),
            ("a fall of exactly half", 4, 0, vec![("a", 5), ("b", 5), ("c", 5), ("d", 5)], false, None),
            ("a fall past half", 4, 0, vec![("a", 4), ("b", 5), ("c", 5), ("d", 5)], false, Some("-52%")),
            ("growth", 4, 0, vec![("a", 90), ("b", 10)], false, None),
            // The accounts that failed are not read: they are not a fall.
            ("half the accounts unread", 40, 2, vec![("a", 10), ("b", 10)], false, None),
            ("unread and the rest fell", 40, 2, vec![("a", 1), ("b", 1)], false, Some("fell from 20 to 2")),
            ("new accounts are not compared", 4, 0, vec![("a", 10), ("z", 0)], false, None),
            ("1 of 20 failed is 5 %", 20, 1, vec![("a", 10)], false, None),
            ("2 of 20 failed", 20, 2, vec![("a", 10)], false, Some("2 of its 20 accounts failed (10%)")),
            ("1 of 4 failed", 4, 1, vec![("a", 10)], true, Some("more than max_failed_accounts_percent = 5")),
        ];
        for (name, listed, failed, now, accept_drop, want) in cases {
            let now = pairs(&now);
            let read = VendorRead { listed, failed, now: &now, last: &last };
            let got = vendor_guard(&read, &policy, accept_drop);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!(g.contains(w), "{name}: {g}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
        let now = pairs(&[("a", 0)]);
        let off = SyncPolicy { max_change_percent: None, ..SyncPolicy::default() };
        let read = VendorRead { listed: 4, failed: 0, now: &now, last: &last };
        assert_eq!(vendor_guard(&read, &off, false), None, "max_change_percent = false turns the guard off");
        let lenient = SyncPolicy { max_failed_accounts_percent: 30, ..SyncPolicy::default() };
        let read = VendorRead { listed: 4, failed: 1, now: &last, last: &last };
        assert_eq!(vendor_guard(&read, &lenient, false), None);
        // The guard judges a vendor by its own policy: `[sync.vendors.NAME] max_change_percent`
        // reaches it (a -60 % fall is an outage at the global 50, not at Huntress's 80).
        let mut policy = SyncPolicy::default();
        policy.vendors.insert(
            "huntress".into(),
            VendorPolicy { max_change_percent: Some(Some(80)), ..VendorPolicy::default() },
        );
        let now = pairs(&[("a", 4), ("b", 4), ("c", 4), ("d", 4)]);
        let read = VendorRead { listed: 4, failed: 0, now: &now, last: &last };
        assert!(
            vendor_guard(&read, &policy.for_vendor("nodeware"), false).is_some_and(|g| g.contains("-60%"))
        );
        assert_eq!(vendor_guard(&read, &policy.for_vendor("huntress"), false), None);
    }

    #[test]
    fn the_guard_compares_only_mapped_accounts_and_services() {
        use crate::model::{MappedBy, Usage};
        let amap = |a: &str| AccountMapping {
            vendor: "v".into(),
            account_id: a.into(),
            account_name: a.into(),
            company_id: 1,
            company_name: "C".into(),
            agreement_id: Some(2),
            agreement_name: None,
            how: MappedBy::Auto,
        };
        let smap = |k: &str| ServiceMapping {
            vendor: "v".into(),
            service_key: k.into(),
            product_id: 3,
            product_identifier: "P".into(),
            minimum: None,
            bill_customer: None,
            committed_decreases: false,
            classes: None,
            included: None,
        };
        let u = |a: &str, k: &str, q: u32| Usage {
            account_id: a.into(),
            service_key: k.into(),
            quantity: q,
            ..Default::default()
        };
        let snapshot = VendorSnapshot {
            usage: vec![u("a", "s", 4), u("a", "other", 9), u("unmapped", "s", 7), u("b", "s", 0)],
            ..VendorSnapshot::default()
        };
        let mut other_vendor = smap("s");
        other_vendor.vendor = "w".into();
        let got = mapped_usage("v", &snapshot, &[amap("a"), amap("b")], &[smap("s"), other_vendor]);
        let want: BTreeMap<(String, String), u64> =
            [(("a".into(), "s".into()), 4), (("b".into(), "s".into()), 0)].into_iter().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn money_limits_and_vendor_overrides() {
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        let policy = SyncPolicy {
            max_change_amount: Some(d("500")),
            vendors: BTreeMap::from([(
                "huntress".to_string(),
                VendorPolicy {
                    decreases: Some(Decision::Apply),
                    max_change_amount: Some(None),
                    ..VendorPolicy::default()
                },
            )]),
            ..SyncPolicy::push_everything()
        };
        let hold = |p: &SyncPolicy, before: u32, after: u32, revenue: &str| {
            p.hold(Some(Decimal::from(before)), after, Some(d(revenue)))
                .map(crate::output::wording::hold_text)
        };
        assert_eq!(hold(&policy, 10, 30, "500"), None, "at the limit: pushed");
        assert_eq!(
            hold(&policy, 10, 30, "500.01").as_deref(),
            Some("revenue change of +500.01 a month exceeds max_change_amount = 500")
        );
        assert_eq!(
            hold(&policy, 30, 10, "-900").as_deref(),
            Some("revenue change of -900.00 a month exceeds max_change_amount = 500")
        );
        assert_eq!(
            policy.hold(Some(Decimal::from(1)), 90, None),
            None,
            "an unknown amount is not judged by amount"
        );
        let huntress = policy.for_vendor("huntress");
        assert_eq!(hold(&huntress, 30, 10, "-900"), None, "the override turns the limit off");
        assert_eq!(huntress.decreases, Decision::Apply);
        let nodeware = SyncPolicy::default().for_vendor("nodeware");
        assert_eq!(nodeware, SyncPolicy::default(), "no override: the [sync] policy");
    }
}
