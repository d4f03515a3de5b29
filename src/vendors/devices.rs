//! What the device vendors (RMMs, EDRs) share: a tally of one account's devices by class,
//! with what its billing rule counted though notable or left out, into one usage row.

use crate::model::CountNote;
use serde_json::Value;
use std::collections::BTreeMap;

/// One account's devices as a vendor's billing rule counts them.
pub(crate) struct Tally {
    /// Billable devices by class.
    pub classes: BTreeMap<String, u32>,
    /// What the rule can say of a device (`offline counted`, `mobile left out`), in the
    /// order the plan's note reads them.
    kinds: &'static [&'static str],
    /// (kind, class) -> devices.
    noted: BTreeMap<(usize, String), u32>,
}

impl Tally {
    pub fn new(kinds: &'static [&'static str]) -> Tally {
        Tally { classes: BTreeMap::new(), kinds, noted: BTreeMap::new() }
    }

    /// A billable device of `class`; `noted`: a kind it is counted as (`offline counted`).
    pub fn bill(&mut self, class: &str, noted: Option<usize>) {
        *self.classes.entry(class.to_string()).or_default() += 1;
        if let Some(kind) = noted {
            self.note(kind, class);
        }
    }

    /// A device of `class` the rule leaves out, as `kind`.
    pub fn leave_out(&mut self, kind: usize, class: &str) {
        self.note(kind, class);
    }

    fn note(&mut self, kind: usize, class: &str) {
        *self.noted.entry((kind, class.to_string())).or_default() += 1;
    }

    pub fn notes(&self) -> Vec<CountNote> {
        self.noted
            .iter()
            .map(|((kind, class), count)| CountNote {
                class: class.clone(),
                count: *count,
                what: self.kinds[*kind].to_string(),
            })
            .collect()
    }
}

/// An id as text: device vendors send numbers (NinjaOne, SentinelOne) or strings (Datto).
pub(crate) fn id_text(record: &Value, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}
