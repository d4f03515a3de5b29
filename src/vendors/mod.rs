//! Vendor adapters. Each module speaks one vendor's wire format and yields the shared
//! `VendorSnapshot`; the rest of recon never sees a vendor's JSON. Adding a vendor is one
//! module with its `REGISTRATION` (`registry`), and its name in the list below.

pub(crate) mod devices;
pub(crate) mod distributor;
pub mod registry;

/// Declares each vendor's module and registers it, in the order `recon init` shows them.
macro_rules! vendors {
    ($($vendor:ident),* $(,)?) => {
        $(pub mod $vendor;)*
        /// The registered vendors.
        pub static VENDORS: &[registry::VendorKind] = &[$(registry::VendorKind(&$vendor::REGISTRATION)),*];
    };
}

vendors![
    nodeware,
    huntress,
    saas_alerts,
    nordlayer,
    pax8,
    sherweb,
    sophos,
    ninjaone,
    datto_rmm,
    sentinelone,
    nordpass,
    csv
];

use crate::http::{Http, HttpError, Request, decode_json, display_url};
use crate::invoice::{self, MonthRead};
use crate::model::{AccountProblem, ProblemKind, Usage, VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use registry::{VendorKind, VendorSource};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use url::Url;

/// One configured vendor, validated: what `fetch` needs.
#[derive(Debug, Clone)]
pub struct VendorConfig {
    /// The section name, `[vendors.<name>]`: how the user refers to the vendor.
    pub name: String,
    pub kind: VendorKind,
    /// Its section, read by its own module.
    pub source: Arc<dyn VendorSource>,
    /// Per-host request budget shared by all workers (the section's, else the vendor's
    /// documented one).
    pub requests_per_minute: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{vendor}: {url}: {message}")]
    BadData { vendor: String, url: String, message: String },
    #[error("{vendor}: {message}")]
    Unsupported { vendor: String, message: String },
    /// The month asked for is not published yet, empty, or still open at the vendor:
    /// unknown, never zero.
    #[error("{vendor}: {period} is not available: {reason}; nothing is billed from it")]
    NotAvailable { vendor: String, period: Period, reason: String },
    #[error("{vendor}: {message}")]
    Other { vendor: String, message: String },
    /// A vendor file (CSV export) with problems; nothing from it is used.
    #[error("{vendor}: {path}: {}", list_problems(.problems))]
    BadFile { vendor: String, path: String, problems: Vec<String> },
}

/// The most problems a `BadFile` error lists; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 20;

fn list_problems(problems: &[String]) -> String {
    let mut out = format!(
        "{} problem{}; nothing was imported from the file",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems.iter().take(MAX_LISTED_PROBLEMS) {
        out.push_str("\n  ");
        out.push_str(p);
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        out.push_str(&format!("\n  and {} more", problems.len() - MAX_LISTED_PROBLEMS));
    }
    out
}

/// Fetch a vendor's accounts, services and usage for `period`. `current` is the period
/// containing today: vendors with a live API report only that one.
pub fn fetch(
    config: &VendorConfig,
    http: &Http,
    period: Period,
    current: Period,
) -> Result<VendorSnapshot, VendorError> {
    if let (Some(url), Some(rpm)) = (config.source.api_url(), config.requests_per_minute) {
        http.limit_host(&config.name, url, rpm);
    }
    if config.kind.is_live() && period != current {
        if config.kind.answers_months() {
            return fetch_month(config, http, period);
        }
        return Err(VendorError::Unsupported {
            vendor: config.name.clone(),
            message: format!(
                "{} reports only current usage, so it cannot give usage for {period}; run with --period current (or leave it out)",
                config.kind
            ),
        });
    }
    config.source.fetch(&config.name, http, current)
}

/// What a vendor that answers months invoiced for `period`, netted into a snapshot that
/// carries the documents it comes from (the database keeps every version of them).
fn fetch_month(config: &VendorConfig, http: &Http, period: Period) -> Result<VendorSnapshot, VendorError> {
    let documents = match config.source.fetch_month(&config.name, http, period)? {
        MonthRead::Available(documents) => documents,
        MonthRead::NotAvailable(reason) => {
            return Err(VendorError::NotAvailable { vendor: config.name.clone(), period, reason });
        }
    };
    let charges = invoice::net(&documents)
        .map_err(|message| VendorError::Other { vendor: config.name.clone(), message })?;
    let mut snapshot = distributor::of_charges(&charges);
    snapshot.documents = documents;
    Ok(snapshot)
}

/// An answer of `path` (under `base`) that cannot be billed from: the vendor and the URL
/// named, the URL without its query.
fn bad_data(vendor: &str, base: &Url, path: &str, message: &str) -> VendorError {
    let url = endpoint(vendor, base, path).map(|u| display_url(&u)).unwrap_or_default();
    VendorError::BadData { vendor: vendor.to_string(), url, message: message.to_string() }
}

/// Join a path onto a configured base URL, keeping any path prefix the base has.
fn endpoint(vendor: &str, base: &Url, path: &str) -> Result<Url, VendorError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path.trim_start_matches('/')).map_err(|e| VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("cannot build the URL for {path} from base_url {}: {e}", display_url(&base)),
    })
}

/// Send a GET and decode its JSON into the raw records and their typed wire view, naming the
/// index and field path of anything that does not fit.
fn get_records<T: DeserializeOwned>(
    vendor: &str,
    http: &Http,
    request: Request,
    pick: impl Fn(serde_json::Value) -> Option<serde_json::Value>,
) -> Result<(Vec<(T, serde_json::Value)>, serde_json::Value), VendorError> {
    let response = http.send(&request)?;
    let document: serde_json::Value = decode_json(vendor, &request.url, &response.body)?;
    let records = pick(document.clone()).ok_or_else(|| VendorError::BadData {
        vendor: vendor.to_string(),
        url: display_url(&request.url),
        message: "the response does not hold the expected list of records".to_string(),
    })?;
    let serde_json::Value::Array(items) = records else {
        return Err(VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(&request.url),
            message: "expected a JSON array of records".to_string(),
        });
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, raw) in items.into_iter().enumerate() {
        let typed = serde_path_to_error::deserialize::<_, T>(&raw).map_err(|e| VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(&request.url),
            message: format!("record [{index}] at `{}`: {}", e.path(), e.inner()),
        })?;
        out.push((typed, raw));
    }
    Ok((out, document))
}

/// What one count field says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Count {
    Known(u32),
    /// Absent or null: unknown, never zero. Holds the field name.
    Missing(String),
    /// Not a whole number of zero or more: the account fails. Holds the message.
    Bad(String),
}

impl Count {
    /// Two fields that add up to one count (Nodeware's internal + external assets): the sum
    /// is known only when both are.
    pub fn plus(self, other: Count) -> Count {
        match (self, other) {
            (Count::Bad(e), _) | (_, Count::Bad(e)) => Count::Bad(e),
            (Count::Missing(f), _) | (_, Count::Missing(f)) => Count::Missing(f),
            (Count::Known(a), Count::Known(b)) => match a.checked_add(b) {
                Some(sum) => Count::Known(sum),
                None => Count::Bad(format!("{a} + {b} is larger than any real licence count")),
            },
        }
    }
}

/// A vendor count: a whole non-negative number, or a string holding one. Absent or null is
/// `Missing` (unknown, never read as zero); anything else is `Bad`, naming the field.
pub(crate) fn count(field: &str, value: Option<&serde_json::Value>) -> Count {
    let bad = |why: String| Count::Bad(format!("`{field}` {why}"));
    let n = match value {
        None | Some(serde_json::Value::Null) => return Count::Missing(field.to_string()),
        Some(serde_json::Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                u
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0) {
                f as u64
            } else {
                return bad(format!("is {n}: quantities must be whole numbers of zero or more"));
            }
        }
        Some(serde_json::Value::String(s)) => match s.trim().parse::<u64>() {
            Ok(n) => n,
            Err(_) => return bad(format!("is {s:?}: quantities must be whole numbers of zero or more")),
        },
        Some(other) => return bad(format!("is {other}: expected a number")),
    };
    match u32::try_from(n) {
        Ok(q) => Count::Known(q),
        Err(_) => bad(format!("is {n}: larger than any real licence count")),
    }
}

/// A field by name; `a.b` reads `b` inside `a`.
pub(crate) fn field<'a>(document: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    name.split('.').try_fold(document, |value, key| value.get(key))
}

/// Builds a `VendorSnapshot` with the rules every adapter shares: an account's counts are
/// known, missing (that service is unknown) or bad (the whole account fails), and an account
/// whose read failed is listed with its usage unknown.
pub(crate) struct Builder {
    snapshot: VendorSnapshot,
}

impl Builder {
    pub fn new(services: Vec<VendorService>) -> Builder {
        Builder { snapshot: VendorSnapshot { services, ..VendorSnapshot::default() } }
    }

    /// One account and its counts by service key.
    pub fn account(&mut self, account: VendorAccount, counts: Vec<(&str, Count)>) {
        let mut usage = Vec::with_capacity(counts.len());
        let mut missing = Vec::new();
        for (service_key, count) in counts {
            match count {
                Count::Known(quantity) => usage.push(Usage {
                    account_id: account.id.clone(),
                    service_key: service_key.to_string(),
                    quantity,
                    ..Usage::default()
                }),
                Count::Missing(field) => {
                    missing.push(ProblemKind::MissingCount { service_key: service_key.to_string(), field })
                }
                Count::Bad(message) => return self.failed(account, message),
            }
        }
        self.snapshot.usage.extend(usage);
        for kind in missing {
            self.problem(&account, kind);
        }
        self.snapshot.accounts.push(account);
    }

    /// One account's billable devices by class (an RMM's or EDR's), with what the vendor's
    /// billing rule counted or left out.
    pub fn devices(
        &mut self,
        account: VendorAccount,
        service_key: &str,
        classes: std::collections::BTreeMap<String, u32>,
        notes: Vec<crate::model::CountNote>,
    ) {
        let Some(quantity) = classes.values().try_fold(0u32, |sum, n| sum.checked_add(*n)) else {
            return self.failed(account, "more devices than any real fleet has".to_string());
        };
        self.count(account, service_key, quantity, classes, notes);
    }

    /// One account's known count of one service, with its classes and notes.
    pub fn count(
        &mut self,
        account: VendorAccount,
        service_key: &str,
        quantity: u32,
        classes: std::collections::BTreeMap<String, u32>,
        notes: Vec<crate::model::CountNote>,
    ) {
        self.snapshot.usage.push(Usage {
            account_id: account.id.clone(),
            service_key: service_key.to_string(),
            quantity,
            classes,
            notes,
        });
        self.snapshot.accounts.push(account);
    }

    /// An account that is listed but whose usage could not be read: all of it is unknown.
    pub fn failed(&mut self, account: VendorAccount, message: String) {
        self.problem(&account, ProblemKind::Failed { message });
        self.snapshot.accounts.push(account);
    }

    fn problem(&mut self, account: &VendorAccount, kind: ProblemKind) {
        self.snapshot.problems.push(AccountProblem {
            account_id: account.id.clone(),
            account_name: account.name.clone(),
            kind,
        });
    }

    /// An id shared by records that differ: listed as a problem, never as an account.
    pub fn ambiguous(&mut self, id: &str, name: &str, records: Vec<String>) {
        self.snapshot.problems.push(AccountProblem {
            account_id: id.to_string(),
            account_name: name.to_string(),
            kind: ProblemKind::Ambiguous { records },
        });
    }

    pub fn note(&mut self, note: String) {
        self.snapshot.notes.push(note);
    }

    pub fn finish(self) -> VendorSnapshot {
        self.snapshot
    }
}

/// Records of one vendor grouped by id, in first-seen order: an id listed several times
/// with identical records (a page overlap) is kept once, with a note; an id whose records
/// differ is ambiguous and left out, each record described, so nothing is merged and
/// nothing is guessed.
pub(crate) fn unique_records<T>(
    builder: &mut Builder,
    records: Vec<(T, serde_json::Value)>,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Vec<(T, serde_json::Value)> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, Vec<(T, serde_json::Value)>> =
        std::collections::HashMap::new();
    for (record, raw) in records {
        let key = id(&record).to_string();
        let group = groups.entry(key.clone()).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push((record, raw));
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let Some(mut group) = groups.remove(&key) else { continue };
        let first_raw = group[0].1.clone();
        if group.iter().all(|(_, raw)| *raw == first_raw) {
            if group.len() > 1 {
                builder.note(format!(
                    "id {key:?} ({}) is listed {} times with identical records; counted once",
                    name(&group[0].0),
                    group.len()
                ));
            }
            group.truncate(1);
            out.extend(group);
        } else {
            let described = group.iter().map(|(_, raw)| describe_record(raw)).collect();
            builder.ambiguous(&key, name(&group[0].0), described);
        }
    }
    out
}

/// A record as one short line of JSON, for a message that must name it.
fn describe_record(raw: &serde_json::Value) -> String {
    let text = raw.to_string();
    if text.chars().count() <= 160 {
        text
    } else {
        format!("{}...", text.chars().take(160).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_accept_whole_numbers_only_and_missing_is_not_zero() {
        let missing = || Count::Missing("seats".to_string());
        let cases = [
            (Some(json!(12)), Ok(Count::Known(12))),
            (Some(json!(0)), Ok(Count::Known(0))),
            (Some(json!("57")), Ok(Count::Known(57))),
            (Some(json!(" 7 ")), Ok(Count::Known(7))),
            (Some(json!(3.0)), Ok(Count::Known(3))),
            (Some(json!(null)), Ok(missing())),
            (None, Ok(missing())),
            (Some(json!(-1)), Err("whole numbers")),
            (Some(json!(2.5)), Err("whole numbers")),
            (Some(json!("ten")), Err("\"ten\"")),
            (Some(json!("-3")), Err("whole numbers")),
            (Some(json!("")), Err("whole numbers")),
            (Some(json!(true)), Err("expected a number")),
            (Some(json!(9_999_999_999u64)), Err("larger than")),
        ];
        for (value, want) in cases {
            match (count("seats", value.as_ref()), want) {
                (got, Ok(w)) => assert_eq!(got, w, "{value:?}"),
                (Count::Bad(text), Err(needle)) => {
                    assert!(text.contains(needle) && text.contains("`seats`"), "{value:?}: {text}")
                }
                (got, Err(needle)) => panic!("{value:?}: got {got:?}, want an error with {needle}"),
            }
        }
    }

    #[test]
    fn a_sum_is_known_only_when_both_parts_are() {
        let k = Count::Known;
        let m = || Count::Missing("internal".to_string());
        let b = || Count::Bad("bad".to_string());
        assert_eq!(k(40).plus(k(3)), k(43));
        assert_eq!(k(0).plus(k(0)), k(0));
        assert_eq!(m().plus(k(3)), m());
        assert_eq!(k(3).plus(m()), m());
        assert_eq!(b().plus(m()), b());
        assert_eq!(m().plus(b()), b());
        assert!(matches!(k(u32::MAX).plus(k(1)), Count::Bad(_)));
    }

    fn account(id: &str, name: &str) -> VendorAccount {
        VendorAccount { id: id.into(), name: name.into(), status: None, raw: json!({"id": id, "name": name}) }
    }

    #[test]
    fn builder_skips_unknown_counts_and_fails_bad_ones() {
        let mut b = Builder::new(Vec::new());
        b.account(
            account("a", "Acme"),
            vec![("x", Count::Known(4)), ("y", Count::Missing("y_count".into()))],
        );
        b.account(account("s", "Stark"), vec![("x", Count::Known(9)), ("y", Count::Bad("`y` is -1".into()))]);
        b.failed(account("w", "Wayne"), "usage call answered 500".into());
        let s = b.finish();
        // Every account is listed (none "vanished"); only known counts are usage.
        assert_eq!(s.accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a", "s", "w"]);
        assert_eq!(
            s.usage,
            vec![Usage { account_id: "a".into(), service_key: "x".into(), quantity: 4, ..Usage::default() }]
        );
        let problems: Vec<String> = s.problems.iter().map(crate::output::wording::problem_text).collect();
        assert_eq!(
            problems,
            [
                "account \"Acme\" (a): `y_count` is missing or null, so its usage is unknown",
                "account \"Stark\" (s): `y` is -1",
                "account \"Wayne\" (w): usage call answered 500",
            ]
        );
        let failed: Vec<&str> = s.failed_accounts().iter().map(|p| p.account_id.as_str()).collect();
        assert_eq!(failed, ["s", "w"], "a missing count is unknown, not a failure");
        assert_eq!(s.listed_accounts(), 3);
    }

    #[test]
    fn duplicate_ids_count_once_when_identical_and_are_never_merged_when_they_differ() {
        let rec = |id: &str, name: &str, n: u32| (id.to_string(), json!({"id": id, "name": name, "n": n}));
        let records = vec![
            rec("acme", "Acme Corp", 43),
            rec("wayne", "Wayne", 1),
            rec("acme", "Acme Corp", 10),
            rec("stark", "Stark", 9),
            rec("wayne", "Wayne", 1),
            rec("acme", "Stark", 9),
        ];
        let mut b = Builder::new(Vec::new());
        let unique = unique_records(&mut b, records, |id| id, |id| id);
        assert_eq!(unique.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["wayne", "stark"]);
        let s = b.finish();
        assert_eq!(s.notes, ["id \"wayne\" (wayne) is listed 2 times with identical records; counted once"]);
        assert_eq!(s.problems.len(), 1);
        let text = crate::output::wording::problem_text(&s.problems[0]);
        assert!(
            text.starts_with("id \"acme\" is shared by 3 records that differ, so none is used: "),
            "{text}"
        );
        for needle in ["\"n\":43", "\"n\":10", "\"name\":\"Stark\""] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(s.listed_accounts(), 1, "the ambiguous id counts as listed");
        assert_eq!(s.failed_accounts().len(), 1);
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://x.example.com/prefix").unwrap();
        assert_eq!(
            endpoint("v", &base, "/api/v4/customers/").unwrap().as_str(),
            "https://x.example.com/prefix/api/v4/customers/"
        );
        let root = Url::parse("https://x.example.com").unwrap();
        assert_eq!(
            endpoint("v", &root, "/v1/organizations").unwrap().as_str(),
            "https://x.example.com/v1/organizations"
        );
    }
}
