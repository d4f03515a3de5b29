//! What a person already decided about a proposal (pure): a change held and still waiting
//! keeps its id while it is the same proposal, and a rejected change is not proposed again
//! while the vendor's and the PSA's quantities of that line stay what they were.

use crate::plan::{Action, Plan, PlanLine, Reason};

/// The same proposal: one line (agreement, product, addition) going from the same quantity
/// to the same quantity, or to the same unit cost.
pub fn same_proposal(a: &PlanLine, b: &PlanLine) -> bool {
    a.new_unit_cost == b.new_unit_cost
        && a.agreement_id == b.agreement_id
        && a.product_id == b.product_id
        && a.addition_id == b.addition_id
        && a.before.map(|q| q.normalize()) == b.before.map(|q| q.normalize())
        && a.after == b.after
}

/// Apply earlier decisions to a fresh plan. A line that repeats a rejected proposal is
/// skipped (`rejected`). Returns, for each held line that repeats a change still waiting for
/// review, (line index, that change's id): the waiting change keeps its id.
pub fn apply_decisions(
    plan: &mut Plan,
    waiting: &[(i64, &PlanLine)],
    rejected: &[(i64, &PlanLine)],
) -> Vec<(usize, i64)> {
    let mut repeats = Vec::new();
    for (index, line) in plan.lines.iter_mut().enumerate() {
        if !(line.action.writes() || line.action == Action::Held) {
            continue;
        }
        if let Some((id, _)) = rejected.iter().find(|(_, r)| same_proposal(r, line)) {
            line.action = Action::Skipped;
            line.reason = Some(Reason::Rejected { change_id: *id });
            continue;
        }
        if line.action == Action::Held
            && let Some((id, _)) = waiting.iter().find(|(_, w)| same_proposal(w, line))
        {
            repeats.push((index, *id));
        }
    }
    repeats
}

/// One write the ledger recorded as applied: what `last_set` chooses from.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedWrite {
    pub change_id: i64,
    pub run_id: i64,
    pub addition_id: i64,
    /// The quantity it set (`None`: not a whole number recorded).
    pub after: Option<u32>,
    /// A cost change sets no quantity.
    pub cost_change: bool,
}

/// For every line recon has written, the run and quantity of its last applied write of a
/// quantity (the latest change id wins; cost changes set no quantity). A line that shows
/// another quantity now was changed outside recon.
pub fn last_set(writes: &[AppliedWrite]) -> std::collections::BTreeMap<i64, (i64, rust_decimal::Decimal)> {
    let mut latest: std::collections::BTreeMap<i64, &AppliedWrite> = std::collections::BTreeMap::new();
    for w in writes.iter().filter(|w| !w.cost_change) {
        let slot = latest.entry(w.addition_id).or_insert(w);
        if w.change_id > slot.change_id {
            *slot = w;
        }
    }
    latest
        .into_iter()
        .filter_map(|(addition, w)| Some((addition, (w.run_id, rust_decimal::Decimal::from(w.after?)))))
        .collect()
}

/// Whether a vendor's outage-guard baseline (the usage the next run's total is compared
/// with) moves to what this run read: only after a real run in which the vendor was read
/// and passed the guard, and whose writes were pushed (or there was nothing to push). A dry
/// run, a failed vendor, or a push a person declined leaves the old baseline, so a fall is
/// still seen the next time.
pub fn baseline_moves(dry_run: bool, vendor_failed: bool, pushed: bool, writes: usize) -> bool {
    !dry_run && !vendor_failed && (pushed || writes == 0)
}

/// Whether the rejection of change `id` (proposing `rejected`) still stands, given the lines
/// later real syncs planned for the same agreement and product: it stands while every one of
/// them was skipped as that rejection or proposed the very same change; once either side
/// moved (another quantity planned), it no longer applies.
pub fn rejection_stands(id: i64, rejected: &PlanLine, later: &[&PlanLine]) -> bool {
    later.iter().all(|l| l.reason == Some(Reason::Rejected { change_id: id }) || same_proposal(l, rejected))
}

/// The held changes still waiting for a decision that a fresh plan supersedes: a waiting
/// change goes only when the plan planned its line (agreement, product) afresh, from vendors
/// the run fetched (every vendor that fed the change among them), and does not hold the same
/// proposal again (`kept`: it keeps its id). A line the run could not plan (a vendor not
/// fetched or failed, usage unknown, a skip of any kind) leaves the change waiting, so a
/// sync of one vendor never drops another vendor's held changes.
pub fn superseded(
    waiting: &[(i64, &PlanLine)],
    plan: &Plan,
    fetched: &std::collections::BTreeSet<&str>,
    kept: &[i64],
) -> Vec<i64> {
    let planned_afresh = |w: &PlanLine| {
        plan.lines.iter().any(|l| {
            l.action != Action::Skipped && l.agreement_id == w.agreement_id && l.product_id == w.product_id
        })
    };
    let mut out: Vec<i64> = waiting
        .iter()
        .filter(|(id, _)| !kept.contains(id))
        .filter(|(_, w)| {
            let vendors = w.vendors();
            !vendors.is_empty() && vendors.iter().all(|v| fetched.contains(v))
        })
        .filter(|(_, w)| planned_afresh(w))
        .map(|(id, _)| *id)
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Hold;

    fn proposal(action: Action, before: i64, after: u32) -> PlanLine {
        let mut line = crate::reconcile::tests::edr_line(action, Some(7), Some(before as f64), after);
        line.reason = (action == Action::Held).then_some(Reason::Held { hold: Hold::Decrease });
        line
    }

    #[test]
    fn decisions_table() {
        let rejected = proposal(Action::Held, 9, 5);
        let waiting = proposal(Action::Held, 9, 4);
        // (what, the fresh line, its action after, its reason code, the waiting id it keeps)
        type Case = (&'static str, PlanLine, Action, Option<&'static str>, Option<i64>);
        let cases: Vec<Case> = vec![
            (
                "the rejected proposal again: skipped",
                proposal(Action::Held, 9, 5),
                Action::Skipped,
                Some("rejected"),
                None,
            ),
            (
                "rejected, now pushed by a looser policy: still skipped",
                proposal(Action::Update, 9, 5),
                Action::Skipped,
                Some("rejected"),
                None,
            ),
            (
                "the vendor moved: planned afresh",
                proposal(Action::Held, 9, 6),
                Action::Held,
                Some("held"),
                None,
            ),
            ("ConnectWise moved: planned afresh", proposal(Action::Update, 8, 5), Action::Update, None, None),
            (
                "the waiting proposal again: keeps its id",
                proposal(Action::Held, 9, 4),
                Action::Held,
                Some("held"),
                Some(21),
            ),
            (
                "an unchanged line is no proposal",
                proposal(Action::Unchanged, 5, 5),
                Action::Unchanged,
                None,
                None,
            ),
        ];
        for (name, line, action, code, keeps) in cases {
            let mut plan = Plan {
                period: crate::period::Period { year: 2026, month: 10 },
                lines: vec![line],
                warnings: Vec::new(),
            };
            let repeats = apply_decisions(&mut plan, &[(21, &waiting)], &[(20, &rejected)]);
            assert_eq!(plan.lines[0].action, action, "{name}");
            assert_eq!(plan.lines[0].reason.as_ref().map(Reason::code), code, "{name}");
            assert_eq!(repeats.first().map(|r| r.1), keeps, "{name}");
        }
    }

    #[test]
    fn superseded_table() {
        use crate::plan::Source;
        let fed_by = |vendors: &[&str], agreement: i64, product: i64| {
            let mut l = proposal(Action::Held, 5, 3);
            l.agreement_id = Some(agreement);
            l.product_id = Some(product);
            l.sources = vendors
                .iter()
                .map(|v| Source {
                    vendor: v.to_string(),
                    account_id: "a".into(),
                    account_name: "Acme".into(),
                    service_key: "s".into(),
                    quantity: 3,
                    parts: Vec::new(),
                    classes: Default::default(),
                    notes: Vec::new(),
                })
                .collect();
            l
        };
        let planned = |agreement: i64, product: i64, action: Action| {
            let mut l = proposal(action, 5, 4);
            l.agreement_id = Some(agreement);
            l.product_id = Some(product);
            l
        };
        let nodeware = fed_by(&["nodeware"], 10, 100);
        let huntress = fed_by(&["huntress"], 11, 200);
        let both = fed_by(&["huntress", "nodeware"], 12, 300);
        let waiting = [(1, &nodeware), (2, &huntress), (3, &both)];
        let plan_of = |lines: Vec<PlanLine>| Plan {
            period: crate::period::Period { year: 2026, month: 12 },
            lines,
            warnings: Vec::new(),
        };
        let set = |v: &[&'static str]| v.iter().copied().collect::<std::collections::BTreeSet<&str>>();
        type Case = (&'static str, Plan, std::collections::BTreeSet<&'static str>, Vec<i64>, Vec<i64>);
        let cases: [Case; 6] = [
            (
                "a huntress run plans huntress's line afresh: only its change goes",
                plan_of(vec![planned(11, 200, Action::Update), planned(12, 300, Action::Skipped)]),
                set(&["huntress"]),
                vec![],
                vec![2],
            ),
            (
                "a nodeware change stays when nodeware was not fetched",
                plan_of(vec![planned(10, 100, Action::Update)]),
                set(&["huntress"]),
                vec![],
                vec![],
            ),
            (
                "a line fed by both stays when one was not fetched",
                plan_of(vec![planned(12, 300, Action::Update)]),
                set(&["huntress"]),
                vec![],
                vec![],
            ),
            (
                "both fetched, every line planned: all go",
                plan_of(vec![
                    planned(10, 100, Action::Held),
                    planned(11, 200, Action::Unchanged),
                    planned(12, 300, Action::Update),
                ]),
                set(&["huntress", "nodeware"]),
                vec![],
                vec![1, 2, 3],
            ),
            (
                "the same proposal held again keeps its id",
                plan_of(vec![planned(10, 100, Action::Held)]),
                set(&["nodeware"]),
                vec![1],
                vec![],
            ),
            (
                "a line skipped this time (usage unknown) stays",
                plan_of(vec![planned(10, 100, Action::Skipped)]),
                set(&["nodeware"]),
                vec![],
                vec![],
            ),
        ];
        for (name, plan, fetched, kept, want) in cases {
            assert_eq!(superseded(&waiting, &plan, &fetched, &kept), want, "{name}");
        }
    }

    #[test]
    fn rejection_stands_table() {
        let rejected = proposal(Action::Held, 9, 5);
        let mut skipped_as_rejected = proposal(Action::Skipped, 9, 5);
        skipped_as_rejected.reason = Some(Reason::Rejected { change_id: 4 });
        let same_again = proposal(Action::Held, 9, 5);
        let vendor_moved = proposal(Action::Update, 9, 6);
        let psa_moved = proposal(Action::Update, 8, 5);
        let cases: [(&str, Vec<&PlanLine>, bool); 5] = [
            ("nothing planned since", vec![], true),
            ("skipped as rejected since", vec![&skipped_as_rejected], true),
            ("the same proposal again", vec![&same_again, &skipped_as_rejected], true),
            ("the vendor's quantity moved", vec![&skipped_as_rejected, &vendor_moved], false),
            ("the PSA's quantity moved", vec![&psa_moved], false),
        ];
        for (name, later, want) in cases {
            assert_eq!(rejection_stands(4, &rejected, &later), want, "{name}");
        }
    }

    #[test]
    fn baseline_moves_table() {
        let cases = [
            ("a real run that pushed", false, false, true, 5, true),
            ("a real run with nothing to push", false, false, false, 0, true),
            ("a dry run", true, false, false, 5, false),
            ("the vendor failed (or its guard tripped)", false, true, true, 5, false),
            ("declined at the prompt", false, false, false, 5, false),
        ];
        for (name, dry_run, failed, pushed, writes, want) in cases {
            assert_eq!(baseline_moves(dry_run, failed, pushed, writes), want, "{name}");
        }
    }

    #[test]
    fn last_set_table() {
        let w = |change_id, run_id, addition_id, after: Option<u32>, cost_change| AppliedWrite {
            change_id,
            run_id,
            addition_id,
            after,
            cost_change,
        };
        let d = rust_decimal::Decimal::from;
        type Case = (&'static str, Vec<AppliedWrite>, Vec<(i64, (i64, rust_decimal::Decimal))>);
        let cases: [Case; 4] = [
            ("nothing written", vec![], vec![]),
            (
                "the latest write of a line wins",
                vec![w(9, 2, 7, Some(5), false), w(4, 1, 7, Some(3), false)],
                vec![(7, (2, d(5)))],
            ),
            (
                "a cost change sets no quantity",
                vec![w(4, 1, 7, Some(3), false), w(9, 2, 7, Some(3), true)],
                vec![(7, (1, d(3)))],
            ),
            (
                "a fractional quantity is not known",
                vec![w(4, 1, 7, None, false), w(5, 1, 8, Some(2), false)],
                vec![(8, (1, d(2)))],
            ),
        ];
        for (name, writes, want) in cases {
            assert_eq!(last_set(&writes).into_iter().collect::<Vec<_>>(), want, "{name}");
        }
    }
}
