//! Autotask behind the PSA seam: its profile, its `[autotask]` section, and `Psa` for the
//! client (a quantity changes only by a signed adjustment dated in an open period, which also
//! creates a missing contract service).

use super::{Adjustment, AtError, Autotask, AutotaskSettings};
use crate::config_file::{ConfigError, Validator};
use crate::http::Http;
use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany, QuantityWrites};
use crate::plan::{Action, PlanLine};
use crate::psa::{LinesRead, Profile, Psa, PsaError, PsaErrorKind, PsaSettings, Registration};
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub static PROFILE: Profile = Profile {
    name: "Autotask",
    container: "contract",
    container_option: "--contract",
    container_reference: "an Autotask contract (name, number or id)",
    line: "contract service",
    product: "Service",
    product_reference: "Autotask Service has the name",
    writes: QuantityWrites::DatedDelta,
};

pub static REGISTRATION: Registration = Registration {
    key: "autotask",
    profile: &PROFILE,
    settings,
    examples: &[],
    #[cfg(feature = "sandbox")]
    sandbox_config: |sandbox, vendors| sandbox.autotask_config_toml_for(vendors),
};

impl From<AtError> for PsaError {
    fn from(e: AtError) -> PsaError {
        let kind = match &e {
            AtError::Permission { status: 401, .. } | AtError::Zone { .. } => PsaErrorKind::Auth,
            AtError::Permission { permission, .. } => {
                PsaErrorKind::Permission { missing: Some(permission.to_string()) }
            }
            AtError::Budget(_) => PsaErrorKind::RateLimited { wait: None },
            // Autotask answers a validation failure with 500, as a server that failed after
            // acting does: settled by reading, like a lost answer.
            AtError::Http(h) => PsaErrorKind::of_http(h),
            AtError::Other(_) => PsaErrorKind::Malformed,
        };
        PsaError::new(kind, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutotask {
    username: String,
    secret: Option<String>,
    secret_env: Option<String>,
    integration_code: Option<String>,
    integration_code_env: Option<String>,
    zone_url: Option<String>,
    discovery_url: Option<String>,
    requests_per_hour: Option<u32>,
}

fn settings(v: &Validator) -> Result<Option<Arc<dyn PsaSettings>>, ConfigError> {
    let Some(at) = v.section::<RawAutotask>("autotask")? else { return Ok(None) };
    let section = ["autotask"];
    let username = at.username.trim().to_string();
    if username.is_empty() {
        return Err(v.error(&section, Some("username"), "[autotask] username is empty".into()));
    }
    if username == crate::config_file::PLACEHOLDER {
        return Err(v.error(
            &section,
            Some("username"),
            format!(
                "[autotask] `username` is still {} from `recon init`: put the API user's user name in",
                crate::config_file::PLACEHOLDER
            ),
        ));
    }
    let secret = v.secret(&section, "secret", at.secret, at.secret_env)?;
    let integration_code =
        v.secret(&section, "integration_code", at.integration_code, at.integration_code_env)?;
    let zone_url = at.zone_url.as_deref().map(|u| v.url(&section, "zone_url", u)).transpose()?;
    let discovery_url =
        v.url(&section, "discovery_url", at.discovery_url.as_deref().unwrap_or(super::DISCOVERY_URL))?;
    let requests_per_hour = at.requests_per_hour.unwrap_or(super::DEFAULT_REQUESTS_PER_HOUR);
    let most = super::DATABASE_REQUESTS_PER_HOUR;
    if requests_per_hour == 0 || requests_per_hour > most {
        return Err(v.error(
            &section,
            Some("requests_per_hour"),
            format!(
                "[autotask] requests_per_hour = {requests_per_hour}: give recon's share of the database's {most}/hour (1 to {most})"
            ),
        ));
    }
    Ok(Some(Arc::new(AutotaskSettings {
        username,
        secret,
        integration_code,
        zone_url,
        discovery_url,
        requests_per_hour,
    })))
}

impl PsaSettings for AutotaskSettings {
    fn connect<'h>(&self, http: &'h Http) -> Result<Box<dyn Psa + 'h>, PsaError> {
        Ok(Box::new(Autotask::connect(self, http)?))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Psa for Autotask<'_> {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    /// The zone, the hourly budget, and one read of each entity recon uses (so a missing
    /// permission is named), and whether adjustments may be created.
    fn check(&self) -> Result<String, PsaError> {
        let info = self.server_info()?;
        let notes = self.probe()?;
        Ok(format!(
            "{}; {} of {} requests used this hour (recon's share: {}/hour); {}",
            info.api_base,
            info.threshold.used,
            info.threshold.limit,
            self.budget.share(),
            notes.join("; ")
        ))
    }

    fn companies(&self) -> Result<Vec<PsaCompany>, PsaError> {
        Ok(Autotask::companies(self)?)
    }

    /// Active Recurring Service contracts.
    fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, PsaError> {
        Ok(Autotask::active_agreements(self, company_id, today)?)
    }

    /// A few queries for every contract at once (their units from `since` on).
    fn read_lines(&self, ids: &[i64], since: NaiveDate, _workers: usize, done: &dyn Fn(u64)) -> LinesRead {
        let mut lines = BTreeMap::new();
        let mut failed = Vec::new();
        for chunk in ids.chunks(super::ID_CHUNK) {
            match Autotask::lines(self, chunk, since) {
                Ok(read) => lines.extend(read),
                Err(e) => failed.extend(chunk.iter().map(|id| (*id, e.to_string()))),
            }
            done(chunk.len() as u64);
        }
        // A restricted security level answers empty lists instead of refusing. Every
        // contract without a single service is far likelier that than the truth, and
        // planning adds there would add units on top of lines recon cannot see.
        if lines.len() > 1 && lines.values().all(Vec::is_empty) {
            let why = format!(
                "Autotask shows no services on any of the {} contracts read: the API user's security \
                 level most likely hides them (Contracts: view, with contract visibility not \"limited\" \
                 or \"none\"); nothing is planned on them",
                lines.len()
            );
            failed.extend(lines.keys().map(|id| (*id, why.clone())));
            lines.clear();
        }
        failed.sort();
        LinesRead { lines, failed }
    }

    fn lines(&self, id: i64, since: NaiveDate) -> Result<Vec<BillingLine>, PsaError> {
        Ok(Autotask::lines(self, &[id], since)?.remove(&id).unwrap_or_default())
    }

    fn billing_terms(&self, ids: &[i64], since: NaiveDate) -> Result<Vec<BillingTerms>, PsaError> {
        Ok(Autotask::billing_terms(self, ids, since)?)
    }

    fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(Autotask::catalog_items(self, ids)?)
    }

    fn find_products(&self, reference: &str) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(self.find_services(Some(reference))?)
    }

    fn products(&self, _all: bool) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(self.find_services(None)?)
    }

    /// Autotask shares 10,000 requests an hour among every integration of the database, and
    /// at the limit blocks them all: refuse a push the rest of this hour cannot finish.
    fn check_budget(&self, requests: u64) -> Result<Option<String>, PsaError> {
        // recon's own share first (this read of the threshold is one more request).
        self.budget
            .check(requests + 1, "nothing was pushed")
            .map_err(|e| PsaError::refused(e.to_string()))?;
        let t = self.threshold()?;
        if requests > t.remaining() {
            return Err(PsaError::refused(format!(
                "autotask: the push needs about {requests} requests but the database has {} of its {} left this hour \
                 ({} used by every integration); nothing was pushed: run again later",
                t.remaining(),
                t.limit,
                t.used
            )));
        }
        Ok(Some(format!(
            "autotask: {} of {} requests used this hour; the push needs about {requests}",
            t.used, t.limit
        )))
    }

    /// The first day after the contract's last posted period, from the unit rows just read.
    fn open_day(&self, lines: &[BillingLine]) -> Option<NaiveDate> {
        let spans: Vec<&crate::model::UnitSpan> = lines.iter().flat_map(|l| &l.schedule).collect();
        super::open_from(&spans)
    }

    /// An add reads the new contract service's id after its adjustment.
    fn extra_requests(&self, lines: &[PlanLine]) -> u64 {
        lines.iter().filter(|l| l.action == Action::Add).count() as u64
    }

    /// One adjustment of `after - before` units from the line's effective date (it creates
    /// a missing contract service).
    fn write(&self, line: &PlanLine) -> Result<Option<i64>, PsaError> {
        let (Some(contract_id), Some(service_id), Some(quantity)) =
            (line.agreement_id, line.product_id, line.after)
        else {
            return Err(PsaError::refused("line lacks a contract, service or quantity"));
        };
        let Some(effective_date) = line.effective_date else {
            return Err(PsaError::refused("an Autotask change needs its effective date"));
        };
        if line.new_unit_cost.is_some() {
            return Err(PsaError::refused(
                "recon does not change an Autotask cost: set it in the contract service",
            ));
        }
        let before = line.before.unwrap_or_default();
        let change = (rust_decimal::Decimal::from(quantity) - before).to_i32().ok_or_else(|| {
            PsaError::refused(format!(
                "the change from {before} to {quantity} is not a whole number of units"
            ))
        })?;
        if change == 0 {
            return Err(PsaError::refused("nothing to apply: the units already match"));
        }
        self.adjust(&Adjustment { contract_id, service_id, effective_date, unit_change: change })?;
        match line.addition_id {
            Some(id) => Ok(Some(id)),
            // An add: the adjustment created the contract service; find its id (a read that
            // fails does not undo the write: the next sync finds the line).
            None => Ok(self.contract_service_id(contract_id, service_id).ok().flatten()),
        }
    }
}
