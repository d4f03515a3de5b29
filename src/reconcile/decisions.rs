//! What a person already decided about a proposal (pure): a change held and still waiting
//! keeps its id while it is the same proposal, and a rejected change is not proposed again
//! while the vendor's and the PSA's quantities of that line stay what they were.

use crate::plan::{Action, Plan, PlanLine, Reason};

/// The same proposal: one line (agreement, product, addition) going from the same quantity
/// to the same quantity.
pub fn same_proposal(a: &PlanLine, b: &PlanLine) -> bool {
    a.agreement_id == b.agreement_id
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
}
