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
    match (line.action, line.addition_id) {
        (Action::Update, Some(addition_id)) => match cw.set_quantity(agreement_id, addition_id, quantity) {
            Ok(a) => Outcome::Applied { addition_id: a.id },
            Err(e) => Outcome::Failed { error: e.to_string() },
        },
        (Action::Add, _) => {
            let new = NewAddition {
                product_id,
                quantity,
                bill_customer: settings.bill_customer,
                effective_date: settings.effective_date,
            };
            match cw.create_addition(agreement_id, &new) {
                Ok(a) => Outcome::Applied { addition_id: a.id },
                Err(e) => resolve_lost_create(cw, agreement_id, product_id, quantity, e),
            }
        }
        _ => Outcome::Failed { error: format!("nothing to apply for a {} line", line.action.as_str()) },
    }
}

/// A create whose answer was lost may still have happened. Look at the agreement again:
/// if the addition is there, it was applied; otherwise it failed and the next run will
/// plan it again. Never POST twice.
fn resolve_lost_create(
    cw: &ConnectWise,
    agreement_id: i64,
    product_id: i64,
    quantity: u32,
    error: CwError,
) -> Outcome {
    let answered = matches!(&error, CwError::Http(e) if e.status().is_some())
        || matches!(error, CwError::Permission { .. });
    if !answered && let Ok(additions) = cw.additions(agreement_id) {
        let found = additions
            .iter()
            .find(|a| !a.cancelled && a.product_id == Some(product_id) && a.quantity == f64::from(quantity));
        if let Some(a) = found {
            return Outcome::Applied { addition_id: a.id };
        }
    }
    Outcome::Failed { error: error.to_string() }
}
