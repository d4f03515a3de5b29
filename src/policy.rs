//! The `[sync]` policy: which quantity changes are pushed at once and which are held.

use serde::{Deserialize, Serialize};

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
}

/// Safe for cron out of the box: increases are pushed, decreases wait for a person, and a
/// line (or a vendor's total) moving by more than half is held, so a vendor answering zeros
/// cannot zero anyone's billing.
impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy { increases: Decision::Apply, decreases: Decision::Review, max_change_percent: Some(50) }
    }
}

impl SyncPolicy {
    /// Every change pushed at once: what the sandbox and most tests use.
    pub fn push_everything() -> SyncPolicy {
        SyncPolicy { increases: Decision::Apply, decreases: Decision::Apply, max_change_percent: None }
    }

    /// Why the policy holds a change of one line from `before` (what ConnectWise holds now;
    /// `None` when there is no addition yet, which counts as 0) to `after` (what the vendors
    /// report); `None` means the change may be pushed at once.
    ///
    /// `max_change_percent` only judges lines that hold a positive quantity now: a change from
    /// nothing has no percentage, so an addition from 0 is judged by `increases` alone.
    pub fn hold_reason(&self, before: Option<f64>, after: u32) -> Option<String> {
        let before = before.unwrap_or(0.0);
        let after = f64::from(after);
        if after > before && self.increases == Decision::Review {
            return Some("increase held for review ([sync] increases = \"review\")".to_string());
        }
        if after < before && self.decreases == Decision::Review {
            return Some("decrease held for review ([sync] decreases = \"review\")".to_string());
        }
        if let Some(limit) = self.max_change_percent
            && before > 0.0
            && after != before
        {
            let percent = (after - before) / before * 100.0;
            if percent.abs() > f64::from(limit) {
                return Some(format!(
                    "change of {} exceeds max_change_percent = {limit}",
                    format_percent(percent, limit)
                ));
            }
        }
        None
    }
}

/// `-62%`, `+150%`; with decimals only when the whole number would not show why the change
/// exceeds the limit (`+50.4%` against a limit of 50).
fn format_percent(percent: f64, limit: u32) -> String {
    if percent.abs().round() > f64::from(limit) {
        return format!("{percent:+.0}%");
    }
    let text = format!("{percent:+.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCREASE: &str = "increase held for review ([sync] increases = \"review\")";
    const DECREASE: &str = "decrease held for review ([sync] decreases = \"review\")";

    fn policy(increases: Decision, decreases: Decision, max: Option<u32>) -> SyncPolicy {
        SyncPolicy { increases, decreases, max_change_percent: max }
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
            assert_eq!(policy.hold_reason(*before, *after).as_deref(), *want, "{name}");
        }
    }
}
