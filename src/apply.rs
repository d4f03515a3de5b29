//! Push a plan's writes to ConnectWise. The ledger rows exist before this runs (the intent);
//! each outcome is handed back to the caller, on its own thread, as soon as it is known.

use crate::connectwise::{ConnectWise, CwError, NewAddition};
use crate::plan::{Action, PlanLine};

#[derive(Debug)]
pub enum Outcome {
    Applied { addition_id: i64 },
    Failed { error: String },
}

pub struct WriteSettings {
    pub bill_customer: &'static str,
    pub effective_date: chrono::NaiveDate,
    pub workers: usize,
}

/// Apply every line that writes (`add`, `update`) and call `done(line_index, outcome)` for each.
pub fn apply(
    cw: &ConnectWise,
    lines: &[PlanLine],
    settings: &WriteSettings,
    mut done: impl FnMut(usize, Outcome),
) {
    let writes: Vec<(usize, &PlanLine)> =
        lines.iter().enumerate().filter(|(_, l)| l.action.writes()).collect();
    crate::workers::for_each(
        &writes,
        settings.workers,
        |(_, line)| apply_line(cw, line, settings),
        |i, outcome| done(writes[i].0, outcome),
    );
}

fn apply_line(cw: &ConnectWise, line: &PlanLine, settings: &WriteSettings) -> Outcome {
    let (Some(agreement_id), Some(product_id), Some(quantity)) =
        (line.agreement_id, line.product_id, line.after)
    else {
        return Outcome::Failed { error: "line lacks an agreement, product or quantity".to_string() };
    };
    let result = match (line.action, line.addition_id) {
        (Action::Update, Some(addition_id)) => cw.set_quantity(agreement_id, addition_id, quantity),
        (Action::Add, _) => {
            let new = NewAddition {
                product_id,
                quantity,
                bill_customer: settings.bill_customer,
                effective_date: settings.effective_date,
            };
            cw.create_addition(agreement_id, &new)
        }
        _ => {
            return Outcome::Failed {
                error: format!("nothing to apply for a {} line", line.action.as_str()),
            };
        }
    };
    match result {
        Ok(a) => Outcome::Applied { addition_id: a.id },
        Err(e) => settle_lost_write(cw, agreement_id, product_id, line.addition_id, quantity, e),
    }
}

/// A write whose answer was lost (timeout, reset, cut-off body, a gateway's 5xx) may still
/// have happened. Look at the agreement again and record what ConnectWise holds: if the
/// addition has the quantity, the write was applied; otherwise it failed and the next run
/// plans it again. Never send the write twice. A 4xx is ConnectWise refusing: nothing
/// happened, so there is nothing to look up.
fn settle_lost_write(
    cw: &ConnectWise,
    agreement_id: i64,
    product_id: i64,
    addition_id: Option<i64>,
    quantity: u32,
    error: CwError,
) -> Outcome {
    let refused = matches!(&error, CwError::Permission { .. })
        || matches!(&error, CwError::Http(e) if e.status().is_some_and(|s| (400..500).contains(&s)));
    if !refused && let Ok(additions) = cw.additions(agreement_id) {
        let found = additions.iter().find(|a| {
            !a.cancelled
                && a.product_id == Some(product_id)
                && a.quantity == f64::from(quantity)
                && addition_id.is_none_or(|id| id == a.id)
        });
        if let Some(a) = found {
            return Outcome::Applied { addition_id: a.id };
        }
    }
    Outcome::Failed { error: error.to_string() }
}
