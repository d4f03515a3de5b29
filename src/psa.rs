//! The PSA seam. The core and the commands speak only the neutral records of `model`
//! (`PsaCompany`, `BillingContainer`, `BillingLine`, `BillingTerms`, `CatalogProduct`) and ask
//! a PSA what it can do (`Profile`): how it changes a quantity, what it can create, the words
//! its users know. Each PSA implements [`Psa`] in its own folder beside its client
//! (`connectwise/`, `autotask/`, ...); `crate::PSAS` lists them. Adding a PSA is that
//! folder and one line there.

use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany, QuantityWrites};
use crate::plan::PlanLine;
use chrono::NaiveDate;
use std::collections::BTreeMap;

pub mod registry;

pub use registry::{PsaKind, PsaSettings, Registration};

/// A PSA call that failed: what kind of failure (what the write path decides on) and the
/// sentence people read.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PsaError {
    kind: PsaErrorKind,
    message: String,
}

/// What went wrong with a PSA call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsaErrorKind {
    /// Throttled (a 429, a spent hourly budget): nothing happened; `wait` is what the PSA
    /// asked for, when it said.
    RateLimited { wait: Option<std::time::Duration> },
    /// The credentials were refused.
    Auth,
    /// The API user lacks a permission: `missing` names it, when the PSA's folder knows.
    Permission { missing: Option<String> },
    /// The PSA answered and refused the request (a 4xx, a validation): `reason` is its own.
    Refused { reason: String },
    /// What was asked for is not there (a 404).
    NotFound,
    /// The request may not have arrived, or its answer was lost (timeout, reset, a 5xx): a
    /// write may have happened.
    Transport,
    /// An answer recon could not read (after the PSA may have acted on the request).
    Malformed,
}

impl PsaErrorKind {
    /// The kind of a failed HTTP call, as most PSAs answer: 401 auth, 403 permission, 404
    /// not found, 429 throttled, another 4xx a refusal, a 5xx or no answer transport, an
    /// unreadable answer malformed. A PSA whose answers mean more maps them in its folder
    /// first (a permission by name, a spent budget); Autotask's 500 for a validation stays
    /// transport, settled by reading like a lost answer.
    pub fn of_http(e: &crate::http::HttpError) -> PsaErrorKind {
        use crate::http::HttpError;
        match e {
            HttpError::Status { status: 401, .. } => PsaErrorKind::Auth,
            HttpError::Status { status: 403, .. } => PsaErrorKind::Permission { missing: None },
            HttpError::Status { status: 404, .. } => PsaErrorKind::NotFound,
            HttpError::Status { status: 429, retry_after, .. } => {
                PsaErrorKind::RateLimited { wait: *retry_after }
            }
            HttpError::Status { status: 400..=499, detail, .. } => {
                PsaErrorKind::Refused { reason: detail.clone() }
            }
            HttpError::Status { .. } | HttpError::Transport { .. } => PsaErrorKind::Transport,
            HttpError::TooLarge { .. } | HttpError::Decode { .. } => PsaErrorKind::Malformed,
        }
    }

    /// The PSA surely did nothing with the request, so a write needs no settling read and is
    /// never sent again in this run.
    pub fn nothing_happened(&self) -> bool {
        match self {
            PsaErrorKind::RateLimited { .. }
            | PsaErrorKind::Auth
            | PsaErrorKind::Permission { .. }
            | PsaErrorKind::Refused { .. }
            | PsaErrorKind::NotFound => true,
            PsaErrorKind::Transport | PsaErrorKind::Malformed => false,
        }
    }
}

impl PsaError {
    pub fn new(kind: PsaErrorKind, message: impl Into<String>) -> PsaError {
        PsaError { kind, message: message.into() }
    }

    /// The PSA (or recon before sending) refused the request for `reason`: nothing happened.
    pub fn refused(reason: impl Into<String>) -> PsaError {
        let reason = reason.into();
        PsaError { kind: PsaErrorKind::Refused { reason: reason.clone() }, message: reason }
    }

    pub fn kind(&self) -> &PsaErrorKind {
        &self.kind
    }
}

/// What a PSA is and can do, as the core and the commands ask it. Words are what its users
/// read in its own screens; the documented JSON names stay neutral (`agreement_id`,
/// `addition_id`) and the README maps them per PSA.
#[derive(Debug)]
pub struct Profile {
    /// As people read it: "ConnectWise".
    pub name: &'static str,
    /// What holds a customer's billing lines: "agreement", "contract", "recurring invoice".
    pub container: &'static str,
    /// The option that names one in `map accounts --set`: `--agreement`, `--contract`,
    /// `--invoice` (each PSA's is an alias of the others).
    pub container_option: &'static str,
    /// How a person names one there, for `--help`: "a ConnectWise agreement (name or id)".
    pub container_reference: &'static str,
    /// One billing line: "addition", "contract service", "recurring invoice line".
    pub line: &'static str,
    /// What a vendor service maps to: "catalog product", "Service", "Item".
    pub product: &'static str,
    /// How a product is named in `--product`, for an error: "identifier", "name".
    pub product_reference: &'static str,
    /// How it changes a quantity.
    pub writes: QuantityWrites,
}

/// The billing lines of every container that could be read, and the error of each that
/// could not (after its retries), by container id. A failed container is never an empty list.
pub struct LinesRead {
    pub lines: BTreeMap<i64, Vec<BillingLine>>,
    pub failed: Vec<(i64, String)>,
}

/// One PSA client, as every command and the write path use it.
pub trait Psa: Sync {
    fn profile(&self) -> &'static Profile;

    /// Its name, as people read it.
    fn name(&self) -> &'static str {
        self.profile().name
    }

    /// What it calls the container of billing lines.
    fn container_word(&self) -> &'static str {
        self.profile().container
    }

    fn writes(&self) -> QuantityWrites {
        self.profile().writes
    }

    /// `recon check`: try the credentials and each permission recon needs, and say what was
    /// found (a failure names the missing permission).
    fn check(&self) -> Result<String, PsaError>;

    /// Active customer companies.
    fn companies(&self) -> Result<Vec<PsaCompany>, PsaError>;

    /// The containers recon may write to, of one company or of all, in force `today`.
    fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, PsaError>;

    /// The billing lines of each container, in as few reads as the PSA allows (dated lines
    /// with their units from `since` on), calling `done(n)` as `n` more are read.
    fn read_lines(&self, ids: &[i64], since: NaiveDate, workers: usize, done: &dyn Fn(u64)) -> LinesRead;

    /// The lines of one container (to settle a write whose answer was lost).
    fn lines(&self, id: i64, since: NaiveDate) -> Result<Vec<BillingLine>, PsaError> {
        let mut read = self.read_lines(&[id], since, 1, &|_| {});
        match read.failed.pop() {
            Some((_, e)) => Err(PsaError::new(PsaErrorKind::Transport, e)),
            None => Ok(read.lines.remove(&id).unwrap_or_default()),
        }
    }

    fn billing_terms(&self, ids: &[i64], since: NaiveDate) -> Result<Vec<BillingTerms>, PsaError>;

    /// Catalog products by id, with the price of a new line.
    fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, PsaError>;

    /// Products whose id, or identifier (the PSA's name for it), is `reference`.
    fn find_products(&self, reference: &str) -> Result<Vec<CatalogProduct>, PsaError>;

    /// Every active product (for suggestions), or every product when `all`.
    fn products(&self, all: bool) -> Result<Vec<CatalogProduct>, PsaError>;

    /// Before a push: refuse one that the PSA's remaining budget cannot finish; `requests` is
    /// what the push needs. Returns what was found, for the log.
    fn check_budget(&self, _requests: u64) -> Result<Option<String>, PsaError> {
        Ok(None)
    }

    /// Requests a push of `lines` needs beyond one per write (a read of a new line's id).
    fn extra_requests(&self, _lines: &[PlanLine]) -> u64 {
        0
    }

    /// Whether writing `line` sets an absolute value, so that sending it again after a lost
    /// answer is harmless (a create or a delta is never repeatable).
    fn repeatable(&self, _line: &PlanLine) -> bool {
        false
    }

    /// For a PSA that dates changes and refuses them in posted periods: the first day a change
    /// may take effect in a container whose lines were just read (`lines`), if any is posted.
    fn open_day(&self, _lines: &[BillingLine]) -> Option<NaiveDate> {
        None
    }

    /// Apply one writing plan line; returns the id of the billing line it set or created
    /// (`None` when an add was applied but the new line's id could not be read).
    fn write(&self, line: &PlanLine) -> Result<Option<i64>, PsaError>;

    /// Whether the PSA writes a container whole (Halo re-posts a recurring invoice with every
    /// line): then `apply` hands `write_together` every change of one container at once, so
    /// a container changes in one write whatever the number of its changed lines.
    fn writes_whole_container(&self) -> bool {
        false
    }

    /// Apply `lines` (of one container, when `writes_whole_container`; else one line) in one
    /// write, all or none; returns the id of each line's billing line, in order.
    fn write_together(&self, lines: &[&PlanLine]) -> Result<Vec<Option<i64>>, PsaError> {
        match lines {
            [line] => Ok(vec![self.write(line)?]),
            _ => Err(PsaError::refused(format!("{} writes one line at a time", self.name()))),
        }
    }

    /// Creating catalog products, for a PSA that lets recon (`map services --create-product`).
    fn catalog_admin(&self) -> Option<&dyn CatalogAdmin> {
        None
    }
}

/// Creating products in the PSA's catalog, and the set-up tables a new one needs.
pub trait CatalogAdmin {
    fn tables(&self, table: CatalogTable) -> Result<Vec<TableEntry>, PsaError>;
    fn create_product(&self, new: &NewProduct) -> Result<CatalogProduct, PsaError>;
    /// The longest identifier the catalog takes.
    fn identifier_max(&self) -> usize;
    /// The config's defaults for a new product's subcategory and type ids.
    fn defaults(&self) -> (Option<i64>, Option<i64>);
    /// Where those defaults are set, for a hint: "[connectwise] product_subcategory_id".
    fn defaults_section(&self) -> &'static str;
}

/// Which of the catalog's set-up tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogTable {
    Subcategories,
    Types,
}

/// One entry of a set-up table: a subcategory (with its category) or a product type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableEntry {
    pub id: i64,
    pub name: String,
    pub category: Option<String>,
    pub inactive: bool,
}

/// A new catalog product: every field a catalog requires.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub identifier: String,
    pub description: String,
    pub customer_description: String,
    pub subcategory_id: i64,
    pub type_id: i64,
}

/// The lines of `ids` read one container at a time, spread over `workers`: for a PSA whose
/// API has no read across containers.
pub fn read_each<F>(ids: &[i64], workers: usize, done: &dyn Fn(u64), read: F) -> LinesRead
where
    F: Fn(i64) -> Result<Vec<BillingLine>, PsaError> + Sync,
{
    let mut lines = BTreeMap::new();
    let mut failed = Vec::new();
    crate::workers::for_each(
        ids,
        workers,
        |id| read(*id),
        |i, result| {
            done(1);
            match result {
                Ok(list) => {
                    lines.insert(ids[i], list);
                }
                Err(e) => failed.push((ids[i], e.to_string())),
            }
        },
    );
    failed.sort();
    LinesRead { lines, failed }
}

#[cfg(test)]
mod error_tests {
    use super::PsaErrorKind;
    use crate::http::HttpError;
    use reqwest::Method;
    use std::time::Duration;

    fn status(status: u16, retry_after: Option<Duration>) -> HttpError {
        HttpError::Status {
            service: "psa".into(),
            method: Method::POST,
            url: "https://psa.example.com/x".into(),
            status,
            detail: "the PSA's own words".into(),
            retry_after,
        }
    }

    /// The write path decides on the kind: nothing happened (no settling read, never sent
    /// again), or it may have (read what the PSA holds before anything is sent again).
    #[test]
    fn each_http_failure_keeps_its_kind_and_says_whether_the_psa_may_have_acted() {
        let transport = HttpError::Transport {
            service: "psa".into(),
            method: Method::POST,
            url: "u".into(),
            reason: "reset".into(),
        };
        let decode = HttpError::Decode {
            service: "psa".into(),
            url: "u".into(),
            path: "id".into(),
            message: "m".into(),
        };
        let cases = [
            (status(401, None), PsaErrorKind::Auth, true),
            (status(403, None), PsaErrorKind::Permission { missing: None }, true),
            (status(404, None), PsaErrorKind::NotFound, true),
            (
                status(429, Some(Duration::from_secs(7))),
                PsaErrorKind::RateLimited { wait: Some(Duration::from_secs(7)) },
                true,
            ),
            (status(409, None), PsaErrorKind::Refused { reason: "the PSA's own words".into() }, true),
            (status(500, None), PsaErrorKind::Transport, false),
            (status(503, None), PsaErrorKind::Transport, false),
            (transport, PsaErrorKind::Transport, false),
            (decode, PsaErrorKind::Malformed, false),
        ];
        for (error, kind, nothing) in cases {
            let got = PsaErrorKind::of_http(&error);
            assert_eq!(got, kind, "{error}");
            assert_eq!(got.nothing_happened(), nothing, "{error}");
        }
    }
}
