//! The sentences people read for the core's facts: plan reasons, policy holds, warnings,
//! and the JSON views that carry each reason's text beside its stable code.

use crate::model::{AccountProblem, ProblemKind};
use crate::plan::{Action, DateRule, Hold, MoneyTotals, Plan, PlanLine, Reason, Unknown};
use crate::reconcile::Conflict;
use rust_decimal::Decimal;
use serde::Serialize;

/// The words of a PSA (its name, what holds a customer's lines, one line), for every
/// sentence here that names them. Whoever prints passes the words of the PSA in use (from
/// the config: `Context::wording`), or `NEUTRAL` before there is one.
#[derive(Debug, Clone, Copy)]
pub struct Wording(pub &'static crate::psa::Profile);

static NEUTRAL_PROFILE: crate::psa::Profile = crate::psa::Profile {
    name: "the PSA",
    container: "agreement",
    container_option: "--agreement",
    container_reference: "an agreement (name or id)",
    line: "line",
    product: "product",
    product_reference: "product",
    writes: crate::model::QuantityWrites::InPlace,
};

impl Wording {
    /// No PSA named yet: "the PSA", "agreement", "line".
    pub const NEUTRAL: Wording = Wording(&NEUTRAL_PROFILE);
}

impl std::ops::Deref for Wording {
    type Target = crate::psa::Profile;

    fn deref(&self) -> &crate::psa::Profile {
        self.0
    }
}

/// The option that chooses a company's container, in the PSA's word: `--agreement
/// AGREEMENT`, `--contract CONTRACT`, `--invoice INVOICE` (aliases of one option).
pub fn container_flag(w: Wording) -> String {
    let option = w.container_option;
    format!("{option} {}", option.trim_start_matches('-').to_uppercase())
}

/// The container's word as a heading: "Agreement", "Contract", "Recurring invoice".
pub fn container_heading(w: Wording) -> String {
    capitalized(w.container)
}

/// The text with its first letter upper case ("the PSA" starts a sentence as "The PSA").
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// `n` and the noun, plural unless `n` is 1: "1 account", "3 accounts", "2 companies".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// The plan's word on usage nobody bills: how many accounts, and the command that maps them.
pub fn unbilled_line(unbilled: &[crate::matching::UnbilledAccount]) -> String {
    let mut vendors: Vec<&str> = unbilled.iter().map(|a| a.vendor.as_str()).collect();
    vendors.dedup();
    let vendor = match vendors.as_slice() {
        [one] => format!(" --vendor {one}"),
        _ => String::new(),
    };
    let (verb, noun) = if unbilled.len() == 1 { ("is", "it") } else { ("are", "them") };
    format!(
        "{} with usage {verb} not mapped, so nothing bills {noun}: recon map accounts{vendor} --unmatched",
        plural(unbilled.len(), "account")
    )
}

/// The sentence for a line's reason, with the command that fixes it where one exists.
pub fn reason(w: Wording, r: &Reason) -> String {
    match r {
        Reason::NothingToBill => format!("no {} and nothing to bill", w.line),
        Reason::VendorEmpty { vendor } => {
            format!("vendor {vendor} returned no accounts; nothing pushed for it")
        }
        Reason::AccountGone { vendor, account_id, account_name } => {
            format!("account {account_name} ({account_id}) is no longer listed by {vendor}; left alone")
        }
        Reason::AccountFailed { vendor, problem } => {
            format!("{vendor}: {}; nothing pushed for it", problem_text(problem))
        }
        Reason::NoServiceMapped { vendor } => format!(
            "{vendor} has no service mapped to a product, so none of its usage is planned; \
             map one: recon map services --vendor {vendor}"
        ),
        Reason::NoAgreement { vendor, account_id, company_id, company } => format!(
            "no {container} chosen for {company} (it has none active, or several); see \
             `recon companies --search` and set one with `recon map accounts --vendor {vendor} --set {} \
             --company {company_id} {}`",
            shell_word(account_id),
            container_flag(w),
            container = w.container
        ),
        Reason::UsageUnknown { unknown, partial } => {
            let mut text = unknown.iter().map(unknown_text).collect::<Vec<_>>().join("; ");
            if *partial {
                text.push_str("; a partial sum is never pushed");
            }
            text
        }
        Reason::TooLarge => format!("the quantities add up to more than {}", u32::MAX),
        Reason::AdditionsNotRead { agreement } => {
            format!("the {}s of {agreement} were not read; nothing pushed", w.line)
        }
        Reason::SeveralAdditions { product, agreement, ids } => format!(
            "{} active {}s of {product} on {agreement} (ids {}); fix it in {}",
            ids.len(),
            w.line,
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
            w.name
        ),
        Reason::Scheduled { product, additions } => format!(
            "{product} starts later: {}; nothing added before it (never duplicated)",
            additions
                .iter()
                .map(|(id, d)| format!("{} {id} from {d}", w.line))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reason::TermsNotRead { agreement } => {
            format!(
                "the billing terms of {agreement} were not read, so a new {} cannot be dated; nothing pushed",
                w.line
            )
        }
        Reason::NoUnitsOnDate { date } => format!(
            "{} shows no units of this line in force on {date} (no unit row covers it), so the change cannot be computed; nothing pushed",
            w.name
        ),
        Reason::ChangesLater { date, units } => format!(
            "the units change again from {date} (to {}): a change from the period's start would shift that one too; settle it in the PSA, then sync",
            crate::plan::format_quantity(Some(*units))
        ),
        Reason::ComputedByPsa { psa } => format!(
            "quantity managed by {psa}: it computes this line from licence, user or asset counts, so recon never writes it"
        ),
        Reason::ProRataAbove { psa, pro_rata } => format!(
            "{psa} adds a pro-rata of {} to this line at its next invoice, more than the vendors' count; change that pro-rata in {psa}, then sync",
            crate::plan::format_quantity(Some(*pro_rata))
        ),
        Reason::Held { hold } => hold_text(*hold),
        Reason::UndoCreated => {
            format!("created by the run: set to 0 (recon does not cancel {}s)", w.line)
        }
        Reason::UndoBackTo { quantity } => format!("back to {quantity}"),
        Reason::UndoGone { addition_id } => {
            format!("{} {addition_id:?} is no longer active in {}", w.line, w.name)
        }
        Reason::UndoChangedSince { run_id, now } => {
            format!("changed since run {run_id}: now {now}; left alone")
        }
        Reason::UndoCostBackTo { cost } => format!("the unit cost back to {cost:.2}"),
        Reason::UndoFractional => {
            "the earlier quantity was not a whole number; restore it by hand".to_string()
        }
        Reason::Rejected { change_id } => format!(
            "rejected as change {change_id}; not proposed again until the vendor or PSA quantity moves"
        ),
        Reason::Note { text } => text.clone(),
    }
}

/// A line's reason in words; empty when it has none.
pub fn line_reason(w: Wording, line: &PlanLine) -> String {
    line.reason.as_ref().map(|r| reason(w, r)).unwrap_or_default()
}

/// The sentence for a warning: the reason, with what to do about it.
pub fn warning(w: Wording, r: &Reason) -> String {
    match r {
        Reason::AccountGone { vendor, account_id, .. } => format!(
            "{} (if it is gone for good: recon map accounts --vendor {vendor} --unmap {})",
            reason(w, r),
            shell_word(account_id)
        ),
        Reason::UsageUnknown { .. } => format!("{}; nothing pushed from it", reason(w, r)),
        _ => reason(w, r),
    }
}

/// What a plan line's note column says: its reason, else why an add is dated as it is, else
/// from when a dated update takes effect, its minimum, and that its addition is cancelled
/// from a date.
pub fn note(w: Wording, line: &PlanLine) -> String {
    let mut notes: Vec<String> = Some(base_note(w, line)).filter(|n| !n.is_empty()).into_iter().collect();
    notes.extend(counted(line));
    notes.extend(line.sources.iter().filter_map(parts));
    notes.extend(line.findings.iter().map(finding));
    notes.join("; ")
}

/// The reason, else why a change is dated as it is, else its other facts.
fn base_note(w: Wording, line: &PlanLine) -> String {
    if let Some(r) = &line.reason {
        return reason(w, r);
    }
    // What of `before` is a pro-rata the PSA folds into the line at its next invoice.
    let pro_rata = match line.date_rule {
        Some(DateRule::NextInvoice { pro_rata: Some(p), .. }) => Some(format!(
            "{} counts the pro-rata of {} {} adds to the line at its next invoice",
            crate::plan::format_quantity(line.before),
            crate::plan::format_quantity(Some(p)),
            w.name
        )),
        _ => None,
    };
    // An unchanged line changes nothing, so when a change would have taken effect is noise.
    if let (Some(date), Some(rule), false) =
        (line.effective_date, line.date_rule, line.action == Action::Unchanged)
    {
        let dated = format!("from {date}: {}", date_rule(w, rule));
        return match pro_rata {
            Some(p) => format!("{dated}; {p}"),
            None => dated,
        };
    }
    if let Some(p) = pro_rata {
        return p;
    }
    let mut notes = Vec::new();
    // Only a PSA that dates every change (Autotask) dates an update: say from when.
    if let (Action::Update, Some(date)) = (line.action, line.effective_date) {
        notes.push(format!("from {date}"));
    }
    if let Some(minimum) = line.minimum {
        notes.push(format!("raised to the minimum of {minimum}"));
    }
    if let Some(date) = line.cancelled_from {
        notes.push(format!("cancelled from {date}"));
    }
    notes.join("; ")
}

/// How the line's number was made, when a count rule made it (`counting::explain`).
fn counted(line: &PlanLine) -> Option<String> {
    let parts: Vec<crate::counting::Part> = line
        .sources
        .iter()
        .map(|s| crate::counting::Part {
            service_key: &s.service_key,
            quantity: s.quantity,
            classes: &s.classes,
            notes: &s.notes,
        })
        .collect();
    crate::counting::explain(&parts, line.included)
}

/// The subscriptions that add up to a source, when there are several: `10 Monthly + 35
/// Annual (committed until 2027-06-21)`.
pub fn parts(source: &crate::plan::Source) -> Option<String> {
    if source.parts.len() < 2 {
        return None;
    }
    let each: Vec<String> = source
        .parts
        .iter()
        .map(|p| {
            let term = p.term.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
            let until = p.commitment_ends.map(|d| format!(" (committed until {d})")).unwrap_or_default();
            format!("{}{term}{until}", p.quantity)
        })
        .collect();
    Some(format!("{} = {}", source.quantity, each.join(" + ")))
}

/// Whether two skipped lines say the same about one company, so the plan shows them as one
/// row: the same line (company, agreement, product) and the same reason, or "no agreement
/// chosen", which differs per vendor only in the account to set.
pub fn same_skip(w: Wording, a: &PlanLine, b: &PlanLine) -> bool {
    let (Some(ra), Some(rb)) = (&a.reason, &b.reason) else { return false };
    a.action == Action::Skipped
        && b.action == Action::Skipped
        && (a.company_id, &a.company, a.agreement_id, a.product_id)
            == (b.company_id, &b.company, b.agreement_id, b.product_id)
        && ra.code() == rb.code()
        && (reason(w, ra) == reason(w, rb) || matches!(ra, Reason::NoAgreement { .. }))
}

/// The note of a row that stands for several skipped lines (`same_skip`).
pub fn merged_skip_note(w: Wording, lines: &[&PlanLine]) -> String {
    let Some(first) = lines.first().and_then(|l| l.reason.as_ref()) else { return String::new() };
    let Reason::NoAgreement { company_id, company, .. } = first else { return reason(w, first) };
    let accounts: Vec<String> = lines
        .iter()
        .filter_map(|l| match &l.reason {
            Some(Reason::NoAgreement { vendor, account_id, .. }) => {
                Some(format!("{vendor} {}", shell_word(account_id)))
            }
            _ => None,
        })
        .collect();
    format!(
        "no {container} chosen for {company} (it has none active, or several); see `recon companies --search` and \
         set one with `recon map accounts --vendor VENDOR --set ACCOUNT --company {company_id} {placeholder}` \
         for {}",
        accounts.join(" and "),
        container = w.container,
        placeholder = container_flag(w),
    )
}

/// A paced host's rate in a run: `connectwise: settled at 812/min of 1000 (lowest 640; 12 answered 429)`.
pub fn host_rate(r: &crate::rate::HostRate) -> String {
    let mut text = format!("{}: settled at {}/min of {} allowed", r.service, r.settled, r.ceiling);
    if r.throttled > 0 || r.lowest < r.settled {
        text.push_str(&format!(" (lowest {}/min; {} answered 429)", r.lowest, r.throttled));
    }
    text
}

/// Why a new line starts (or a dated change takes effect) when it does.
pub fn date_rule(w: Wording, rule: DateRule) -> String {
    match rule {
        DateRule::BillStart { date } => format!("the {} starts billing on {date}", w.container),
        DateRule::AlreadyInvoiced { next_invoice } => format!(
            "the period is already invoiced and the {} does not prorate; {} takes it from the next invoice date ({next_invoice})",
            w.container, w.name
        ),
        DateRule::Posted { .. } => {
            "the period before it is already posted for billing, so it takes effect when the next one starts"
                .to_string()
        }
        DateRule::NextInvoice { .. } => {
            format!("{}'s next invoice; its own pro-rata settings decide the part month", w.name)
        }
    }
}

/// A quantity change with its sign: `+3`, `-1.5`, `0`.
pub fn signed_quantity(d: Decimal) -> String {
    format!("{}{}", if d > Decimal::ZERO { "+" } else { "" }, crate::plan::format_quantity(Some(d)))
}

/// An amount with its sign and cents: `+90.00`, `-12.50`, `0.00`.
pub fn signed_amount(amount: Decimal) -> String {
    let text = format!("{:.2}", amount.abs());
    if amount > Decimal::ZERO {
        format!("+{text}")
    } else if amount < Decimal::ZERO {
        format!("-{text}")
    } else {
        text
    }
}

/// The money summary of a plan, in the PSA's currency.
pub fn totals_line(t: &MoneyTotals) -> String {
    let mut text = format!(
        "Monthly revenue: {} added, {} removed, net {} (margin {}).",
        signed_amount(t.revenue_added),
        signed_amount(-t.revenue_removed),
        signed_amount(t.net),
        signed_amount(t.margin_net)
    );
    if !t.held_net.is_zero() {
        text.push_str(&format!(" Held for review: net {}.", signed_amount(t.held_net)));
    }
    if t.unpriced > 0 {
        let are = if t.unpriced == 1 { "is" } else { "are" };
        text.push_str(&format!(" {} without a price {are} not counted.", plural(t.unpriced, "changed line")));
    }
    text
}

/// An agreement as a person picks it: its name and id, and whose child it is (a bundled
/// child shares its parent's invoice and holds its own additions).
pub fn agreement_label(a: &crate::model::BillingContainer) -> String {
    let number = a
        .number
        .as_deref()
        .filter(|n| !a.name.contains(n))
        .map(|n| format!(", number {n}"))
        .unwrap_or_default();
    match a.parent_id {
        Some(parent) => format!("{} (id {}{number}, child of {parent})", a.name, a.id),
        None => format!("{} (id {}{number})", a.name, a.id),
    }
}

/// Why a held change is not pushed on approval.
pub fn conflict(w: Wording, conflict: &Conflict) -> String {
    match conflict {
        Conflict::CostChangedMeanwhile { now, then } => format!(
            "the line's unit cost changed since it was held (then {}, now {}); not overwritten",
            then.map_or("none".to_string(), |c| format!("{c:.2}")),
            now.map_or("none".to_string(), |c| format!("{c:.2}"))
        ),
        Conflict::Incomplete => format!("the held line lacks a {}, product or quantity", w.container),
        Conflict::AdditionGone { addition_id } => {
            format!("{} {addition_id} is gone from {}; run `recon sync` to plan again", w.line, w.name)
        }
        Conflict::ChangedMeanwhile { now, then } => format!(
            "{} now holds {} (it held {} when the change was held); not overwritten: run `recon sync` to plan again",
            capitalized(w.name),
            crate::plan::format_quantity(Some(*now)),
            crate::plan::format_quantity(*then)
        ),
        Conflict::SeveralAdditions { count } => {
            format!("{count} active {}s of the product now; fix it in {}", w.line, w.name)
        }
        Conflict::TermsNotRead => {
            format!(
                "the {}'s billing terms were not found, so the new {} cannot be dated",
                w.container, w.line
            )
        }
        Conflict::NoUnitsOnDate { date } => {
            format!(
                "{} shows no units of the line in force on {date}; run `recon sync` to plan again",
                w.name
            )
        }
    }
}

/// Why the `[sync]` policy holds a change.
pub fn hold_text(hold: Hold) -> String {
    match hold {
        Hold::Increase => "increase held for review ([sync] increases = \"review\")".to_string(),
        Hold::Decrease => "decrease held for review ([sync] decreases = \"review\")".to_string(),
        Hold::ChangePercent { hundredths, limit } => {
            format!("change of {} exceeds max_change_percent = {limit}", percent(hundredths, limit))
        }
        Hold::ChangeAmount { amount, limit } => format!(
            "revenue change of {} a month exceeds max_change_amount = {}",
            signed_amount(amount),
            limit.normalize()
        ),
        Hold::OutsideChange { run_id, was, now } => format!(
            "changed in the PSA since run {run_id} (was {}, now {}); not overwritten ([sync] outside_changes = \"review\")",
            was.normalize(),
            now.normalize()
        ),
        Hold::Cost { from, to } => format!(
            "the unit cost would change from {} to {to:.2} (the vendor's); a cost change waits for review ([sync] update_costs = true)",
            from.map_or("none".to_string(), |f| format!("{f:.2}"))
        ),
        Hold::Commitment { ends } => format!(
            "seats committed until {ends}: the distributor refuses a decrease before then and the customer \
             owes them (`--committed-decreases apply` on the service mapping lets it through)"
        ),
    }
}

/// A write that needed more than one send, in words: `sent 2 times (1: an HTML page ...; 2:
/// applied)`; `None` for one send or none.
pub fn sends(attempts: &[String]) -> Option<String> {
    (attempts.len() > 1).then(|| {
        let each: Vec<String> = attempts.iter().enumerate().map(|(i, a)| format!("{}: {a}", i + 1)).collect();
        format!("sent {} times ({})", attempts.len(), each.join("; "))
    })
}

/// A price or cost finding in words.
pub fn finding(f: &crate::plan::Finding) -> String {
    use crate::plan::Finding;
    match *f {
        Finding::CostDiffers { vendor_cost, psa_cost: Some(psa), hundredths } => format!(
            "cost differs: the vendor charges {:.2} a unit, the PSA line says {:.2}{}",
            vendor_cost,
            psa,
            hundredths.map(|h| format!(" ({:+.1}%)", h as f64 / 100.0)).unwrap_or_default()
        ),
        Finding::CostDiffers { vendor_cost, psa_cost: None, .. } => {
            format!("cost missing: the vendor charges {vendor_cost:.2} a unit, the PSA line has no cost")
        }
        Finding::BelowCost { price, cost } => {
            format!("selling below cost: price {price:.2}, cost {cost:.2} a unit")
        }
        Finding::LowMargin { hundredths, min } => {
            format!("margin {:.1}% is under min_margin_percent = {min}", hundredths as f64 / 100.0)
        }
    }
}

/// `-62%`, `+150%`; with decimals only when the whole number would not show why the change
/// exceeds the limit (`+50.4%` against a limit of 50).
fn percent(hundredths: i64, limit: u32) -> String {
    let percent = hundredths as f64 / 100.0;
    if percent.abs().round() > f64::from(limit) {
        return format!("{percent:+.0}%");
    }
    let text = format!("{percent:+.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

fn unknown_text(u: &Unknown) -> String {
    match u {
        Unknown::VendorNotFetched { vendor } => format!("also fed by {vendor}, which this run did not fetch"),
        Unknown::VendorEmpty { vendor } => {
            format!("also fed by {vendor}, which returned no accounts in this run")
        }
        Unknown::AccountGone { vendor, account_name } => {
            format!("also fed by {vendor} account {account_name}, which {vendor} no longer lists")
        }
        Unknown::AccountFailed { vendor, account_name } => {
            format!("also fed by {vendor} account {account_name}, which could not be read")
        }
        Unknown::IdConflict { vendor, account_id } => {
            format!("also fed by {vendor} id {account_id}, which two differing records share")
        }
        Unknown::CountMissing { vendor, account_id, account_name, field } => {
            format!(
                "{vendor} gave no `{field}` for account {account_name} ({account_id}), so its usage is unknown"
            )
        }
    }
}

/// What recon does not know about an account, in a sentence.
pub fn problem_text(p: &AccountProblem) -> String {
    let who = format!("account {:?} ({})", p.account_name, p.account_id);
    match &p.kind {
        ProblemKind::MissingCount { field, .. } => {
            format!("{who}: `{field}` is missing or null, so its usage is unknown")
        }
        ProblemKind::Failed { message } => format!("{who}: {message}"),
        ProblemKind::Ambiguous { records } => format!(
            "id {:?} is shared by {} records that differ, so none is used: {}",
            p.account_id,
            records.len(),
            records.join("; ")
        ),
    }
}

/// An id as it would be typed in a shell: quoted when it holds anything but plain characters.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:@/+".contains(c));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// A plan line as `--json` shows it: its fields, the reason's text and its stable code.
#[derive(Serialize)]
pub struct LineJson<'a> {
    #[serde(flatten)]
    pub line: &'a PlanLine,
    /// `after - before` for a line that writes: the quantity change (Autotask's `unitChange`).
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub change: Option<Decimal>,
    pub reason: Option<String>,
    pub reason_code: Option<&'static str>,
    /// Price and cost findings, each its stable code and its sentence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingJson>,
    /// How its number was made, when a count rule made it: `52 = 40 WINDOWS_WORKSTATION +
    /// 12 MAC; 3 offline counted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<String>,
}

/// A finding as `--json` shows it.
#[derive(Serialize)]
pub struct FindingJson {
    pub code: &'static str,
    pub text: String,
}

impl<'a> LineJson<'a> {
    pub fn new(line: &'a PlanLine, w: Wording) -> LineJson<'a> {
        LineJson {
            line,
            change: line.action.writes().then(|| line.delta()).flatten(),
            reason: line.reason.as_ref().map(|r| reason(w, r)),
            reason_code: line.reason.as_ref().map(Reason::code),
            findings: line
                .findings
                .iter()
                .map(|f| FindingJson { code: f.code(), text: finding(f) })
                .collect(),
            counted: counted(line),
        }
    }
}

/// A plan as `--json` shows it.
#[derive(Serialize)]
pub struct PlanJson<'a> {
    pub period: String,
    pub lines: Vec<LineJson<'a>>,
    pub warnings: Vec<String>,
    /// What the plan's writes are worth a month, from its lines' own amounts.
    pub totals: MoneyTotals,
}

impl<'a> PlanJson<'a> {
    pub fn new(plan: &'a Plan, w: Wording) -> PlanJson<'a> {
        PlanJson {
            period: plan.period.to_string(),
            lines: plan.lines.iter().map(|l| LineJson::new(l, w)).collect(),
            warnings: plan.warnings.iter().map(|r| warning(w, r)).collect(),
            totals: plan.totals(),
        }
    }
}

/// A recorded change as `--json` shows it: the line (with its reason's text and code), its
/// ledger id, run, state and outcome.
#[derive(Serialize)]
pub struct ChangeJson<'a> {
    pub id: i64,
    pub run_id: i64,
    #[serde(flatten)]
    pub line: LineJson<'a>,
    pub state: crate::plan::ChangeState,
    pub error: Option<&'a str>,
    /// Each send of its write and what answered it (a write sent again after a lost answer).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub attempts: &'a [String],
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> ChangeJson<'a> {
    pub fn new(c: &'a crate::store::ChangeRecord, w: Wording) -> ChangeJson<'a> {
        ChangeJson {
            id: c.id,
            run_id: c.run_id,
            line: LineJson::new(&c.line, w),
            state: c.state,
            error: c.error.as_deref(),
            attempts: &c.attempts,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }

    pub fn all(changes: &'a [crate::store::ChangeRecord], w: Wording) -> Vec<ChangeJson<'a>> {
        changes.iter().map(|c| ChangeJson::new(c, w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_table() {
        for (n, noun, want) in [
            (1, "account", "1 account"),
            (0, "account", "0 accounts"),
            (3, "service", "3 services"),
            (2, "company", "2 companies"),
            (1, "company", "1 company"),
            (4, "day", "4 days"),
        ] {
            assert_eq!(plural(n, noun), want);
        }
    }

    #[test]
    fn percents_show_decimals_only_when_they_explain_the_hold() {
        for (hundredths, limit, want) in [
            (-6250, 50, "-62%"),
            (15000, 50, "+150%"),
            (5040, 50, "+50.4%"),
            (5001, 50, "+50.01%"),
            (-10000, 50, "-100%"),
            (8000, 50, "+80%"),
        ] {
            assert_eq!(percent(hundredths, limit), want, "{hundredths}");
        }
    }

    #[test]
    fn every_reason_has_a_code_and_a_sentence() {
        let reasons = [
            Reason::NothingToBill,
            Reason::TooLarge,
            Reason::Held { hold: Hold::Decrease },
            Reason::UsageUnknown {
                unknown: vec![Unknown::VendorNotFetched { vendor: "v".into() }],
                partial: true,
            },
        ];
        for r in &reasons {
            assert!(!reason(Wording::NEUTRAL, r).is_empty() && !r.code().is_empty());
        }
        assert_eq!(reasons[3].code(), "partial_sum");
        assert_eq!(
            reason(Wording::NEUTRAL, &reasons[3]),
            "also fed by v, which this run did not fetch; a partial sum is never pushed"
        );
    }
}
