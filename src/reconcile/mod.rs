//! Plan from mappings + usage + additions (pure).
//!
//! One line per (agreement, product) that the fetched vendors report usage for, plus one line
//! per mapped account that cannot be placed. The rules (DESIGN.md, "Reconcile semantics"):
//! unknown is never zero (an account gone, a vendor down, a usage row missing: nothing is
//! written from it), and a partial sum is never pushed (a line that a vendor or account whose
//! usage this run does not know could also feed is skipped).

mod dates;
mod decisions;
pub mod pricing;
mod recheck;
mod settle;
mod undo;

pub use dates::create_date;
pub use decisions::{
    AppliedWrite, apply_decisions, baseline_moves, last_set, rejection_stands, same_proposal, superseded,
};
pub use recheck::{Conflict, Recheck, recheck};
pub use settle::{holding_addition, redated};
pub use undo::reverse;

use crate::counting;
use crate::model::{
    AccountMapping, AccountProblem, BillCustomer, BillingLine, BillingTerms, CatalogProduct, ProblemKind,
    QuantityWrites, ServiceMapping, Standing, Subscription, UnitSpan, Usage, VendorAccount, VendorSnapshot,
    span_at,
};
use crate::money;
use crate::period::Period;
use crate::plan::Hold;
use crate::plan::{Action, DateRule, LineMoney, Plan, PlanLine, Reason, Source, Unknown};
use crate::policy::{Decision, SyncPolicy};
use foldhash::{HashMap as FastMap, HashMapExt};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Everything one reconcile looks at.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileInput<'a> {
    pub period: Period,
    /// Every vendor's account mappings (not only the fetched vendors').
    pub account_mappings: &'a [AccountMapping],
    /// Every vendor's service mappings.
    pub service_mappings: &'a [ServiceMapping],
    /// Vendor name -> what it reported in this run; only vendors fetched successfully.
    pub snapshots: &'a BTreeMap<String, VendorSnapshot>,
    /// Agreement id -> every addition of that agreement, cancelled ones included. An agreement
    /// missing here was not read: its lines are skipped, never planned as new additions.
    pub additions: &'a BTreeMap<i64, Vec<BillingLine>>,
    pub policy: &'a SyncPolicy,
    /// How an addition recon creates is billed.
    pub bill_customer: BillCustomer,
    /// Agreement id -> how it bills now; an add on an agreement missing here is skipped.
    pub terms: &'a BTreeMap<i64, BillingTerms>,
    /// Product id -> its catalog item (price and cost of a new addition).
    pub catalog: &'a BTreeMap<i64, CatalogProduct>,
    /// Addition id -> (run, quantity) recon last set it to: a different quantity now was
    /// changed outside recon.
    pub last_set: &'a BTreeMap<i64, (i64, Decimal)>,
    /// How the PSA changes a quantity: in place, by a dated delta (every change dated, and
    /// compared with the units in force on that date), or by re-posting the container.
    pub writes: QuantityWrites,
    /// The PSA's name, for the words of a reason.
    pub psa_name: &'static str,
    /// Its word for what holds a customer's lines ("agreement", "contract"), for a reason
    /// that names one.
    pub container: &'static str,
}

/// The agreements whose additions a run over `vendors` needs (sorted, unique): those of mapped
/// accounts of these vendors, when the vendor has at least one mapped service.
pub fn agreements_to_read(
    account_mappings: &[AccountMapping],
    service_mappings: &[ServiceMapping],
    vendors: &BTreeSet<String>,
) -> Vec<i64> {
    let with_services: BTreeSet<&str> =
        service_mappings.iter().map(|s| s.vendor.as_str()).filter(|v| vendors.contains(*v)).collect();
    let ids: BTreeSet<i64> = account_mappings
        .iter()
        .filter(|m| with_services.contains(m.vendor.as_str()))
        .filter_map(|m| m.agreement_id)
        .collect();
    ids.into_iter().collect()
}

/// What one fetched vendor reported, indexed by account id.
struct VendorView<'a> {
    accounts: FastMap<&'a str, &'a VendorAccount>,
    /// (account, service) -> the subscriptions that add up to its usage (distributors).
    parts: FastMap<(&'a str, &'a str), Vec<&'a Subscription>>,
    usage: FastMap<&'a str, Vec<&'a Usage>>,
    problems: FastMap<&'a str, Vec<&'a AccountProblem>>,
    /// How many accounts the vendor listed, conflicting ids included.
    listed: usize,
}

impl<'a> VendorView<'a> {
    fn new(snapshot: &'a VendorSnapshot) -> VendorView<'a> {
        let mut accounts = FastMap::with_capacity(snapshot.accounts.len());
        for account in &snapshot.accounts {
            accounts.entry(account.id.as_str()).or_insert(account);
        }
        let mut usage: FastMap<&str, Vec<&Usage>> = FastMap::with_capacity(snapshot.accounts.len());
        for row in &snapshot.usage {
            usage.entry(row.account_id.as_str()).or_default().push(row);
        }
        let mut problems: FastMap<&str, Vec<&AccountProblem>> = FastMap::new();
        for problem in &snapshot.problems {
            problems.entry(problem.account_id.as_str()).or_default().push(problem);
        }
        let mut parts: FastMap<(&str, &str), Vec<&Subscription>> = FastMap::new();
        for p in &snapshot.subscriptions {
            parts.entry((p.account_id.as_str(), p.service_key.as_str())).or_default().push(p);
        }
        VendorView { accounts, parts, usage, problems, listed: snapshot.listed_accounts() }
    }
}

/// A vendor (or one account of it) whose usage this run does not know, on one agreement: any
/// line of that agreement for a product the vendor has a mapped service for is skipped.
struct Gap<'a> {
    vendor: &'a str,
    agreement_id: i64,
    unknown: Unknown,
}

/// The usage gathered for one (agreement, product).
struct Key<'a> {
    /// The first mapping (by vendor, account id) that feeds the key: names come from it.
    mapping: &'a AccountMapping,
    sources: Vec<Source>,
    /// `None` once the sum no longer fits a u32.
    total: Option<u32>,
    /// Why a share of the sum is unknown (a count the vendor left out): the line is skipped.
    unknown: Vec<Unknown>,
    /// The largest minimum of the service mappings that feed it.
    minimum: Option<u32>,
    /// The bill setting of the first service mapping that feeds it and has one.
    bill: Option<BillCustomer>,
    /// The largest included quantity of the service mappings that feed it.
    included: Option<u32>,
}

/// Build the plan of one run. Pure and deterministic: the same input gives the same `Plan`,
/// whatever the order of the slices and vectors in it.
///
/// Beyond DESIGN.md: a line that a vendor which returned no accounts, or a mapped account its
/// vendor no longer lists, could also feed is skipped like one a not-fetched vendor could feed
/// (their share is unknown, so the sum would be partial); and a line of an agreement missing
/// from `input.additions` is skipped rather than planned as an add that could duplicate one.
pub fn reconcile(input: &ReconcileInput) -> Plan {
    let index = Index::new(input);
    // Mappings in a fixed order; a pair listed twice counts once (the first wins).
    let mut accounts: Vec<(&str, &str, &AccountMapping)> =
        input.account_mappings.iter().map(|m| (m.vendor.as_str(), m.account_id.as_str(), m)).collect();
    accounts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1))); // stable: the first listed stays first
    accounts.dedup_by(|later, first| (later.0, later.1) == (first.0, first.1));

    let mut gathered = Gathered::default();
    for &(vendor, account_id, mapping) in &accounts {
        gather_account(&index, &mut gathered, vendor, account_id, mapping);
    }
    let Gathered { mut lines, mut warnings, gaps, keys } = gathered;
    for (at, key) in keys {
        lines.extend(plan_key(input, &index, &gaps, at, key));
    }
    let lines = sorted(lines);
    warnings.sort();
    warnings.dedup();
    Plan { period: input.period, lines, warnings }
}

/// What every stage of one plan reads: the service mappings by service, the products each
/// vendor feeds and the identifiers each product is known by, each vendor's policy and view.
struct Index<'a> {
    /// Each service's mappings: one per product it feeds (one count may bill several).
    services: BTreeMap<(&'a str, &'a str), Vec<&'a ServiceMapping>>,
    vendor_products: BTreeMap<&'a str, BTreeSet<i64>>,
    identifiers: BTreeMap<i64, BTreeSet<&'a str>>,
    /// Each vendor's own policy (`[sync.vendors.NAME]` over `[sync]`), built once per plan.
    policies: BTreeMap<&'a str, SyncPolicy>,
    views: BTreeMap<&'a str, VendorView<'a>>,
}

impl<'a> Index<'a> {
    fn new(input: &'a ReconcileInput) -> Index<'a> {
        let mut services: BTreeMap<(&str, &str), Vec<&ServiceMapping>> = BTreeMap::new();
        for s in input.service_mappings {
            let feeds = services.entry((s.vendor.as_str(), s.service_key.as_str())).or_default();
            if !feeds.iter().any(|f| f.product_id == s.product_id) {
                feeds.push(s);
            }
        }
        let mut vendor_products: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
        let mut identifiers: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for s in services.values().flatten() {
            vendor_products.entry(s.vendor.as_str()).or_default().insert(s.product_id);
            identifiers.entry(s.product_id).or_default().insert(s.product_identifier.as_str());
        }
        let policies = input.snapshots.keys().map(|v| (v.as_str(), input.policy.for_vendor(v))).collect();
        let views =
            input.snapshots.iter().map(|(vendor, snap)| (vendor.as_str(), VendorView::new(snap))).collect();
        Index { services, vendor_products, identifiers, policies, views }
    }
}

/// What the mapped accounts gave: the lines of accounts that could not be placed, the
/// warnings, the gaps their vendors leave, and the usage gathered per (agreement, product).
#[derive(Default)]
struct Gathered<'a> {
    lines: Vec<PlanLine>,
    warnings: Vec<Reason>,
    gaps: Vec<Gap<'a>>,
    keys: BTreeMap<(i64, i64), Key<'a>>,
}

impl<'a> Gathered<'a> {
    /// A mapped account skipped whole: its line, the warning, and the gap it leaves.
    fn skip(&mut self, mapping: &'a AccountMapping, vendor: &'a str, reason: Reason, unknown: Unknown) {
        self.lines.push(account_line(mapping, reason.clone(), Vec::new()));
        self.warnings.push(reason);
        self.gap(mapping, vendor, unknown);
    }

    /// The agreement the account is mapped to, if any, gets a line it could feed skipped.
    fn gap(&mut self, mapping: &'a AccountMapping, vendor: &'a str, unknown: Unknown) {
        if let Some(agreement_id) = mapping.agreement_id {
            self.gaps.push(Gap { vendor, agreement_id, unknown });
        }
    }
}

/// The vendor's view and record of one mapped account, when this run knows both; else the
/// account is skipped (its vendor not fetched, empty or with nothing mapped; the account
/// failed, ambiguous or gone) and `None`.
fn known_account<'a>(
    index: &'a Index<'a>,
    g: &mut Gathered<'a>,
    vendor: &'a str,
    account_id: &'a str,
    mapping: &'a AccountMapping,
) -> Option<(&'a VendorView<'a>, &'a VendorAccount)> {
    let vendor_name = || vendor.to_string();
    let Some(view) = index.views.get(vendor) else {
        g.gap(mapping, vendor, Unknown::VendorNotFetched { vendor: vendor_name() });
        return None;
    };
    // A vendor with no service mapped feeds no line: said once, not once per account.
    if !index.vendor_products.contains_key(vendor) {
        let reason = Reason::NoServiceMapped { vendor: vendor_name() };
        if !g.warnings.contains(&reason) {
            g.warnings.push(reason);
        }
        return None;
    }
    if view.listed == 0 {
        let unknown = Unknown::VendorEmpty { vendor: vendor_name() };
        g.skip(mapping, vendor, Reason::VendorEmpty { vendor: vendor_name() }, unknown);
        return None;
    }
    // An account that failed, or an id shared by records that differ: nothing of it is
    // known, so it is skipped whole, like an account gone.
    let problems = view.problems.get(account_id).map(Vec::as_slice).unwrap_or(&[]);
    if let Some(problem) = problems.iter().find(|p| p.kind.is_failure()) {
        let unknown = match problem.kind {
            ProblemKind::Ambiguous { .. } => {
                Unknown::IdConflict { vendor: vendor_name(), account_id: account_id.to_string() }
            }
            _ => Unknown::AccountFailed { vendor: vendor_name(), account_name: mapping.account_name.clone() },
        };
        let reason = Reason::AccountFailed { vendor: vendor_name(), problem: (*problem).clone() };
        g.skip(mapping, vendor, reason, unknown);
        return None;
    }
    let Some(&account) = view.accounts.get(account_id) else {
        let reason = Reason::AccountGone {
            vendor: vendor_name(),
            account_id: account_id.to_string(),
            account_name: mapping.account_name.clone(),
        };
        let unknown =
            Unknown::AccountGone { vendor: vendor_name(), account_name: mapping.account_name.clone() };
        g.skip(mapping, vendor, reason, unknown);
        return None;
    };
    Some((view, account))
}

/// One mapped account's usage: skipped when its vendor or the account itself is not known
/// this run (`known_account`), else its share of each (agreement, product) it feeds.
fn gather_account<'a>(
    index: &'a Index<'a>,
    g: &mut Gathered<'a>,
    vendor: &'a str,
    account_id: &'a str,
    mapping: &'a AccountMapping,
) {
    let Some((view, account)) = known_account(index, g, vendor, account_id, mapping) else {
        return;
    };
    let problems = view.problems.get(account_id).map(Vec::as_slice).unwrap_or(&[]);

    // The account's usage of mapped services: for each product a row feeds, the share
    // its mapping counts (`counting`); a share the rule cannot tell is unknown.
    let mut fed: Vec<(&ServiceMapping, Source)> = Vec::new();
    let mut unsplit: Vec<(&ServiceMapping, &str)> = Vec::new();
    for row in view.usage.get(account_id).into_iter().flatten() {
        for &service in index.services.get(&(vendor, row.service_key.as_str())).into_iter().flatten() {
            let Some(counted) = counting::count(row, service.classes.as_ref()) else {
                unsplit.push((service, row.service_key.as_str()));
                continue;
            };
            let source = Source {
                vendor: vendor.to_string(),
                account_id: account.id.clone(),
                account_name: account.name.clone(),
                service_key: row.service_key.clone(),
                quantity: counted.quantity,
                parts: view
                    .parts
                    .get(&(account_id, row.service_key.as_str()))
                    .map(|p| p.iter().map(|s| (*s).clone()).collect())
                    .unwrap_or_default(),
                classes: counted.classes,
                notes: counted.notes,
            };
            fed.push((service, source));
        }
    }
    fed.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.product_id.cmp(&b.0.product_id)));

    let Some(agreement_id) = mapping.agreement_id else {
        let reason = Reason::NoAgreement {
            vendor: vendor.to_string(),
            account_id: account_id.to_string(),
            company_id: mapping.company_id,
            company: mapping.company_name.clone(),
        };
        g.lines.push(account_line(mapping, reason, fed.into_iter().map(|(_, s)| s).collect()));
        return;
    };
    for (service, source) in fed {
        let key = g.keys.entry((agreement_id, service.product_id)).or_insert_with(|| Key::new(mapping));
        key.total = key.total.and_then(|t| t.checked_add(source.quantity));
        key.minimum = key.minimum.max(service.minimum);
        key.included = key.included.max(service.included);
        key.bill = key.bill.or(service.bill_customer);
        key.sources.push(source);
    }
    // A count the vendor left out, or one a class rule cannot split: that line is
    // skipped, never summed as 0.
    let missing = problems.iter().filter_map(|p| match &p.kind {
        ProblemKind::MissingCount { service_key, field } => Some((service_key.as_str(), field.clone())),
        _ => None,
    });
    let missing: Vec<(&ServiceMapping, String)> = missing
        .flat_map(|(service_key, field)| {
            let feeds = index.services.get(&(vendor, service_key)).into_iter().flatten();
            feeds.map(move |s| (*s, field.clone()))
        })
        .chain(unsplit.into_iter().map(|(s, key)| (s, format!("{key} (by device class)"))))
        .collect();
    for (service, field) in missing {
        let unknown = Unknown::CountMissing {
            vendor: vendor.to_string(),
            account_id: account_id.to_string(),
            account_name: account.name.clone(),
            field,
        };
        g.warnings.push(Reason::UsageUnknown { unknown: vec![unknown.clone()], partial: false });
        let key = g.keys.entry((agreement_id, service.product_id)).or_insert_with(|| Key::new(mapping));
        key.unknown.push(unknown);
    }
}

/// The plan line of one (agreement, product) from the usage gathered for it, against what
/// the PSA holds: skipped (and why), unchanged, an add, an update or held; with the cost
/// change that rides beside it, if any.
fn plan_key(
    input: &ReconcileInput,
    index: &Index,
    gaps: &[Gap],
    (agreement_id, product_id): (i64, i64),
    mut key: Key,
) -> Vec<PlanLine> {
    key.sources.sort();
    let product = index
        .identifiers
        .get(&product_id)
        .and_then(|names| names.iter().next())
        .map_or_else(|| product_id.to_string(), |name| name.to_string());
    let mut line = blank_line(key.mapping);
    line.agreement_id = Some(agreement_id);
    line.product_id = Some(product_id);
    line.product = Some(product);
    line.sources = std::mem::take(&mut key.sources);

    let mut unknown: Vec<Unknown> = gaps
        .iter()
        .filter(|g| g.agreement_id == agreement_id)
        .filter(|g| index.vendor_products.get(g.vendor).is_some_and(|p| p.contains(&product_id)))
        .map(|g| g.unknown.clone())
        .chain(key.unknown.iter().cloned())
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        line.reason = Some(Reason::UsageUnknown { unknown, partial: !line.sources.is_empty() });
        return vec![line];
    }
    let Some(total) = key.total else {
        line.reason = Some(Reason::TooLarge);
        return vec![line];
    };
    // What is over the plan's included units, then never fewer than the minimum.
    let quantity = counting::billed(total, key.included, key.minimum);
    line.included = key.included;
    if key.minimum.is_some_and(|m| m == quantity && m > counting::billed(total, key.included, None)) {
        line.minimum = key.minimum;
    }
    line.after = Some(quantity);
    let Some(all_additions) = input.additions.get(&agreement_id) else {
        line.reason =
            Some(Reason::AdditionsNotRead { agreement: agreement_label(input, key.mapping, agreement_id) });
        return vec![line];
    };
    let of_product = of_product(all_additions, product_id, index.identifiers.get(&product_id));
    against_additions(input, &key, &mut line, &of_product, quantity);

    // What follows reads a line that writes or has money; one skipped above has neither.
    if let Some(money) = &line.money {
        let cost = pricing::vendor_cost(&line.sources);
        line.findings = pricing::findings(cost, money.unit_price, money.unit_cost, &input.policy.costs);
    }
    if line.action.writes()
        && let Some(hold) = hold(input, &index.policies, &index.services, &line, quantity)
    {
        line.action = Action::Held;
        line.reason = Some(Reason::Held { hold });
    }
    // A PSA that changes a line only by dated deltas (Autotask) has no cost to set in place.
    let cost = (input.writes != QuantityWrites::DatedDelta)
        .then(|| pricing::cost_change(&line, &input.policy.costs))
        .flatten();
    let mut out = vec![line];
    out.extend(cost);
    out
}

/// The agreement's additions for one product, by id: by product id, or for an addition
/// without one, by any identifier the product is mapped as (trimmed, any case).
fn of_product<'a>(
    additions: &'a [BillingLine],
    product_id: i64,
    names: Option<&BTreeSet<&str>>,
) -> Vec<&'a BillingLine> {
    let mut of_product: Vec<&BillingLine> = additions
        .iter()
        .filter(|a| match (a.product_id, &a.product_identifier) {
            (Some(id), _) => id == product_id,
            (None, Some(ident)) => {
                let ident = ident.trim().to_lowercase();
                names.is_some_and(|n| n.iter().any(|name| name.trim().to_lowercase() == ident))
            }
            (None, None) => false,
        })
        .collect();
    of_product.sort_by_key(|a| a.id);
    of_product
}

/// How the agreement's name reads in a reason: by its name, else its id.
fn agreement_label(input: &ReconcileInput, mapping: &AccountMapping, agreement_id: i64) -> String {
    match &mapping.agreement_name {
        Some(name) => format!("{} '{name}'", input.container),
        None => format!("{} {agreement_id}", input.container),
    }
}

/// Set what the line does to the product's additions in force this period: none (add one,
/// or nothing to bill, or wait for a scheduled one), one (update it, or leave a line the
/// PSA computes), or several (skipped: which one is meant is not known).
fn against_additions(
    input: &ReconcileInput,
    key: &Key,
    line: &mut PlanLine,
    of_product: &[&BillingLine],
    quantity: u32,
) {
    let agreement_id = line.agreement_id.unwrap_or_default();
    let product_id = line.product_id.unwrap_or_default();
    let product = line.product.clone().unwrap_or_default();
    let in_force: Vec<&BillingLine> =
        of_product.iter().copied().filter(|a| a.standing(input.period) == Standing::InForce).collect();
    let scheduled: Vec<(i64, chrono::NaiveDate)> = of_product
        .iter()
        .filter(|a| a.standing(input.period) == Standing::Scheduled)
        .filter_map(|a| Some((a.id, a.effective_date?)))
        .collect();
    match in_force.as_slice() {
        [] if !scheduled.is_empty() => {
            line.reason = Some(Reason::Scheduled { product, additions: scheduled });
        }
        [] if quantity == 0 => {
            line.action = Action::Unchanged;
            line.reason = Some(Reason::NothingToBill);
        }
        [] => match input.terms.get(&agreement_id) {
            None => {
                line.reason = Some(Reason::TermsNotRead {
                    agreement: agreement_label(input, key.mapping, agreement_id),
                })
            }
            Some(terms) => {
                let (date, rule) = create_date(input.period, terms);
                line.action = Action::Add;
                line.effective_date = Some(date);
                line.date_rule = rule;
                line.bill_customer = Some(key.bill.unwrap_or(input.bill_customer));
                let item = input.catalog.get(&product_id);
                let (price, cost) = (item.and_then(|c| c.price), item.and_then(|c| c.cost));
                let target = Decimal::from(quantity);
                line.money =
                    Some(line_money(Decimal::ZERO, target, Decimal::ZERO, price, cost, line.bill_customer));
            }
        },
        [one] if one.computed => {
            line.addition_id = Some(one.id);
            line.before = Some(one.quantity);
            line.reason = Some(Reason::ComputedByPsa { psa: input.psa_name.to_string() });
        }
        [one] if input.writes == QuantityWrites::DatedDelta => match input.terms.get(&agreement_id) {
            None => {
                line.reason = Some(Reason::TermsNotRead {
                    agreement: agreement_label(input, key.mapping, agreement_id),
                })
            }
            Some(terms) => dated_update(input, terms, one, line, quantity),
        },
        [one] => update_in_place(input, one, line, quantity),
        several => {
            line.reason = Some(Reason::SeveralAdditions {
                product,
                agreement: agreement_label(input, key.mapping, agreement_id),
                ids: several.iter().map(|a| a.id).collect(),
            });
        }
    }
}

/// One addition on a PSA that changes it by dated deltas (Autotask): the change takes effect
/// on a date, and what it changes is the units in force on that date, at that span's price.
fn dated_update(
    input: &ReconcileInput,
    terms: &BillingTerms,
    one: &BillingLine,
    line: &mut PlanLine,
    quantity: u32,
) {
    let (date, rule) = create_date(input.period, terms);
    line.addition_id = Some(one.id);
    let Some(span) = span_at(&one.schedule, date) else {
        line.reason = Some(Reason::NoUnitsOnDate { date });
        return;
    };
    line.before = Some(span.units);
    // A delta moves every later day too: if the units change again after the date (a dated
    // change someone made), a delta from the date would shift that change as well. Left to
    // a person, never stacked.
    let later = one.schedule.iter().filter(|s| s.start > date && s.units != span.units);
    if let Some(later) = later.min_by_key(|s| s.start) {
        line.reason = Some(Reason::ChangesLater { date: later.start, units: later.units });
        return;
    }
    let target = Decimal::from(quantity);
    line.effective_date = Some(date);
    line.date_rule = rule;
    line.action = if span.units == target { Action::Unchanged } else { Action::Update };
    line.money = Some(span_money(one, span, target));
}

/// One addition whose quantity is set in place (ConnectWise) or re-posted (HaloPSA).
fn update_in_place(input: &ReconcileInput, one: &BillingLine, line: &mut PlanLine, quantity: u32) {
    let agreement_id = line.agreement_id.unwrap_or_default();
    let target = Decimal::from(quantity);
    line.addition_id = Some(one.id);
    line.before = Some(one.quantity);
    line.cancelled_from = one.cancelled_date;
    line.action = if one.quantity == target { Action::Unchanged } else { Action::Update };
    // A re-posted quantity applies from the PSA's next invoice: say when, and what of
    // `before` is a pro-rata the PSA adds to the line then.
    let pro_rata = Some(one.pro_rata).filter(|p| !p.is_zero());
    if input.writes == QuantityWrites::Repost
        && let Some(next) = input.terms.get(&agreement_id).and_then(|t| t.next_invoice_date)
    {
        line.effective_date = Some(next);
        line.date_rule = Some(DateRule::NextInvoice { next_invoice: next, pro_rata });
    }
    if let Some(pro_rata) = pro_rata.filter(|p| *p > target)
        && line.action == Action::Update
    {
        line.action = Action::Skipped;
        line.reason = Some(Reason::ProRataAbove { psa: input.psa_name.to_string(), pro_rata });
        return;
    }
    line.money = Some(line_money(
        one.quantity,
        target,
        one.less_included,
        one.unit_price,
        one.unit_cost,
        one.bill_customer,
    ));
}

/// The lines in the order people read them: by company, agreement and product.
fn sorted(lines: Vec<PlanLine>) -> Vec<PlanLine> {
    // Sort positions, not lines: a line is a few hundred bytes and a sort moves its elements
    // many times. Each company name is lowercased once, not in every comparison.
    let names: Vec<String> = lines.iter().map(|l| l.company.to_lowercase()).collect();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    // Unstable is deterministic here: the comparison is total (it ends on the sources).
    order.sort_unstable_by(|&x, &y| {
        let (a, b) = (&lines[x], &lines[y]);
        names[x]
            .cmp(&names[y])
            .then_with(|| a.company_id.cmp(&b.company_id))
            .then_with(|| a.agreement_id.cmp(&b.agreement_id))
            .then_with(|| a.product.cmp(&b.product))
            .then_with(|| a.action.cmp(&b.action))
            .then_with(|| a.company.cmp(&b.company))
            .then_with(|| a.product_id.cmp(&b.product_id))
            .then_with(|| a.reason.cmp(&b.reason))
            .then_with(|| a.sources.cmp(&b.sources))
    });
    let mut slots: Vec<Option<PlanLine>> = lines.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Why a writing line is held, if it is: an addition changed outside recon since recon set
/// it (`outside_changes`), then the policy of each vendor that feeds the line (its
/// `[sync.vendors.NAME]` over `[sync]`); the first reason found holds it.
fn hold(
    input: &ReconcileInput,
    policies: &BTreeMap<&str, SyncPolicy>,
    services: &BTreeMap<(&str, &str), Vec<&ServiceMapping>>,
    line: &PlanLine,
    quantity: u32,
) -> Option<Hold> {
    let policies: Vec<&SyncPolicy> = line.vendors().into_iter().filter_map(|v| policies.get(v)).collect();
    // A decrease of seats a distributor's commitment holds until its end: the customer owes
    // them, whatever `decreases` says, unless the service mapping lets such decreases through.
    if Decimal::from(quantity) < line.before.unwrap_or_default() {
        let ends = line
            .sources
            .iter()
            .filter(|s| {
                // The mapping of this line's product lets committed decreases through.
                !services
                    .get(&(s.vendor.as_str(), s.service_key.as_str()))
                    .into_iter()
                    .flatten()
                    .any(|m| Some(m.product_id) == line.product_id && m.committed_decreases)
            })
            .flat_map(|s| &s.parts)
            .filter(|p| p.committed_on(input.period.first_day()))
            .filter_map(|p| p.commitment_ends)
            .max();
        if let Some(ends) = ends {
            return Some(Hold::Commitment { ends });
        }
    }
    if let (Some(id), Some(now)) = (line.addition_id, line.before)
        && let Some(&(run_id, was)) = input.last_set.get(&id)
        && was != now
        && policies.iter().any(|p| p.outside_changes == Decision::Review)
    {
        return Some(Hold::OutsideChange { run_id, was, now });
    }
    let revenue = line.revenue_change();
    policies.iter().find_map(|p| p.hold(line.before, quantity, revenue))
}

/// The money of a dated change of `one` from the units of its `span` to `target`: the
/// span's own price and cost where it has them, else the line's.
fn span_money(one: &BillingLine, span: &UnitSpan, target: Decimal) -> LineMoney {
    line_money(
        span.units,
        target,
        one.less_included,
        span.price.or(one.unit_price),
        span.cost.or(one.unit_cost),
        one.bill_customer,
    )
}

/// The money of a line whose quantity goes from `before` to `after` on an addition with
/// `less_included` units included.
fn line_money(
    before: Decimal,
    after: Decimal,
    less_included: Decimal,
    price: Option<Decimal>,
    cost: Option<Decimal>,
    bill: Option<BillCustomer>,
) -> LineMoney {
    let billed_before = money::billed(before, less_included);
    let billed_after = money::billed(after, less_included);
    let change = money::change(billed_before, billed_after, price, cost, bill);
    LineMoney {
        unit_price: price,
        unit_cost: cost,
        billed_before,
        billed_after,
        revenue_change: change.map(|c| c.0),
        margin_change: change.map(|c| c.1),
    }
}

impl<'a> Key<'a> {
    fn new(mapping: &'a AccountMapping) -> Key<'a> {
        Key {
            mapping,
            sources: Vec::new(),
            total: Some(0),
            unknown: Vec::new(),
            minimum: None,
            bill: None,
            included: None,
        }
    }
}

/// A skipped line for one mapped account that could not be placed.
fn account_line(mapping: &AccountMapping, reason: Reason, mut sources: Vec<Source>) -> PlanLine {
    sources.sort();
    PlanLine { reason: Some(reason), sources, ..blank_line(mapping) }
}

/// A skipped line of the mapping's company and agreement, with nothing else set yet.
fn blank_line(mapping: &AccountMapping) -> PlanLine {
    PlanLine {
        action: Action::Skipped,
        company_id: Some(mapping.company_id),
        company: mapping.company_name.clone(),
        agreement_id: mapping.agreement_id,
        agreement: mapping.agreement_name.clone(),
        product_id: None,
        product: None,
        addition_id: None,
        before: None,
        after: None,
        reason: None,
        sources: Vec::new(),
        effective_date: None,
        date_rule: None,
        bill_customer: None,
        cancelled_from: None,
        minimum: None,
        included: None,
        money: None,
        findings: Vec::new(),
        new_unit_cost: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClassRule;
    use crate::plan::DateRule;
    use crate::plan::format_quantity;
    use crate::policy::Decision;

    const HUNTRESS: &str = "huntress";
    const NODEWARE: &str = "nodeware";

    fn amap(
        vendor: &str,
        account: &str,
        company: (i64, &str),
        agreement: Option<(i64, &str)>,
    ) -> AccountMapping {
        AccountMapping {
            vendor: vendor.to_string(),
            account_id: account.to_string(),
            account_name: format!("{account} name"),
            company_id: company.0,
            company_name: company.1.to_string(),
            agreement_id: agreement.map(|a| a.0),
            agreement_name: agreement.map(|a| a.1.to_string()),
            how: crate::model::MappedBy::Manual,
        }
    }

    fn smap(vendor: &str, service: &str, product_id: i64, identifier: &str) -> ServiceMapping {
        ServiceMapping {
            vendor: vendor.to_string(),
            service_key: service.to_string(),
            product_id,
            product_identifier: identifier.to_string(),
            minimum: None,
            bill_customer: None,
            committed_decreases: false,
            classes: None,
            included: None,
        }
    }

    fn account(id: &str, name: &str) -> VendorAccount {
        VendorAccount {
            id: id.to_string(),
            name: name.to_string(),
            status: None,
            raw: serde_json::Value::Null,
        }
    }

    fn missing(account: &str, service: &str, field: &str) -> AccountProblem {
        let name = if account == "h1" { "Acme Dental" } else { "Acme Dental (Branch)" };
        AccountProblem {
            account_id: account.into(),
            account_name: name.into(),
            kind: ProblemKind::MissingCount { service_key: service.into(), field: field.into() },
        }
    }

    fn failed(account: &str, name: &str, message: &str) -> AccountProblem {
        AccountProblem {
            account_id: account.into(),
            account_name: name.into(),
            kind: ProblemKind::Failed { message: message.into() },
        }
    }

    fn usage(account: &str, service: &str, quantity: u32) -> Usage {
        Usage {
            account_id: account.to_string(),
            service_key: service.to_string(),
            quantity,
            ..Default::default()
        }
    }

    fn addition(id: i64, product: Option<i64>, identifier: Option<&str>, quantity: f64) -> BillingLine {
        BillingLine {
            id,
            agreement_id: 10,
            product_id: product,
            product_identifier: identifier.map(str::to_string),
            quantity: Decimal::try_from(quantity).unwrap(),
            less_included: Decimal::ZERO,
            unit_price: None,
            unit_cost: None,
            bill_customer: Some(BillCustomer::Billable),
            effective_date: None,
            cancelled_date: None,
            schedule: Vec::new(),
            inactive: false,
            computed: false,
            pro_rata: Decimal::ZERO,
        }
    }

    /// An addition of agreement 10 for the other core tests; `cancelled` ends it long ago.
    pub(crate) fn addition_at(id: i64, product: i64, quantity: f64, cancelled: bool) -> BillingLine {
        let a = addition(id, Some(product), None, quantity);
        if cancelled { self::cancelled(a) } else { a }
    }

    /// A line of Acme's agreement 10 for product 100, for the other core tests.
    pub(crate) fn edr_line(
        action: Action,
        addition_id: Option<i64>,
        before: Option<f64>,
        after: u32,
    ) -> PlanLine {
        PlanLine {
            action,
            company_id: Some(1),
            company: "Acme".into(),
            agreement_id: Some(10),
            product_id: Some(100),
            product: Some("EDR".into()),
            addition_id,
            before: before.map(|b| Decimal::try_from(b).unwrap()),
            after: Some(after),
            ..empty_line()
        }
    }

    /// A line with nothing in it, for struct update syntax in tests.
    pub(crate) fn empty_line() -> PlanLine {
        PlanLine::empty()
    }

    fn day(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cancelled(mut a: BillingLine) -> BillingLine {
        a.cancelled_date = Some(day(2025, 1, 31));
        a
    }

    const ACME: (i64, &str) = (1, "Acme Dental");
    const MANAGED: Option<(i64, &str)> = Some((10, "Managed Services"));

    /// Everything a reconcile reads, owned, so each case can change one thing.
    struct World {
        account_mappings: Vec<AccountMapping>,
        service_mappings: Vec<ServiceMapping>,
        snapshots: BTreeMap<String, VendorSnapshot>,
        additions: BTreeMap<i64, Vec<BillingLine>>,
        policy: SyncPolicy,
        /// Terms of agreements not listed here are "prorates, no dates" unless this is off.
        terms: BTreeMap<i64, BillingTerms>,
        default_terms: bool,
        catalog: BTreeMap<i64, CatalogProduct>,
        last_set: BTreeMap<i64, (i64, Decimal)>,
        writes: QuantityWrites,
    }

    impl World {
        /// Huntress account h1 (Acme Dental) -> agreement 10; service edr -> HUNTRESS-EDR (100);
        /// h1 uses 5 edr; agreement 10 has no addition yet.
        fn base() -> World {
            let snapshot = VendorSnapshot {
                accounts: vec![account("h1", "Acme Dental")],
                services: Vec::new(),
                usage: vec![usage("h1", "edr", 5)],
                ..VendorSnapshot::default()
            };
            World {
                account_mappings: vec![amap(HUNTRESS, "h1", ACME, MANAGED)],
                service_mappings: vec![smap(HUNTRESS, "edr", 100, "HUNTRESS-EDR")],
                snapshots: BTreeMap::from([(HUNTRESS.to_string(), snapshot)]),
                additions: BTreeMap::from([(10, Vec::new())]),
                policy: SyncPolicy::push_everything(),
                terms: BTreeMap::new(),
                default_terms: true,
                catalog: BTreeMap::new(),
                last_set: BTreeMap::new(),
                writes: QuantityWrites::InPlace,
            }
        }

        fn snapshot(&mut self, vendor: &str) -> &mut VendorSnapshot {
            self.snapshots.entry(vendor.to_string()).or_default()
        }

        fn additions_of(&mut self, agreement: i64) -> &mut Vec<BillingLine> {
            self.additions.entry(agreement).or_default()
        }

        fn plan(&self) -> Plan {
            let mut terms = self.terms.clone();
            if self.default_terms {
                for &id in self.additions.keys() {
                    terms.entry(id).or_insert(BillingTerms {
                        container_id: id,
                        bill_start_date: None,
                        next_invoice_date: None,
                        prorate: true,
                        currency: None,
                        open_from: None,
                    });
                }
            }
            reconcile(&ReconcileInput {
                period: Period { year: 2026, month: 10 },
                account_mappings: &self.account_mappings,
                service_mappings: &self.service_mappings,
                snapshots: &self.snapshots,
                additions: &self.additions,
                policy: &self.policy,
                bill_customer: BillCustomer::Billable,
                terms: &terms,
                catalog: &self.catalog,
                last_set: &self.last_set,
                writes: self.writes,
                psa_name: "Halo",
                container: "agreement",
            })
        }
    }

    /// One line as text: `action aAGREEMENT PRODUCT #ADDITION BEFORE->AFTER (reason) <= sources`.
    fn render(line: &PlanLine) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
        let mut text = format!(
            "{} {} a{} {} #{} {}->{}",
            line.action.as_str(),
            line.company,
            opt(line.agreement_id.map(|a| a.to_string())),
            opt(line.product.clone()),
            opt(line.addition_id.map(|a| a.to_string())),
            format_quantity(line.before),
            opt(line.after.map(|a| a.to_string())),
        );
        if let Some(reason) = &line.reason {
            text.push_str(&format!(
                " ({})",
                crate::output::wording::reason(crate::output::wording::Wording::NEUTRAL, reason)
            ));
        }
        if !line.sources.is_empty() {
            let sources: Vec<String> = line
                .sources
                .iter()
                .map(|s| format!("{}/{}/{}={}", s.vendor, s.account_id, s.service_key, s.quantity))
                .collect();
            text.push_str(&format!(" <= {}", sources.join(" + ")));
        }
        text
    }

    const ADD5: &str = "add Acme Dental a10 HUNTRESS-EDR #- -->5 <= huntress/h1/edr=5";

    #[test]
    fn reconcile_table() {
        type Change = fn(&mut World);
        let cases: Vec<(&str, Change, Vec<&str>, Vec<&str>)> = vec![
            ("no addition: add", |_| {}, vec![ADD5], vec![]),
            (
                "one addition lower: update up",
                |w| w.additions_of(10).push(addition(17, Some(100), None, 3.0)),
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 3->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "one addition higher: update down",
                |w| w.additions_of(10).push(addition(17, Some(100), None, 8.0)),
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 8->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "fractional addition: update",
                |w| w.additions_of(10).push(addition(17, Some(100), None, 5.5)),
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 5.5->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "equal addition: unchanged",
                |w| w.additions_of(10).push(addition(17, Some(100), None, 5.0)),
                vec!["unchanged Acme Dental a10 HUNTRESS-EDR #17 5->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "zero and no addition: unchanged",
                |w| w.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 0)],
                vec![
                    "unchanged Acme Dental a10 HUNTRESS-EDR #- -->0 (no line and nothing to bill) \
                     <= huntress/h1/edr=0",
                ],
                vec![],
            ),
            (
                "zero with an addition: update to zero",
                |w| {
                    w.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 0)];
                    w.additions_of(10).push(addition(17, Some(100), None, 4.0));
                },
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 4->0 <= huntress/h1/edr=0"],
                vec![],
            ),
            (
                "several active additions: skipped",
                |w| {
                    w.additions_of(10).push(addition(18, Some(100), None, 2.0));
                    w.additions_of(10).push(addition(17, Some(100), None, 3.0));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->5 (2 active lines of HUNTRESS-EDR on \
                     agreement 'Managed Services' (ids 17, 18); fix it in the PSA) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "cancelled addition ignored: add",
                |w| w.additions_of(10).push(cancelled(addition(17, Some(100), None, 3.0))),
                vec![ADD5],
                vec![],
            ),
            (
                "cancelled addition ignored beside an active one",
                |w| {
                    w.additions_of(10).push(cancelled(addition(17, Some(100), None, 3.0)));
                    w.additions_of(10).push(addition(18, Some(100), None, 5.0));
                },
                vec!["unchanged Acme Dental a10 HUNTRESS-EDR #18 5->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "additions of other products ignored",
                |w| w.additions_of(10).push(addition(17, Some(999), Some("HUNTRESS-EDR"), 3.0)),
                vec![ADD5],
                vec![],
            ),
            (
                "product matched by identifier, ignoring case, when the id is missing",
                |w| w.additions_of(10).push(addition(17, None, Some("huntress-edr"), 2.0)),
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 2->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "addition without id of another identifier ignored",
                |w| w.additions_of(10).push(addition(17, None, Some("HUNTRESS-SIEM"), 2.0)),
                vec![ADD5],
                vec![],
            ),
            (
                "two services on one product add up",
                |w| {
                    w.service_mappings.push(smap(HUNTRESS, "edr-server", 100, "HUNTRESS-EDR"));
                    w.snapshot(HUNTRESS).usage.push(usage("h1", "edr-server", 3));
                },
                vec![
                    "add Acme Dental a10 HUNTRESS-EDR #- -->8 <= huntress/h1/edr=5 + huntress/h1/edr-server=3",
                ],
                vec![],
            ),
            (
                "two accounts on one agreement add up",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED));
                    w.snapshot(HUNTRESS).accounts.push(account("h2", "Acme Dental (Branch)"));
                    w.snapshot(HUNTRESS).usage.insert(0, usage("h2", "edr", 4));
                },
                vec!["add Acme Dental a10 HUNTRESS-EDR #- -->9 <= huntress/h1/edr=5 + huntress/h2/edr=4"],
                vec![],
            ),
            (
                "a missing count: its line is skipped naming the field, never 0",
                |w| {
                    w.snapshot(HUNTRESS).usage.clear();
                    w.snapshot(HUNTRESS).problems.push(missing("h1", "edr", "agents_count"));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (huntress gave no `agents_count` for account \
                     Acme Dental (h1), so its usage is unknown)",
                ],
                vec![
                    "huntress gave no `agents_count` for account Acme Dental (h1), so its usage is unknown; \
                      nothing pushed from it",
                ],
            ),
            (
                "a missing count beside an existing addition leaves it alone",
                |w| {
                    w.snapshot(HUNTRESS).usage.clear();
                    w.snapshot(HUNTRESS).problems.push(missing("h1", "edr", "agents_count"));
                    w.additions_of(10).push(addition(17, Some(100), None, 43.0));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (huntress gave no `agents_count` for account \
                     Acme Dental (h1), so its usage is unknown)",
                ],
                vec![
                    "huntress gave no `agents_count` for account Acme Dental (h1), so its usage is unknown; \
                      nothing pushed from it",
                ],
            ),
            (
                "a missing count of one of two accounts on a line: a partial sum is never pushed",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED));
                    w.snapshot(HUNTRESS).accounts.push(account("h2", "Acme Dental (Branch)"));
                    w.snapshot(HUNTRESS).problems.push(missing("h2", "edr", "agents_count"));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (huntress gave no `agents_count` for account \
                     Acme Dental (Branch) (h2), so its usage is unknown; a partial sum is never pushed) \
                     <= huntress/h1/edr=5",
                ],
                vec![
                    "huntress gave no `agents_count` for account Acme Dental (Branch) (h2), so its usage is \
                      unknown; nothing pushed from it",
                ],
            ),
            (
                "a missing count of another service leaves this one planned",
                |w| {
                    w.service_mappings.push(smap(HUNTRESS, "siem", 101, "HUNTRESS-SIEM"));
                    w.snapshot(HUNTRESS).problems.push(missing("h1", "siem", "siem_count"));
                },
                vec![
                    ADD5,
                    "skipped Acme Dental a10 HUNTRESS-SIEM #- -->- (huntress gave no `siem_count` for account \
                     Acme Dental (h1), so its usage is unknown)",
                ],
                vec![
                    "huntress gave no `siem_count` for account Acme Dental (h1), so its usage is unknown; \
                      nothing pushed from it",
                ],
            ),
            (
                "a class rule on a count without classes is unknown, and the next count still counts",
                |w| {
                    let rule = ClassRule { name: "servers".into(), classes: vec!["WINDOWS_SERVER".into()] };
                    let mut by_class = smap(HUNTRESS, "edr", 101, "HUNTRESS-SERVERS");
                    by_class.classes = Some(rule);
                    w.service_mappings.insert(0, by_class);
                    w.service_mappings.push(smap(HUNTRESS, "siem", 102, "HUNTRESS-SIEM"));
                    w.snapshot(HUNTRESS).usage.push(usage("h1", "siem", 2));
                },
                vec![
                    ADD5,
                    "skipped Acme Dental a10 HUNTRESS-SERVERS #- -->- (huntress gave no `edr (by device class)` \
                     for account Acme Dental (h1), so its usage is unknown)",
                    "add Acme Dental a10 HUNTRESS-SIEM #- -->2 <= huntress/h1/siem=2",
                ],
                vec![
                    "huntress gave no `edr (by device class)` for account Acme Dental (h1), so its usage is \
                     unknown; nothing pushed from it",
                ],
            ),
            (
                "a failed account is skipped whole and blocks a line it shares",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED));
                    w.snapshot(HUNTRESS).accounts.push(account("h2", "Acme Dental (Branch)"));
                    w.snapshot(HUNTRESS).problems.push(failed(
                        "h2",
                        "Acme Dental (Branch)",
                        "usage call answered 500",
                    ));
                },
                vec![
                    "skipped Acme Dental a10 - #- -->- (huntress: account \"Acme Dental (Branch)\" (h2): usage \
                     call answered 500; nothing pushed for it)",
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (also fed by huntress account h2 name, which \
                     could not be read; a partial sum is never pushed) <= huntress/h1/edr=5",
                ],
                vec![
                    "huntress: account \"Acme Dental (Branch)\" (h2): usage call answered 500; nothing pushed for it",
                ],
            ),
            (
                "an id shared by differing records is never merged",
                |w| {
                    w.snapshot(HUNTRESS).accounts.clear();
                    w.snapshot(HUNTRESS).usage.clear();
                    w.snapshot(HUNTRESS).problems.push(AccountProblem {
                        account_id: "h1".into(),
                        account_name: "Acme Dental".into(),
                        kind: ProblemKind::Ambiguous {
                            records: vec!["{\"n\":43}".into(), "{\"n\":9}".into()],
                        },
                    });
                    w.additions_of(10).push(addition(17, Some(100), None, 43.0));
                },
                vec![
                    "skipped Acme Dental a10 - #- -->- (huntress: id \"h1\" is shared by 2 records that differ, \
                     so none is used: {\"n\":43}; {\"n\":9}; nothing pushed for it)",
                ],
                vec![
                    "huntress: id \"h1\" is shared by 2 records that differ, so none is used: {\"n\":43}; \
                      {\"n\":9}; nothing pushed for it",
                ],
            ),
            (
                "two products on one agreement: two lines",
                |w| {
                    w.service_mappings.push(smap(HUNTRESS, "siem", 101, "HUNTRESS-SIEM"));
                    w.snapshot(HUNTRESS).usage.push(usage("h1", "siem", 2));
                },
                vec![ADD5, "add Acme Dental a10 HUNTRESS-SIEM #- -->2 <= huntress/h1/siem=2"],
                vec![],
            ),
            (
                "usage of an unmapped service ignored",
                |w| w.snapshot(HUNTRESS).usage.push(usage("h1", "sat", 7)),
                vec![ADD5],
                vec![],
            ),
            (
                "usage of an unmapped account ignored",
                |w| {
                    w.snapshot(HUNTRESS).accounts.push(account("h9", "Stranger"));
                    w.snapshot(HUNTRESS).usage.push(usage("h9", "edr", 7));
                },
                vec![ADD5],
                vec![],
            ),
            (
                "missing usage row contributes nothing to a sum",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED));
                    w.snapshot(HUNTRESS).accounts.push(account("h2", "Acme Dental (Branch)"));
                },
                vec![ADD5],
                vec![],
            ),
            (
                "missing usage row alone: no line, never zero",
                |w| {
                    w.snapshot(HUNTRESS).usage.clear();
                    w.additions_of(10).push(addition(17, Some(100), None, 4.0));
                },
                vec![],
                vec![],
            ),
            (
                "two usage rows of one account and service add up",
                |w| w.snapshot(HUNTRESS).usage.push(usage("h1", "edr", 2)),
                vec!["add Acme Dental a10 HUNTRESS-EDR #- -->7 <= huntress/h1/edr=2 + huntress/h1/edr=5"],
                vec![],
            ),
            (
                "vanished account skipped with a warning, others go on",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", (2, "Beta Co"), Some((20, "Beta MSA"))));
                    w.additions_of(20).push(addition(30, Some(100), None, 6.0));
                },
                vec![
                    ADD5,
                    "skipped Beta Co a20 - #- -->- (account h2 name (h2) is no longer listed by huntress; left alone)",
                ],
                vec![
                    "account h2 name (h2) is no longer listed by huntress; left alone \
                     (if it is gone for good: recon map accounts --vendor huntress --unmap h2)",
                ],
            ),
            (
                "vanished account on a shared line: the partial sum is skipped",
                |w| w.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED)),
                vec![
                    "skipped Acme Dental a10 - #- -->- (account h2 name (h2) is no longer listed by huntress; left alone)",
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (also fed by huntress account h2 name, which \
                     huntress no longer lists; a partial sum is never pushed) <= huntress/h1/edr=5",
                ],
                vec![
                    "account h2 name (h2) is no longer listed by huntress; left alone \
                     (if it is gone for good: recon map accounts --vendor huntress --unmap h2)",
                ],
            ),
            (
                "vendor with zero accounts: every mapped account skipped, nothing zeroed",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", (2, "Beta Co"), Some((20, "Beta MSA"))));
                    w.snapshot(HUNTRESS).accounts.clear();
                    w.additions_of(10).push(addition(17, Some(100), None, 4.0));
                },
                vec![
                    "skipped Acme Dental a10 - #- -->- (vendor huntress returned no accounts; nothing pushed for it)",
                    "skipped Beta Co a20 - #- -->- (vendor huntress returned no accounts; nothing pushed for it)",
                ],
                vec!["vendor huntress returned no accounts; nothing pushed for it"],
            ),
            (
                "vendor with zero accounts blocks a line another vendor shares",
                |w| {
                    w.snapshot(HUNTRESS).accounts.clear();
                    w.account_mappings.push(amap(NODEWARE, "n1", ACME, MANAGED));
                    w.service_mappings.push(smap(NODEWARE, "asset", 100, "HUNTRESS-EDR"));
                    let nodeware = w.snapshot(NODEWARE);
                    nodeware.accounts.push(account("n1", "Acme"));
                    nodeware.usage.push(usage("n1", "asset", 2));
                },
                vec![
                    "skipped Acme Dental a10 - #- -->- (vendor huntress returned no accounts; nothing pushed for it)",
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (also fed by huntress, which returned no \
                     accounts in this run; a partial sum is never pushed) <= nodeware/n1/asset=2",
                ],
                vec!["vendor huntress returned no accounts; nothing pushed for it"],
            ),
            (
                "no agreement chosen: skipped with the command to choose one",
                |w| w.account_mappings[0] = amap(HUNTRESS, "h1", ACME, None),
                vec![
                    "skipped Acme Dental a- - #- -->- (no agreement chosen for Acme Dental (it has none active, \
                     or several); see `recon companies --search` and set one with `recon map accounts --vendor \
                     huntress --set h1 --company 1 --agreement AGREEMENT`) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "vendor not fetched: its mappings take no part",
                |w| {
                    w.account_mappings.push(amap(NODEWARE, "n1", (2, "Beta Co"), Some((20, "Beta MSA"))));
                    w.service_mappings.push(smap(NODEWARE, "asset", 200, "NODEWARE-ASSET"));
                },
                vec![ADD5],
                vec![],
            ),
            (
                "vendor not fetched on the same agreement, other product: no effect",
                |w| {
                    w.account_mappings.push(amap(NODEWARE, "n1", ACME, MANAGED));
                    w.service_mappings.push(smap(NODEWARE, "asset", 200, "NODEWARE-ASSET"));
                },
                vec![ADD5],
                vec![],
            ),
            (
                "vendor not fetched on the same product, other agreement: no effect",
                |w| {
                    w.account_mappings.push(amap(NODEWARE, "n1", (2, "Beta Co"), Some((20, "Beta MSA"))));
                    w.service_mappings.push(smap(NODEWARE, "asset", 100, "HUNTRESS-EDR"));
                },
                vec![ADD5],
                vec![],
            ),
            (
                "vendor not fetched feeding the same line: partial sum skipped",
                |w| {
                    w.account_mappings.push(amap(NODEWARE, "n1", ACME, MANAGED));
                    w.service_mappings.push(smap(NODEWARE, "asset", 100, "HUNTRESS-EDR"));
                    w.additions_of(10).push(addition(17, Some(100), None, 7.0));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (also fed by nodeware, which this run did not \
                     fetch; a partial sum is never pushed) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "two fetched vendors feeding the same line add up",
                |w| {
                    w.account_mappings.push(amap(NODEWARE, "n1", ACME, MANAGED));
                    w.service_mappings.push(smap(NODEWARE, "asset", 100, "HUNTRESS-EDR"));
                    let nodeware = w.snapshot(NODEWARE);
                    nodeware.accounts.push(account("n1", "Acme"));
                    nodeware.usage.push(usage("n1", "asset", 2));
                },
                vec!["add Acme Dental a10 HUNTRESS-EDR #- -->7 <= huntress/h1/edr=5 + nodeware/n1/asset=2"],
                vec![],
            ),
            (
                "additions of the agreement not read: skipped, never added",
                |w| {
                    w.additions.clear();
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->5 (the lines of agreement 'Managed Services' \
                     were not read; nothing pushed) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "sum past u32: skipped",
                |w| {
                    w.service_mappings.push(smap(HUNTRESS, "edr-server", 100, "HUNTRESS-EDR"));
                    w.snapshot(HUNTRESS).usage.push(usage("h1", "edr-server", u32::MAX));
                },
                vec![
                    "skipped Acme Dental a10 HUNTRESS-EDR #- -->- (the quantities add up to more than 4294967295) \
                     <= huntress/h1/edr=5 + huntress/h1/edr-server=4294967295",
                ],
                vec![],
            ),
            (
                "policy holds an add under increases = review",
                |w| w.policy.increases = Decision::Review,
                vec![
                    "held Acme Dental a10 HUNTRESS-EDR #- -->5 (increase held for review ([sync] increases = \
                     \"review\")) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "policy holds a decrease under decreases = review",
                |w| {
                    w.policy.decreases = Decision::Review;
                    w.additions_of(10).push(addition(17, Some(100), None, 8.0));
                },
                vec![
                    "held Acme Dental a10 HUNTRESS-EDR #17 8->5 (decrease held for review ([sync] decreases = \
                     \"review\")) <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "policy lets an increase through under decreases = review",
                |w| {
                    w.policy.decreases = Decision::Review;
                    w.additions_of(10).push(addition(17, Some(100), None, 3.0));
                },
                vec!["update Acme Dental a10 HUNTRESS-EDR #17 3->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "policy holds a change over max_change_percent",
                |w| {
                    w.policy.max_change_percent = Some(50);
                    w.additions_of(10).push(addition(17, Some(100), None, 20.0));
                },
                vec![
                    "held Acme Dental a10 HUNTRESS-EDR #17 20->5 (change of -75% exceeds max_change_percent = 50) \
                     <= huntress/h1/edr=5",
                ],
                vec![],
            ),
            (
                "policy never holds an unchanged line",
                |w| {
                    w.policy = SyncPolicy {
                        increases: Decision::Review,
                        decreases: Decision::Review,
                        max_change_percent: Some(0),
                        ..SyncPolicy::default()
                    };
                    w.additions_of(10).push(addition(17, Some(100), None, 5.0));
                },
                vec!["unchanged Acme Dental a10 HUNTRESS-EDR #17 5->5 <= huntress/h1/edr=5"],
                vec![],
            ),
            (
                "lines sorted by company name ignoring case, then agreement, then product",
                |w| {
                    w.account_mappings.push(amap(HUNTRESS, "h2", (2, "beta Co"), Some((21, "Beta B"))));
                    w.account_mappings.push(amap(HUNTRESS, "h3", (2, "beta Co"), Some((20, "Beta A"))));
                    w.account_mappings.push(amap(HUNTRESS, "h4", (3, "Aardvark"), Some((30, "Aard"))));
                    w.service_mappings.push(smap(HUNTRESS, "aaa", 99, "ZZZ"));
                    let snap = w.snapshot(HUNTRESS);
                    for id in ["h2", "h3", "h4"] {
                        snap.accounts.push(account(id, id));
                        snap.usage.push(usage(id, "edr", 1));
                    }
                    snap.usage.push(usage("h1", "aaa", 1));
                    for agreement in [20, 21, 30] {
                        w.additions_of(agreement);
                    }
                },
                vec![
                    "add Aardvark a30 HUNTRESS-EDR #- -->1 <= huntress/h4/edr=1",
                    ADD5,
                    "add Acme Dental a10 ZZZ #- -->1 <= huntress/h1/aaa=1",
                    "add beta Co a20 HUNTRESS-EDR #- -->1 <= huntress/h3/edr=1",
                    "add beta Co a21 HUNTRESS-EDR #- -->1 <= huntress/h2/edr=1",
                ],
                vec![],
            ),
        ];
        for (name, change, want_lines, want_warnings) in cases {
            let mut world = World::base();
            change(&mut world);
            let plan = world.plan();
            let got: Vec<String> = plan.lines.iter().map(render).collect();
            assert_eq!(got, want_lines, "{name}");
            let warnings: Vec<String> = plan
                .warnings
                .iter()
                .map(|w| crate::output::wording::warning(crate::output::wording::Wording::NEUTRAL, w))
                .collect();
            assert_eq!(warnings, want_warnings, "{name}");
            assert_eq!(plan.period, Period { year: 2026, month: 10 }, "{name}");
        }
    }

    /// A contract service of contract 10 for product 100 whose units are kept by date:
    /// October 3 (posted when `posted`), November split on the 15th (a mid-period row),
    /// December 3, listed out of order; each row priced at 10.
    fn dated_line(posted: bool) -> BillingLine {
        let span = |start, end, units: i64, posted| crate::model::UnitSpan {
            start,
            end,
            units: Decimal::from(units),
            price: Some(Decimal::from(10)),
            cost: None,
            posted,
        };
        BillingLine {
            schedule: vec![
                span(day(2026, 12, 1), day(2026, 12, 31), 3, false),
                span(day(2026, 10, 1), day(2026, 10, 31), 3, posted),
                span(day(2026, 11, 1), day(2026, 11, 14), 3, false),
                span(day(2026, 11, 15), day(2026, 11, 30), 3, false),
            ],
            unit_price: Some(Decimal::from(99)),
            ..addition(17, Some(100), None, 4.0)
        }
    }

    #[test]
    fn a_dated_change_is_the_delta_from_the_units_in_force_on_its_date() {
        let mut world = World::base();
        world.writes = QuantityWrites::DatedDelta;
        world.additions_of(10).push(dated_line(false));
        let line = world.plan().lines.remove(0);
        // October's row says 3 (found by date, not as the first row listed): +2 from Oct 1.
        assert_eq!((line.action, line.before, line.after), (Action::Update, Some(Decimal::from(3)), Some(5)));
        assert_eq!((line.effective_date, line.date_rule), (Some(day(2026, 10, 1)), None));
        assert_eq!(line.delta(), Some(Decimal::from(2)));
        assert_eq!(line.addition_id, Some(17));
        // The price of the row in force, not the line's.
        assert_eq!(line.revenue_change(), Some(Decimal::from(20)));

        // October is posted: the change takes effect on November 1, against November's units.
        world.additions_of(10)[0] = dated_line(true);
        world.default_terms = false;
        world.terms.insert(
            10,
            BillingTerms {
                container_id: 10,
                bill_start_date: None,
                next_invoice_date: None,
                prorate: true,
                currency: None,
                open_from: crate::autotask::open_from(
                    &world.additions[&10][0].schedule.iter().collect::<Vec<_>>(),
                ),
            },
        );
        let line = world.plan().lines.remove(0);
        assert_eq!(line.effective_date, Some(day(2026, 11, 1)));
        assert_eq!(line.date_rule, Some(crate::plan::DateRule::Posted { open_from: day(2026, 11, 1) }));
        assert_eq!(line.before, Some(Decimal::from(3)));

        // Already at the target on the date: unchanged, nothing written.
        world.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 3)];
        assert_eq!(world.plan().lines[0].action, Action::Unchanged);

        // The units change again later (from Nov 15, by hand): a delta is not stacked on it.
        let mut changed_later = dated_line(true);
        changed_later.schedule[0].units = Decimal::from(4);
        changed_later.schedule[3].units = Decimal::from(4);
        world.additions_of(10)[0] = changed_later;
        world.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 5)];
        let line = world.plan().lines.remove(0);
        assert_eq!(
            (line.action, line.reason),
            (
                Action::Skipped,
                Some(Reason::ChangesLater { date: day(2026, 11, 15), units: Decimal::from(4) })
            )
        );
        world.additions_of(10)[0] = dated_line(true);

        // No row covers the date: unknown, never 0.
        world.terms.get_mut(&10).unwrap().open_from = Some(day(2027, 3, 1));
        let line = world.plan().lines.remove(0);
        assert_eq!(
            (line.action, line.reason),
            (Action::Skipped, Some(Reason::NoUnitsOnDate { date: day(2027, 3, 1) }))
        );

        // A service the contract lacks: an add (the adjustment creates the line), dated.
        let mut world = World::base();
        world.writes = QuantityWrites::DatedDelta;
        let line = world.plan().lines.remove(0);
        assert_eq!(
            (line.action, line.effective_date, line.before),
            (Action::Add, Some(day(2026, 10, 1)), None)
        );
        assert_eq!(line.delta(), Some(Decimal::from(5)));
    }

    #[test]
    fn a_reposting_psa_never_writes_a_computed_line_and_dates_an_update_at_its_next_invoice() {
        let terms = |next: Option<chrono::NaiveDate>| BillingTerms {
            container_id: 10,
            bill_start_date: Some(day(2026, 1, 1)),
            next_invoice_date: next,
            prorate: true,
            currency: None,
            open_from: None,
        };
        let line_with = |f: &dyn Fn(&mut BillingLine)| {
            let mut l = addition(17, Some(100), None, 3.0);
            f(&mut l);
            l
        };
        type Case = (
            &'static str,
            Vec<BillingLine>,
            Option<chrono::NaiveDate>,
            Action,
            Option<Reason>,
            Option<chrono::NaiveDate>,
        );
        let cases: [Case; 8] = [
            (
                "update: from the next invoice",
                vec![line_with(&|_| {})],
                Some(day(2026, 11, 1)),
                Action::Update,
                None,
                Some(day(2026, 11, 1)),
            ),
            (
                "update, next invoice unknown: no date",
                vec![line_with(&|_| {})],
                None,
                Action::Update,
                None,
                None,
            ),
            (
                "a pro-rata waiting on the line makes up the count: nothing to write",
                vec![line_with(&|l| (l.quantity, l.pro_rata) = (Decimal::from(5), Decimal::from(2)))],
                Some(day(2026, 11, 1)),
                Action::Unchanged,
                None,
                Some(day(2026, 11, 1)),
            ),
            (
                "a pro-rata waiting counts in the quantity written from",
                vec![line_with(&|l| (l.quantity, l.pro_rata) = (Decimal::from(4), Decimal::from(1)))],
                Some(day(2026, 11, 1)),
                Action::Update,
                None,
                Some(day(2026, 11, 1)),
            ),
            (
                "a pro-rata waiting above the count: no quantity can be set",
                vec![line_with(&|l| (l.quantity, l.pro_rata) = (Decimal::from(9), Decimal::from(7)))],
                Some(day(2026, 11, 1)),
                Action::Skipped,
                Some(Reason::ProRataAbove { psa: "Halo".into(), pro_rata: Decimal::from(7) }),
                Some(day(2026, 11, 1)),
            ),
            (
                "quantity computed by the PSA: never written",
                vec![line_with(&|l| l.computed = true)],
                Some(day(2026, 11, 1)),
                Action::Skipped,
                Some(Reason::ComputedByPsa { psa: "Halo".into() }),
                None,
            ),
            (
                "an inactive line bills nothing: a line is added",
                vec![line_with(&|l| l.inactive = true)],
                Some(day(2026, 11, 1)),
                Action::Add,
                None,
                Some(day(2026, 10, 1)),
            ),
            (
                "no line: added from the period's first day",
                vec![],
                Some(day(2026, 11, 1)),
                Action::Add,
                None,
                Some(day(2026, 10, 1)),
            ),
        ];
        for (name, lines, next, action, reason, date) in cases {
            let mut world = World::base();
            world.writes = QuantityWrites::Repost;
            world.default_terms = false;
            world.terms.insert(10, terms(next));
            let pro_rata = lines.first().map(|l| l.pro_rata).filter(|p| !p.is_zero());
            *world.additions_of(10) = lines;
            let line = world.plan().lines.remove(0);
            assert_eq!((line.action, &line.reason, line.effective_date), (action, &reason, date), "{name}");
            if action == Action::Update {
                let rule = next.map(|next_invoice| DateRule::NextInvoice { next_invoice, pro_rata });
                assert_eq!(line.date_rule, rule, "{name}");
            }
        }
    }

    #[test]
    fn line_fields_of_an_update() {
        let mut world = World::base();
        world.additions_of(10).push(addition(17, Some(100), None, 3.0));
        let plan = world.plan();
        assert_eq!(
            plan.lines,
            vec![PlanLine {
                action: Action::Update,
                company_id: Some(1),
                company: "Acme Dental".to_string(),
                agreement_id: Some(10),
                agreement: Some("Managed Services".to_string()),
                product_id: Some(100),
                product: Some("HUNTRESS-EDR".to_string()),
                addition_id: Some(17),
                before: Some(Decimal::from(3)),
                after: Some(5),
                reason: None,
                sources: vec![Source {
                    vendor: HUNTRESS.to_string(),
                    account_id: "h1".to_string(),
                    account_name: "Acme Dental".to_string(),
                    service_key: "edr".to_string(),
                    quantity: 5,
                    parts: Vec::new(),
                    classes: Default::default(),
                    notes: Vec::new(),
                }],
                money: Some(LineMoney {
                    unit_price: None,
                    unit_cost: None,
                    billed_before: Decimal::from(3),
                    billed_after: Decimal::from(5),
                    revenue_change: None,
                    margin_change: None,
                }),
                ..empty_line()
            }]
        );
        assert_eq!(plan.lines[0].delta(), Some(Decimal::from(2)));
        let mut add = World::base().plan().lines.remove(0);
        assert_eq!(add.action, Action::Add);
        assert_eq!(
            (add.effective_date.take(), add.bill_customer.take()),
            (chrono::NaiveDate::from_ymd_opt(2026, 10, 1), Some(BillCustomer::Billable)),
            "an add carries what is sent"
        );
    }

    /// Billing by date and money: (what, change to the base world, action, before, date,
    /// date rule, cancelled from, revenue change, reason code).
    #[test]
    fn billing_rules_table() {
        type Change = fn(&mut World);
        type Want = (
            Action,
            Option<&'static str>,
            Option<chrono::NaiveDate>,
            Option<DateRule>,
            Option<chrono::NaiveDate>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let dec = |text: &str| text.parse::<Decimal>().unwrap();
        let cases: Vec<(&str, Change, Want)> = vec![
            (
                "cancelled at the end of the period: still the line to update",
                |w| {
                    let mut a = addition(17, Some(100), None, 3.0);
                    a.cancelled_date = Some(day(2026, 10, 31));
                    w.additions_of(10).push(a);
                },
                (Action::Update, Some("3"), None, None, Some(day(2026, 10, 31)), None, None),
            ),
            (
                "cancelled after the period: in force",
                |w| {
                    let mut a = addition(17, Some(100), None, 5.0);
                    a.cancelled_date = Some(day(2026, 12, 31));
                    w.additions_of(10).push(a);
                },
                (Action::Unchanged, Some("5"), None, None, Some(day(2026, 12, 31)), None, None),
            ),
            (
                "cancelled on the first day: in force for that day",
                |w| {
                    let mut a = addition(17, Some(100), None, 5.0);
                    a.cancelled_date = Some(day(2026, 10, 1));
                    w.additions_of(10).push(a);
                },
                (Action::Unchanged, Some("5"), None, None, Some(day(2026, 10, 1)), None, None),
            ),
            (
                "starts after the period: scheduled, never duplicated",
                |w| {
                    let mut a = addition(17, Some(100), None, 5.0);
                    a.effective_date = Some(day(2026, 11, 1));
                    w.additions_of(10).push(a);
                },
                (Action::Skipped, None, None, None, None, None, Some("scheduled")),
            ),
            (
                "scheduled beside one in force: the one in force is the line",
                |w| {
                    let mut later = addition(18, Some(100), None, 9.0);
                    later.effective_date = Some(day(2026, 11, 1));
                    w.additions_of(10).push(later);
                    let mut now = addition(17, Some(100), None, 4.0);
                    now.effective_date = Some(day(2026, 1, 1));
                    w.additions_of(10).push(now);
                },
                (Action::Update, Some("4"), None, None, None, None, None),
            ),
            (
                "starts on the last day: in force",
                |w| {
                    let mut a = addition(17, Some(100), None, 5.0);
                    a.effective_date = Some(day(2026, 10, 31));
                    w.additions_of(10).push(a);
                },
                (Action::Unchanged, Some("5"), None, None, None, None, None),
            ),
            (
                "a decimal quantity is compared exactly",
                |w| w.additions_of(10).push(addition(17, Some(100), None, 5.25)),
                (Action::Update, Some("5.25"), None, None, None, Some("-11.25"), None),
            ),
            (
                "an add is dated the first day when the agreement prorates",
                |w| {
                    w.terms.insert(
                        10,
                        BillingTerms {
                            container_id: 10,
                            bill_start_date: None,
                            next_invoice_date: Some(day(2026, 11, 1)),
                            prorate: true,
                            currency: None,
                            open_from: None,
                        },
                    );
                },
                (Action::Add, None, Some(day(2026, 10, 1)), None, None, None, None),
            ),
            (
                "an add in an invoiced period of an agreement that does not prorate: the next invoice date",
                |w| {
                    w.terms.insert(
                        10,
                        BillingTerms {
                            container_id: 10,
                            bill_start_date: None,
                            next_invoice_date: Some(day(2026, 11, 1)),
                            prorate: false,
                            currency: None,
                            open_from: None,
                        },
                    );
                },
                (
                    Action::Add,
                    None,
                    Some(day(2026, 11, 1)),
                    Some(DateRule::AlreadyInvoiced { next_invoice: day(2026, 11, 1) }),
                    None,
                    None,
                    None,
                ),
            ),
            (
                "an add on an agreement whose terms were not read is skipped",
                |w| w.default_terms = false,
                (Action::Skipped, None, None, None, None, None, Some("terms_not_read")),
            ),
        ];
        for (name, change, want) in cases {
            let mut world = World::base();
            // 45.00 a unit for the addition cases: their money comes from the addition.
            change(&mut world);
            for a in world.additions.values_mut().flatten() {
                a.unit_price = Some(dec("45"));
            }
            let plan = world.plan();
            let line = &plan.lines[0];
            let got = (
                line.action,
                line.before.map(|b| b.normalize().to_string()),
                line.effective_date,
                line.date_rule,
                line.cancelled_from,
                line.money.as_ref().and_then(|m| m.revenue_change).map(|r| r.to_string()),
                line.reason.as_ref().map(Reason::code),
            );
            let want = (
                want.0,
                want.1.map(str::to_string),
                want.2,
                want.3,
                want.4,
                want.5.map(str::to_string),
                want.6,
            );
            // Only the decimal case states its money; the others are checked for shape only.
            let got = if want.5.is_none() { (got.0, got.1, got.2, got.3, got.4, None, got.6) } else { got };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn money_comes_from_the_addition_or_the_catalog_and_billed_quantities_skip_what_is_included() {
        let dec = |text: &str| text.parse::<Decimal>().unwrap();
        // An update: the addition's price, cost and lessIncluded.
        let mut world = World::base();
        let mut a = addition(17, Some(100), None, 12.0);
        a.less_included = dec("10");
        a.unit_price = Some(dec("45"));
        a.unit_cost = Some(dec("30"));
        world.additions_of(10).push(a);
        world.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 15)];
        let m = world.plan().lines[0].money.clone().unwrap();
        assert_eq!((m.billed_before, m.billed_after), (dec("2"), dec("5")));
        assert_eq!((m.revenue_change, m.margin_change), (Some(dec("135")), Some(dec("45"))));
        // Fewer units than included: nothing billed either side.
        let mut world = World::base();
        let mut a = addition(17, Some(100), None, 3.0);
        a.less_included = dec("10");
        a.unit_price = Some(dec("45"));
        world.additions_of(10).push(a);
        let m = world.plan().lines[0].money.clone().unwrap();
        assert_eq!((m.billed_before, m.billed_after, m.revenue_change), (dec("0"), dec("0"), Some(dec("0"))));
        // A missing price is unknown money, never 0.
        let mut world = World::base();
        world.additions_of(10).push(addition(17, Some(100), None, 3.0));
        let plan = world.plan();
        assert_eq!(plan.lines[0].money.as_ref().unwrap().revenue_change, None);
        assert_eq!(plan.totals().unpriced, 1);
        // An add: the catalog's price and cost.
        let mut world = World::base();
        world.catalog.insert(
            100,
            CatalogProduct {
                id: 100,
                identifier: "HUNTRESS-EDR".into(),
                description: String::new(),
                inactive: false,
                price: Some(dec("7.99")),
                cost: Some(dec("5")),
            },
        );
        let plan = world.plan();
        let m = plan.lines[0].money.clone().unwrap();
        assert_eq!(
            (m.unit_price, m.revenue_change, m.margin_change),
            (Some(dec("7.99")), Some(dec("39.95")), Some(dec("14.95")))
        );
        let t = plan.totals();
        assert_eq!((t.revenue_added, t.revenue_removed, t.net), (dec("39.95"), dec("0"), dec("39.95")));
        assert_eq!(t.by_vendor["huntress"].0, dec("39.95"));
        assert_eq!(t.by_company["Acme Dental"].0, dec("39.95"));
    }

    #[test]
    fn a_mapping_minimum_raises_the_line_and_its_bill_setting_dates_the_create() {
        let mut world = World::base();
        world.service_mappings[0].minimum = Some(8);
        world.service_mappings[0].bill_customer = Some(BillCustomer::NoCharge);
        let line = world.plan().lines.remove(0);
        assert_eq!((line.action, line.after, line.minimum), (Action::Add, Some(8), Some(8)));
        assert_eq!(line.bill_customer, Some(BillCustomer::NoCharge));
        assert_eq!(line.sources[0].quantity, 5, "the vendor's own figure is kept");
        // Above the minimum, the vendor's figure stands.
        world.service_mappings[0].minimum = Some(3);
        let line = world.plan().lines.remove(0);
        assert_eq!((line.after, line.minimum), (Some(5), None));
    }

    #[test]
    fn an_addition_changed_outside_recon_is_held_not_overwritten() {
        let mut world = World::base();
        world.additions_of(10).push(addition(17, Some(100), None, 7.0));
        // recon set it to 4 in run 3; someone made it 7; the vendor says 5.
        world.last_set.insert(17, (3, Decimal::from(4)));
        let line = world.plan().lines.remove(0);
        assert_eq!(line.action, Action::Held);
        let text = crate::output::wording::reason(
            crate::output::wording::Wording::NEUTRAL,
            line.reason.as_ref().unwrap(),
        );
        assert!(text.starts_with("changed in the PSA since run 3 (was 4, now 7)"), "{text}");
        // With outside_changes = "apply" it is planned as any other change.
        world.policy.outside_changes = Decision::Apply;
        assert_eq!(world.plan().lines[0].action, Action::Update);
        // An addition still at what recon set is not an outside change.
        world.policy.outside_changes = Decision::Review;
        world.last_set.insert(17, (3, Decimal::from(7)));
        assert_eq!(world.plan().lines[0].action, Action::Update);
        // A per-vendor policy: huntress decreases are held only where its section says so.
        world.snapshot(HUNTRESS).usage = vec![usage("h1", "edr", 5)];
        world.policy.vendors.insert(
            HUNTRESS.to_string(),
            crate::policy::VendorPolicy { decreases: Some(Decision::Review), ..Default::default() },
        );
        assert_eq!(
            world.plan().lines[0].action,
            Action::Held,
            "7 -> 5 is a decrease under huntress's own policy"
        );
    }

    #[test]
    fn same_input_in_any_order_gives_the_same_plan() {
        let mut world = World::base();
        world.account_mappings.push(amap(HUNTRESS, "h2", ACME, MANAGED));
        world.account_mappings.push(amap(HUNTRESS, "gone", (2, "Beta"), Some((20, "B"))));
        world.account_mappings.push(amap(HUNTRESS, "gone2", (2, "Beta"), Some((20, "B"))));
        world.account_mappings.push(amap(NODEWARE, "n1", (3, "Gamma"), Some((30, "G"))));
        world.service_mappings.push(smap(HUNTRESS, "siem", 101, "HUNTRESS-SIEM"));
        world.service_mappings.push(smap(NODEWARE, "asset", 200, "NODEWARE-ASSET"));
        let snap = world.snapshot(HUNTRESS);
        snap.accounts.push(account("h2", "Acme Two"));
        snap.usage.extend([usage("h2", "edr", 1), usage("h2", "siem", 4), usage("h1", "siem", 2)]);
        let nodeware = world.snapshot(NODEWARE);
        nodeware.accounts.push(account("n1", "Gamma"));
        nodeware.usage.push(usage("n1", "asset", 3));
        world.additions_of(10).push(addition(17, Some(101), None, 1.0));
        world.additions_of(30);
        let first = world.plan();

        world.account_mappings.reverse();
        world.service_mappings.reverse();
        for snap in world.snapshots.values_mut() {
            snap.accounts.reverse();
            snap.usage.reverse();
        }
        let second = world.plan();
        assert_eq!(first, second);
        assert_eq!(first, world.plan());
        assert_eq!(first.lines.len(), 5, "{:#?}", first.lines);
        assert_eq!(first.warnings.len(), 2);
    }

    #[test]
    fn agreements_to_read_table() {
        let accounts = vec![
            amap(HUNTRESS, "h1", ACME, Some((10, "A"))),
            amap(HUNTRESS, "h2", ACME, Some((10, "A"))),
            amap(HUNTRESS, "h3", (2, "B"), Some((5, "B"))),
            amap(HUNTRESS, "h4", (3, "C"), None),
            amap(NODEWARE, "n1", (4, "D"), Some((40, "D"))),
            amap("csv", "c1", (5, "E"), Some((50, "E"))),
        ];
        let services = vec![smap(HUNTRESS, "edr", 100, "EDR"), smap(NODEWARE, "asset", 200, "ASSET")];
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        let cases: &[(&[&str], &[i64])] = &[
            (&[HUNTRESS], &[5, 10]),
            (&[NODEWARE], &[40]),
            (&[HUNTRESS, NODEWARE], &[5, 10, 40]),
            // csv has mapped accounts but no mapped service: nothing to read.
            (&["csv"], &[]),
            (&["unknown"], &[]),
            (&[], &[]),
        ];
        for (vendors, want) in cases {
            assert_eq!(agreements_to_read(&accounts, &services, &set(vendors)), *want, "{vendors:?}");
        }
    }
}
