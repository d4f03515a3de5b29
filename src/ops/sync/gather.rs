//! The first stage: every selected vendor's usage and the PSA's lines, terms and prices,
//! read at the same time. A vendor that fails costs only its own reads; one vendor's
//! failure never stops the others.

use super::Mappings;
use crate::apply;
use crate::config::Config;
use crate::http::Http;
use crate::model::{BillCustomer, BillingLine, BillingTerms, CatalogProduct, VendorSnapshot};
use crate::ops::Reporter;
use crate::period::Period;
use crate::psa::{Psa, PsaError};
use crate::reconcile;
use crate::store::Store;
use crate::vendors::{self, VendorConfig, VendorError};
use std::collections::{BTreeMap, BTreeSet};

/// What a sync (or an audit) is asked to plan.
pub struct Request<'a> {
    pub config: &'a Config,
    pub vendors: &'a [&'a VendorConfig],
    pub period: Period,
    /// The period containing today.
    pub current: Period,
    /// `--accept-drop`: the outage guard lets a fallen total through.
    pub accept_drop: bool,
    pub options: apply::Options,
}

/// What the PSA answered for the run.
pub struct PsaRead<'h> {
    pub psa: Box<dyn Psa + 'h>,
    /// Agreement id -> its billing lines (dated ones from the period's first day on).
    pub additions: BTreeMap<i64, Vec<BillingLine>>,
    /// Agreements whose lines could not be read, with why: their lines are skipped.
    pub unread_agreements: Vec<(i64, String)>,
    pub terms: BTreeMap<i64, BillingTerms>,
    /// The mapped products' catalog prices and costs, for new lines.
    pub catalog: BTreeMap<i64, CatalogProduct>,
    /// The other reads that failed (terms, catalog), as said.
    pub failures: Vec<String>,
    /// How new lines are billed (the PSA section's setting).
    pub bill_customer: BillCustomer,
}

/// The stage after `gather`: the mappings, what the PSA holds, and each vendor's answer in
/// the order asked.
pub struct Gathered<'h> {
    pub mappings: Mappings,
    pub psa: PsaRead<'h>,
    pub fetched: Vec<(String, Result<VendorSnapshot, VendorError>)>,
}

/// Read the mappings, then the vendors and the PSA at once: the lines of every agreement
/// the selected vendors map to, their billing terms, and the mapped products' prices.
pub fn gather<'h>(
    request: &Request,
    store: &Store,
    http: &'h Http,
    reporter: &dyn Reporter,
) -> anyhow::Result<Gathered<'h>> {
    let mappings = Mappings {
        accounts: store.account_mappings(None)?,
        services: store.service_mappings(None)?,
        last_set: store.last_set_quantities()?,
    };
    let selected: BTreeSet<String> = request.vendors.iter().map(|v| v.name.clone()).collect();
    let agreement_ids = reconcile::agreements_to_read(&mappings.accounts, &mappings.services, &selected);
    let mut product_ids: Vec<i64> =
        mappings.services.iter().filter(|s| selected.contains(&s.vendor)).map(|s| s.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let (period, current, workers) = (request.period, request.current, request.config.http.workers);
    let (fetched, psa_read) = std::thread::scope(|scope| {
        let vendor_job = scope.spawn(|| {
            crate::workers::map(request.vendors, workers, |vc| vendors::fetch(vc, http, period, current))
        });
        let psa_read = read_psa(request, http, &agreement_ids, &product_ids, reporter);
        let fetched = vendor_job.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, psa_read)
    });
    let fetched = request.vendors.iter().map(|vc| vc.name.clone()).zip(fetched).collect();
    Ok(Gathered { mappings, psa: psa_read?, fetched })
}

/// The PSA's side of the run. Without an agreement's terms a new line cannot be dated
/// (reconcile skips it); without a price its money is unknown; an agreement whose lines
/// could not be read has its lines skipped (an add there could duplicate a line recon did
/// not see). None of these stops the rest of the run; each makes it a partial one (exit 1),
/// so cron runs it again.
fn read_psa<'h>(
    request: &Request,
    http: &'h Http,
    agreement_ids: &[i64],
    product_ids: &[i64],
    reporter: &dyn Reporter,
) -> anyhow::Result<PsaRead<'h>> {
    let settings = &request.config.psa()?.settings;
    let psa = settings.connect(http)?;
    let since = request.period.first_day();
    let read = apply::read_additions(psa.as_ref(), agreement_ids, since, request.options);
    // Billing terms move every month (the next invoice date, the posted periods): read
    // fresh, in a few paged requests.
    let terms = psa.billing_terms(agreement_ids, since);
    let catalog = psa.catalog_items(product_ids);
    let words = psa.profile();
    let mut failures = Vec::new();
    let mut or_failed = |what: &str, e: PsaError| {
        let problem = format!("reading {what} failed: {e}");
        reporter.failure(&problem);
        failures.push(problem);
    };
    let terms: BTreeMap<i64, BillingTerms> = terms
        .unwrap_or_else(|e| {
            or_failed(&format!("the {}s' billing terms (no {} is created)", words.container, words.line), e);
            Vec::new()
        })
        .into_iter()
        .map(|t| (t.container_id, t))
        .collect();
    let catalog: BTreeMap<i64, CatalogProduct> = catalog
        .unwrap_or_else(|e| {
            or_failed(&format!("catalog prices (new {}s show no money)", words.line), e);
            Vec::new()
        })
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    for (id, e) in &read.failed {
        reporter.failure(&format!("{}; its lines are skipped", unread_agreement(words, *id, e)));
    }
    Ok(PsaRead {
        bill_customer: settings.bill_customer(),
        psa,
        additions: read.lines,
        unread_agreements: read.failed,
        terms,
        catalog,
        failures,
    })
}

/// An agreement whose lines could not be read, in the PSA's words.
pub(super) fn unread_agreement(words: &crate::psa::Profile, id: i64, error: &str) -> String {
    format!("reading the {}s of {} {id} failed: {error}", words.line, words.container)
}
