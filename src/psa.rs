//! The PSA recon bills through, ConnectWise or Autotask, behind one set of calls that take
//! and return only the PSA-neutral records of `model`. Commands and the write path use this;
//! each client keeps its wire format to itself.

use crate::autotask::{Adjustment, AtError, Autotask};
use crate::config::{Config, PsaSettings};
use crate::connectwise::{ConnectWise, CwError, NewAddition};
use crate::http::Http;
use crate::model::{
    BillCustomer, BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany, QuantityWrites,
};
use crate::plan::{PlanLine, Write};
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum PsaError {
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    #[error(transparent)]
    Autotask(#[from] AtError),
    #[error("{0}")]
    Other(String),
}

impl PsaError {
    /// The PSA answered and refused: nothing happened, so there is nothing to settle.
    pub fn refused(&self) -> bool {
        match self {
            PsaError::ConnectWise(CwError::Permission { .. }) => true,
            PsaError::ConnectWise(CwError::Http(e)) => e.status().is_some_and(|s| (400..500).contains(&s)),
            PsaError::ConnectWise(_) => false,
            PsaError::Autotask(e) => e.refused(),
            PsaError::Other(_) => true,
        }
    }
}

// Both clients are a few hundred bytes, made once per command: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Psa<'h> {
    ConnectWise(ConnectWise<'h>),
    Autotask(Autotask<'h>),
}

impl<'h> Psa<'h> {
    /// Connect to the PSA the config names.
    pub fn connect(config: &Config, http: &'h Http) -> anyhow::Result<Psa<'h>> {
        Ok(match config.psa()? {
            PsaSettings::ConnectWise(cw) => Psa::ConnectWise(ConnectWise::connect(cw, http)?),
            PsaSettings::Autotask(at) => Psa::Autotask(Autotask::connect(at, http)?),
        })
    }

    /// Its name, as people read it.
    pub fn name(&self) -> &'static str {
        match self {
            Psa::ConnectWise(_) => crate::cli::PsaKind::Connectwise.name(),
            Psa::Autotask(_) => crate::cli::PsaKind::Autotask.name(),
        }
    }

    /// What it calls the container of billing lines.
    pub fn container_word(&self) -> &'static str {
        match self {
            Psa::ConnectWise(_) => "agreement",
            Psa::Autotask(_) => "contract",
        }
    }

    pub fn writes(&self) -> QuantityWrites {
        match self {
            Psa::ConnectWise(_) => QuantityWrites::InPlace,
            Psa::Autotask(_) => QuantityWrites::DatedDelta,
        }
    }

    pub fn companies(&self) -> Result<Vec<PsaCompany>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.companies()?,
            Psa::Autotask(at) => at.companies()?,
        })
    }

    /// Active agreements (ConnectWise) or active Recurring Service contracts (Autotask).
    pub fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.active_agreements(company_id, today)?,
            Psa::Autotask(at) => at.active_agreements(company_id, today)?,
        })
    }

    /// The billing lines of each container, in as few reads as the PSA allows: ConnectWise
    /// one paged read per agreement spread over `workers`; Autotask a few queries for every
    /// contract at once (its units from `since` on). A container that could not be read is
    /// in `failed`, never an empty list.
    pub fn read_lines(
        &self,
        ids: &[i64],
        since: NaiveDate,
        workers: usize,
        progress: &indicatif::ProgressBar,
    ) -> crate::apply::AdditionsRead {
        let mut lines = BTreeMap::new();
        let mut failed = Vec::new();
        match self {
            Psa::ConnectWise(cw) => crate::workers::for_each(
                ids,
                workers,
                |id| cw.additions(*id),
                |i, result| {
                    progress.inc(1);
                    match result {
                        Ok(list) => {
                            lines.insert(ids[i], list);
                        }
                        Err(e) => failed.push((ids[i], e.to_string())),
                    }
                },
            ),
            Psa::Autotask(at) => {
                for chunk in ids.chunks(crate::autotask::ID_CHUNK) {
                    match at.lines(chunk, since) {
                        Ok(read) => lines.extend(read),
                        Err(e) => failed.extend(chunk.iter().map(|id| (*id, e.to_string()))),
                    }
                    progress.inc(chunk.len() as u64);
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
            }
        }
        failed.sort();
        crate::apply::AdditionsRead { additions: lines, failed }
    }

    /// The lines of one container (to settle a write whose answer was lost).
    pub fn lines(&self, id: i64, since: NaiveDate) -> Result<Vec<BillingLine>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.additions(id)?,
            Psa::Autotask(at) => at.lines(&[id], since)?.remove(&id).unwrap_or_default(),
        })
    }

    pub fn billing_terms(&self, ids: &[i64], since: NaiveDate) -> Result<Vec<BillingTerms>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.billing_terms(ids)?,
            Psa::Autotask(at) => at.billing_terms(ids, since)?,
        })
    }

    /// Catalog products (Autotask: Services) by id, with the price of a new line.
    pub fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.catalog_items(ids)?,
            Psa::Autotask(at) => at.catalog_items(ids)?,
        })
    }

    /// Products whose id, or identifier (Autotask: name), is `reference`.
    pub fn find_products(&self, reference: &str) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => {
                let conditions = match reference.parse::<i64>() {
                    Ok(id) => format!("id={id}"),
                    Err(_) => format!("identifier={}", crate::connectwise::quote(reference)),
                };
                cw.products(Some(&conditions))?
            }
            Psa::Autotask(at) => at.find_services(Some(reference))?,
        })
    }

    /// Every active product (for suggestions), or every product when `all`.
    pub fn products(&self, all: bool) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(match self {
            Psa::ConnectWise(cw) => cw.products((!all).then_some("inactiveFlag=false"))?,
            Psa::Autotask(at) => at.find_services(None)?,
        })
    }

    /// The ConnectWise client, for what only ConnectWise has (catalog set-up tables, creating
    /// a catalog product), or a usage error that says so.
    pub fn connectwise(&self, what: &str) -> Result<&ConnectWise<'h>, PsaError> {
        match self {
            Psa::ConnectWise(cw) => Ok(cw),
            Psa::Autotask(_) => Err(PsaError::Other(format!(
                "{what} is a ConnectWise feature; in Autotask, create the Service in Admin > Products and Services, then map it by name or id"
            ))),
        }
    }

    /// Before a push: refuse one that the PSA's remaining budget cannot finish. Autotask
    /// shares 10,000 requests an hour among every integration of the database, and at the
    /// limit blocks them all; `requests` is what the push needs (its writes, and a read for
    /// each add). Returns what was found, for the log.
    pub fn check_budget(&self, requests: u64) -> Result<Option<String>, PsaError> {
        let Psa::Autotask(at) = self else { return Ok(None) };
        let t = at.threshold()?;
        if requests > t.remaining() {
            return Err(PsaError::Other(format!(
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

    /// Apply one writing plan line: returns the id of the billing line it set or created
    /// (`None` when an Autotask add was applied but the new line's id could not be read).
    /// ConnectWise: PATCH the quantity, or POST an addition. Autotask: one adjustment of
    /// `after - before` units from the line's effective date (it creates a missing line).
    pub fn write(&self, line: &PlanLine) -> Result<Option<i64>, PsaError> {
        let (Some(agreement_id), Some(product_id), Some(quantity)) =
            (line.agreement_id, line.product_id, line.after)
        else {
            return Err(PsaError::Other("line lacks an agreement, product or quantity".to_string()));
        };
        match self {
            Psa::ConnectWise(cw) => match (line.action.write(), line.addition_id, line.effective_date) {
                (Some(Write::Set), Some(addition_id), _) => {
                    Ok(Some(cw.set_quantity(agreement_id, addition_id, quantity)?.id))
                }
                (Some(Write::Create), _, Some(effective_date)) => {
                    let new = NewAddition {
                        product_id,
                        quantity,
                        bill_customer: line.bill_customer.unwrap_or(BillCustomer::Billable),
                        effective_date,
                    };
                    Ok(Some(cw.create_addition(agreement_id, &new)?.id))
                }
                _ => Err(PsaError::Other(format!("nothing to apply for a {} line", line.action.as_str()))),
            },
            Psa::Autotask(at) => {
                let Some(effective_date) = line.effective_date else {
                    return Err(PsaError::Other("an Autotask change needs its effective date".to_string()));
                };
                let before = line.before.unwrap_or_default();
                let change = (rust_decimal::Decimal::from(quantity) - before).to_i32().ok_or_else(|| {
                    PsaError::Other(format!(
                        "the change from {before} to {quantity} is not a whole number of units"
                    ))
                })?;
                if change == 0 {
                    return Err(PsaError::Other("nothing to apply: the units already match".to_string()));
                }
                at.adjust(&Adjustment {
                    contract_id: agreement_id,
                    service_id: product_id,
                    effective_date,
                    unit_change: change,
                })?;
                match line.addition_id {
                    Some(id) => Ok(Some(id)),
                    // An add: the adjustment created the contract service; find its id (a
                    // read that fails does not undo the write: the next sync finds the line).
                    None => Ok(at.contract_service_id(agreement_id, product_id).ok().flatten()),
                }
            }
        }
    }
}
