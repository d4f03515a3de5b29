//! Held changes as people read them (`recon review`): id, line, quantities, and why held.

use super::wording;
use crate::plan::format_quantity;
use crate::store::ChangeRecord;
use tabled::Tabled;

#[derive(Tabled)]
pub struct HeldRow {
    id: i64,
    company: String,
    agreement: String,
    product: String,
    #[tabled(rename = "psa qty")]
    before: String,
    #[tabled(rename = "vendor qty")]
    after: String,
    change: String,
    #[tabled(rename = "why held")]
    reason: String,
}

pub fn held_row(c: &ChangeRecord, w: wording::Wording) -> HeldRow {
    let line = &c.line;
    HeldRow {
        id: c.id,
        company: line.company.clone(),
        agreement: line.agreement.clone().unwrap_or_else(|| "-".into()),
        product: line.product.clone().unwrap_or_else(|| "-".into()),
        before: format_quantity(line.before),
        after: line.after.map_or_else(|| "-".into(), |q| q.to_string()),
        change: line.delta().map(wording::signed_quantity).unwrap_or_default(),
        reason: {
            let why = wording::line_reason(w, line);
            match &c.error {
                Some(note) => format!("{why}; {note}"),
                None => why,
            }
        },
    }
}
