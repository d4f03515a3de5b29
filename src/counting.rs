//! The count rules MSPs bill by: how a vendor's count becomes the quantity of the line a
//! service mapping feeds. Each rule is pure, and the plan's note says how its number was
//! made (`explain`).
//!
//! - by class: a mapping with a `ClassRule` bills only the device classes it names, so one
//!   RMM count splits into workstations, servers and network devices;
//! - one count, several products: a service may be mapped to more than one product, each
//!   mapping billing its own share (all of it, or its classes);
//! - a bundle: every mapping that feeds one product adds up on its line;
//! - included units: the line bills what is over the plan's included quantity, after the
//!   bundle is summed; then the minimum.

use crate::model::{ClassRule, CountNote, Usage};
use std::collections::BTreeMap;

/// What one usage row gives one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub quantity: u32,
    /// The classes it is made of (only those the rule names), empty when the vendor gives none.
    pub classes: BTreeMap<String, u32>,
    /// What the vendor's rule counted or left out of those classes: `3 offline counted`.
    pub notes: Vec<String>,
}

/// The share of `usage` a mapping bills: all of it, or with a class rule only the classes
/// it names. `None` when a rule asks for classes the vendor did not give for this row: that
/// share is unknown, never 0 and never the whole count.
pub fn count(usage: &Usage, rule: Option<&ClassRule>) -> Option<Counted> {
    let Some(rule) = rule else {
        let notes = sum_notes(usage.notes.iter());
        return Some(Counted { quantity: usage.quantity, classes: usage.classes.clone(), notes });
    };
    if usage.classes.is_empty() && usage.quantity > 0 {
        return None;
    }
    let classes: BTreeMap<String, u32> =
        usage.classes.iter().filter(|(class, _)| rule.matches(class)).map(|(c, n)| (c.clone(), *n)).collect();
    let quantity = classes.values().fold(0u32, |sum, n| sum.saturating_add(*n));
    let notes = sum_notes(usage.notes.iter().filter(|n| rule.matches(&n.class)));
    Some(Counted { quantity, classes, notes })
}

/// `3 offline counted` for every kind of note, its classes summed, in the vendor's order.
fn sum_notes<'a>(notes: impl Iterator<Item = &'a CountNote>) -> Vec<String> {
    let mut sums: Vec<(&str, u32)> = Vec::new();
    for n in notes {
        match sums.iter_mut().find(|(what, _)| *what == n.what) {
            Some((_, sum)) => *sum = sum.saturating_add(n.count),
            None => sums.push((&n.what, n.count)),
        }
    }
    sums.into_iter().filter(|(_, n)| *n > 0).map(|(what, n)| format!("{n} {what}")).collect()
}

/// What a line bills of `total` (every mapping feeding it, summed): what is over the
/// `included` units, then at least `minimum`.
pub fn billed(total: u32, included: Option<u32>, minimum: Option<u32>) -> u32 {
    let over = total.saturating_sub(included.unwrap_or(0));
    over.max(minimum.unwrap_or(0))
}

/// One part of a line's sum, as `explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub service_key: &'a str,
    pub quantity: u32,
    pub classes: &'a BTreeMap<String, u32>,
    pub notes: &'a [String],
}

/// How a line's number was made, when a rule made it (classes, a bundle, included units,
/// something the vendor's rule left out): `52 = 40 WINDOWS_WORKSTATION + 12 MAC; 3 offline
/// counted; 2 unapproved left out`. `None` for a plain count of one service.
pub fn explain(parts: &[Part], included: Option<u32>) -> Option<String> {
    let total = parts.iter().fold(0u32, |sum, p| sum.saturating_add(p.quantity));
    // The terms of the sum: each class of each part, else the part by its service.
    let mut terms: Vec<(String, u32)> = Vec::new();
    let services: std::collections::BTreeSet<&str> = parts.iter().map(|p| p.service_key).collect();
    for p in parts {
        if p.classes.is_empty() {
            push_term(&mut terms, p.service_key.to_string(), p.quantity);
        } else {
            for (class, n) in p.classes {
                push_term(&mut terms, class.clone(), *n);
            }
        }
    }
    // Largest first, as a person reads a fleet.
    terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut notes: Vec<String> = Vec::new();
    for n in parts.iter().flat_map(|p| p.notes.iter()) {
        if !notes.contains(n) {
            notes.push(n.clone());
        }
    }
    let rule_made_it = terms.len() > 1 || services.len() > 1 || parts.iter().any(|p| !p.classes.is_empty());
    if !rule_made_it && notes.is_empty() && included.is_none() {
        return None;
    }
    let mut out = Vec::new();
    if rule_made_it {
        let sum: Vec<String> = terms.iter().map(|(name, n)| format!("{n} {name}")).collect();
        out.push(format!("{total} = {}", sum.join(" + ")));
    }
    out.extend(notes);
    if let Some(included) = included {
        out.push(format!("{} over the {included} included", total.saturating_sub(included)));
    }
    Some(out.join("; "))
}

/// Adds to the term of that name, else a new term (one class in two accounts is one term).
fn push_term(terms: &mut Vec<(String, u32)>, name: String, quantity: u32) {
    match terms.iter_mut().find(|(n, _)| *n == name) {
        Some((_, sum)) => *sum = sum.saturating_add(quantity),
        None => terms.push((name, quantity)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(quantity: u32, classes: &[(&str, u32)]) -> Usage {
        Usage {
            account_id: "a".into(),
            service_key: "devices".into(),
            quantity,
            classes: classes.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            notes: Vec::new(),
        }
    }

    fn note(class: &str, count: u32, what: &str) -> CountNote {
        CountNote { class: class.into(), count, what: what.into() }
    }

    fn rule(classes: &[&str]) -> ClassRule {
        ClassRule { name: "r".into(), classes: classes.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn a_class_rule_bills_only_its_classes_and_unknown_classes_are_never_zero() {
        let fleet =
            usage(56, &[("WINDOWS_WORKSTATION", 40), ("MAC", 12), ("WINDOWS_SERVER", 2), ("NMS_SWITCH", 2)]);
        let cases: [(Option<ClassRule>, Option<u32>); 6] = [
            (None, Some(56)),
            (Some(rule(&["WINDOWS_WORKSTATION", "MAC", "LINUX_WORKSTATION"])), Some(52)),
            (Some(rule(&["WINDOWS_SERVER", "LINUX_SERVER"])), Some(2)),
            (Some(rule(&["NMS_*"])), Some(2)),
            (Some(rule(&["ANDROID"])), Some(0)),
            (Some(rule(&["NMS"])), Some(0)),
        ];
        for (r, want) in cases {
            assert_eq!(count(&fleet, r.as_ref()).map(|c| c.quantity), want, "{r:?}");
        }
        let servers = count(&fleet, Some(&rule(&["WINDOWS_SERVER"]))).unwrap();
        assert_eq!(servers.classes, BTreeMap::from([("WINDOWS_SERVER".to_string(), 2)]));
        // A count without classes cannot be split: unknown, not 0 and not all of it.
        assert_eq!(count(&usage(9, &[]), Some(&rule(&["MAC"]))), None);
        // What the vendor's rule counted or left out shows only for the classes billed.
        let mut noted = fleet.clone();
        noted.notes = vec![
            note("WINDOWS_WORKSTATION", 3, "offline counted"),
            note("WINDOWS_SERVER", 1, "offline counted"),
            note("WINDOWS_WORKSTATION", 2, "unapproved left out"),
            note("APPLE_IOS", 1, "mobile left out"),
        ];
        let notes = |r: Option<ClassRule>| count(&noted, r.as_ref()).unwrap().notes;
        assert_eq!(notes(None), ["4 offline counted", "2 unapproved left out", "1 mobile left out"]);
        assert_eq!(
            notes(Some(rule(&["WINDOWS_WORKSTATION", "MAC"]))),
            ["3 offline counted", "2 unapproved left out"]
        );
        assert_eq!(notes(Some(rule(&["WINDOWS_SERVER"]))), ["1 offline counted"]);
        assert!(notes(Some(rule(&["MAC"]))).is_empty());
        // Zero devices split into zero of each class.
        assert_eq!(count(&usage(0, &[]), Some(&rule(&["MAC"]))).map(|c| c.quantity), Some(0));
    }

    #[test]
    fn included_units_come_off_the_summed_line_then_the_minimum_applies() {
        let cases = [
            // (total, included, minimum, billed)
            (52, None, None, 52),
            (52, Some(10), None, 42),
            (8, Some(10), None, 0),
            (8, Some(10), Some(1), 1),
            (52, Some(10), Some(45), 45),
            (52, None, Some(5), 52),
            (0, Some(0), None, 0),
        ];
        for (total, included, minimum, want) in cases {
            assert_eq!(billed(total, included, minimum), want, "{total} {included:?} {minimum:?}");
        }
    }

    #[test]
    fn the_note_says_how_each_number_was_made() {
        let none = BTreeMap::new();
        let ws = BTreeMap::from([("WINDOWS_WORKSTATION".to_string(), 40), ("MAC".to_string(), 12)]);
        let laptops = BTreeMap::from([("LAPTOP".to_string(), 5)]);
        let left_out = ["3 offline counted".to_string(), "2 unapproved left out".to_string()];
        let part = |service_key, quantity, classes, notes| Part { service_key, quantity, classes, notes };
        let cases: Vec<(Vec<Part>, Option<u32>, Option<&str>)> = vec![
            // A plain count says nothing.
            (vec![part("vms", 43, &none, &[])], None, None),
            // Classes, with what the vendor's rule counted and left out.
            (
                vec![part("devices", 52, &ws, &left_out)],
                None,
                Some("52 = 40 WINDOWS_WORKSTATION + 12 MAC; 3 offline counted; 2 unapproved left out"),
            ),
            // A bundle of two services, then its included units.
            (
                vec![part("workstations", 20, &none, &[]), part("laptops", 12, &none, &[])],
                Some(10),
                Some("32 = 20 workstations + 12 laptops; 22 over the 10 included"),
            ),
            // Included units on a plain count.
            (vec![part("vms", 8, &none, &[])], Some(10), Some("0 over the 10 included")),
            // One class from two accounts of one company is one term.
            (
                vec![part("devices", 52, &ws, &[]), part("devices", 5, &laptops, &[])],
                None,
                Some("57 = 40 WINDOWS_WORKSTATION + 12 MAC + 5 LAPTOP"),
            ),
        ];
        for (parts, included, want) in cases {
            assert_eq!(explain(&parts, included).as_deref(), want, "{parts:?}");
        }
    }
}
