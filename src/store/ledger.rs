//! The ledger: one row per run, one row per plan line of a run. A line is written before
//! ConnectWise is called (state `planned`: the intent) and updated after (its outcome), so
//! a crash leaves a record of what may have happened.

use super::{Fault, Store, StoreError, parse_time, parse_time_opt, stamp};
use crate::model::BillCustomer;
use crate::period::Period;
use crate::plan::{
    Action, ChangeState, LineMoney, PlanCounts, PlanLine, Reason, RunDetails, RunKind, RunResult, Source,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One row of `runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub kind: RunKind,
    pub started_at: DateTime<Utc>,
    /// `None` while the run is going, or when it crashed.
    pub finished_at: Option<DateTime<Utc>>,
    pub period: Period,
    pub dry_run: bool,
    pub vendors: Vec<String>,
    /// `None` until finished.
    pub result: Option<RunResult>,
    pub counts: Option<PlanCounts>,
    pub error: Option<String>,
}

/// One row of `changes`: a plan line as recorded, its state and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub id: i64,
    pub run_id: i64,
    /// The line as recorded, with the addition id learnt since (a create's), if any.
    pub line: PlanLine,
    pub state: ChangeState,
    pub error: Option<String>,
    /// Each send of its write, in order, and what answered it (empty: not written, or
    /// recorded by a recon from before sends were kept).
    pub attempts: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When its write was last handed to the network (`None`: never sent).
    pub sent_at: Option<DateTime<Utc>>,
}

impl ChangeRecord {
    /// The vendors of the line's sources, sorted, each once.
    pub fn vendors(&self) -> Vec<&str> {
        self.line.vendors()
    }
}

/// `Source` as stored in `changes.sources` (the plan type only serializes).
#[derive(Deserialize)]
struct StoredSource {
    vendor: String,
    account_id: String,
    account_name: String,
    service_key: String,
    quantity: u32,
    #[serde(default)]
    parts: Vec<crate::model::Subscription>,
    #[serde(default)]
    classes: std::collections::BTreeMap<String, u32>,
    #[serde(default)]
    notes: Vec<String>,
}

/// `LineMoney` as stored in `changes.money`: exact decimals as text.
#[derive(Serialize, Deserialize)]
struct StoredMoney {
    unit_price: Option<Decimal>,
    unit_cost: Option<Decimal>,
    billed_before: Decimal,
    billed_after: Decimal,
    revenue_change: Option<Decimal>,
    margin_change: Option<Decimal>,
}

impl From<StoredMoney> for LineMoney {
    fn from(m: StoredMoney) -> LineMoney {
        LineMoney {
            unit_price: m.unit_price,
            unit_cost: m.unit_cost,
            billed_before: m.billed_before,
            billed_after: m.billed_after,
            revenue_change: m.revenue_change,
            margin_change: m.margin_change,
        }
    }
}

impl From<&LineMoney> for StoredMoney {
    fn from(m: &LineMoney) -> StoredMoney {
        StoredMoney {
            unit_price: m.unit_price,
            unit_cost: m.unit_cost,
            billed_before: m.billed_before,
            billed_after: m.billed_after,
            revenue_change: m.revenue_change,
            margin_change: m.margin_change,
        }
    }
}

/// `PlanCounts` as stored in `runs.counts`; a count missing from an older row reads 0.
#[derive(Default, Deserialize)]
#[serde(default)]
struct StoredCounts {
    add: usize,
    update: usize,
    unchanged: usize,
    held: usize,
    skipped: usize,
}

const RUN_COLUMNS: &str =
    "id, kind, started_at, finished_at, period, dry_run, vendors, result, counts, error";

fn run_from_row(row: &Row<'_>) -> Result<RunRecord, Fault> {
    let id: i64 = row.get("id")?;
    let started_at: String = row.get("started_at")?;
    let vendors: String = row.get("vendors")?;
    let counts: Option<String> = row.get("counts")?;
    let counts = counts
        .map(|text| {
            serde_json::from_str::<StoredCounts>(&text)
                .map_err(|e| Fault::corrupt(format!("counts of run {id}"), e))
        })
        .transpose()?
        .map(|c| PlanCounts {
            add: c.add,
            update: c.update,
            unchanged: c.unchanged,
            held: c.held,
            skipped: c.skipped,
        });
    let kind: String = row.get("kind")?;
    let period: String = row.get("period")?;
    let result: Option<String> = row.get("result")?;
    Ok(RunRecord {
        id,
        kind: RunKind::parse(&kind).ok_or_else(|| Fault::corrupt(format!("kind of run {id}"), &kind))?,
        started_at: parse_time("run started_at", &started_at)?,
        finished_at: parse_time_opt("run finished_at", row.get("finished_at")?)?,
        period: period.parse().map_err(|e| Fault::corrupt(format!("period of run {id}"), e))?,
        dry_run: row.get("dry_run")?,
        vendors: split_list(&vendors),
        result: result
            .map(|r| RunResult::parse(&r).ok_or_else(|| Fault::corrupt(format!("result of run {id}"), &r)))
            .transpose()?,
        counts,
        error: row.get("error")?,
    })
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

const CHANGE_COLUMNS: &str = r#"id, run_id, company_id, company, agreement_id,
    agreement, addition_id, product_id, product, "before", "after", action, state, reason,
    reason_data, effective_date, bill_customer, money, date_rule, cancelled_from, minimum, included, error, sources,
    created_at, updated_at, findings, attempts, new_unit_cost, sent_at"#;

fn change_from_row(row: &Row<'_>) -> Result<ChangeRecord, Fault> {
    let id: i64 = row.get("id")?;
    let action: String = row.get("action")?;
    let state: String = row.get("state")?;
    let sources: String = row.get("sources")?;
    let created_at: String = row.get("created_at")?;
    let updated_at: String = row.get("updated_at")?;
    let sources: Vec<StoredSource> =
        serde_json::from_str(&sources).map_err(|e| Fault::corrupt(format!("sources of change {id}"), e))?;
    let reason_data: Option<String> = row.get("reason_data")?;
    let effective_date: Option<String> = row.get("effective_date")?;
    let money: Option<String> = row.get("money")?;
    let date_rule: Option<String> = row.get("date_rule")?;
    let cancelled_from: Option<String> = row.get("cancelled_from")?;
    let findings: Option<String> = row.get("findings")?;
    let before: Option<f64> = row.get("before")?;
    let date = |what: &str, text: Option<String>| {
        text.map(|d| {
            chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|e| Fault::corrupt(format!("{what} of change {id}"), e))
        })
        .transpose()
    };
    let bill_customer: Option<String> = row.get("bill_customer")?;
    let reason_text: Option<String> = row.get("reason")?;
    let reason = match (reason_data, reason_text) {
        (Some(data), _) => Some(
            serde_json::from_str::<Reason>(&data)
                .map_err(|e| Fault::corrupt(format!("reason of change {id}"), e))?,
        ),
        (None, Some(text)) => Some(Reason::Note { text }),
        (None, None) => None,
    };
    let line = PlanLine {
        action: Action::parse(&action)
            .ok_or_else(|| Fault::corrupt(format!("action of change {id}"), &action))?,
        company_id: row.get("company_id")?,
        company: row.get("company")?,
        agreement_id: row.get("agreement_id")?,
        agreement: row.get("agreement")?,
        product_id: row.get("product_id")?,
        product: row.get("product")?,
        addition_id: row.get("addition_id")?,
        before: before.and_then(Decimal::from_f64).map(|d| d.normalize()),
        after: row.get("after")?,
        reason,
        effective_date: date("effective date", effective_date)?,
        date_rule: date_rule
            .map(|r| {
                serde_json::from_str(&r).map_err(|e| Fault::corrupt(format!("date rule of change {id}"), e))
            })
            .transpose()?,
        cancelled_from: date("cancel date", cancelled_from)?,
        minimum: row.get("minimum")?,
        included: row.get("included")?,
        findings: findings
            .map(|f| {
                serde_json::from_str(&f).map_err(|e| Fault::corrupt(format!("findings of change {id}"), e))
            })
            .transpose()?
            .unwrap_or_default(),
        new_unit_cost: row
            .get::<_, Option<String>>("new_unit_cost")?
            .map(|c| c.parse().map_err(|e| Fault::corrupt(format!("new unit cost of change {id}"), e)))
            .transpose()?,
        money: money
            .map(|m| {
                serde_json::from_str::<StoredMoney>(&m)
                    .map(LineMoney::from)
                    .map_err(|e| Fault::corrupt(format!("money of change {id}"), e))
            })
            .transpose()?,
        bill_customer: bill_customer
            .map(|b| {
                BillCustomer::parse(&b)
                    .ok_or_else(|| Fault::corrupt(format!("bill setting of change {id}"), &b))
            })
            .transpose()?,
        sources: sources
            .into_iter()
            .map(|s| Source {
                vendor: s.vendor,
                account_id: s.account_id,
                account_name: s.account_name,
                service_key: s.service_key,
                quantity: s.quantity,
                parts: s.parts,
                classes: s.classes,
                notes: s.notes,
            })
            .collect(),
    };
    Ok(ChangeRecord {
        id,
        run_id: row.get("run_id")?,
        line,
        state: ChangeState::parse(&state)
            .ok_or_else(|| Fault::corrupt(format!("state of change {id}"), &state))?,
        error: row.get("error")?,
        attempts: row
            .get::<_, Option<String>>("attempts")?
            .map(|a| {
                serde_json::from_str(&a).map_err(|e| Fault::corrupt(format!("attempts of change {id}"), e))
            })
            .transpose()?
            .unwrap_or_default(),
        created_at: parse_time("change created_at", &created_at)?,
        updated_at: parse_time("change updated_at", &updated_at)?,
        sent_at: parse_time_opt("change sent_at", row.get("sent_at")?)?,
    })
}

fn query_changes(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ChangeRecord>, Fault> {
    let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE {filter} ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(change_from_row(row)?);
    }
    Ok(out)
}

fn insert_change(
    conn: &Connection,
    run_id: i64,
    line: &PlanLine,
    state: ChangeState,
    now: DateTime<Utc>,
) -> Result<i64, Fault> {
    let vendors: BTreeSet<&str> = line.sources.iter().map(|s| s.vendor.as_str()).collect();
    let accounts: BTreeSet<&str> = line.sources.iter().map(|s| s.account_name.as_str()).collect();
    let sources =
        serde_json::to_string(&line.sources).map_err(|e| Fault::corrupt("sources of a plan line", e))?;
    let money = line
        .money
        .as_ref()
        .map(|m| serde_json::to_string(&StoredMoney::from(m)))
        .transpose()
        .map_err(|e| Fault::corrupt("money of a plan line", e))?;
    let date_rule = line
        .date_rule
        .map(|r| serde_json::to_string(&r))
        .transpose()
        .map_err(|e| Fault::corrupt("date rule of a plan line", e))?;
    let reason_data = line
        .reason
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Fault::corrupt("reason of a plan line", e))?;
    let findings = (!line.findings.is_empty())
        .then(|| serde_json::to_string(&line.findings))
        .transpose()
        .map_err(|e| Fault::corrupt("findings of a plan line", e))?;
    let now = stamp(now);
    conn.prepare_cached(
        r#"INSERT INTO changes (
               run_id, vendor, account, company_id, company, agreement_id, agreement,
               addition_id, product_id, product, "before", "after", action, state, reason,
               reason_data, effective_date, bill_customer, money, date_rule, cancelled_from, minimum,
               error, sources, created_at, updated_at, findings, new_unit_cost, included)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                   ?16, ?17, ?18, ?19, ?20, ?21, ?22, NULL, ?23, ?24, ?24, ?25, ?26, ?27)"#,
    )?
    .execute(params![
        run_id,
        vendors.into_iter().collect::<Vec<_>>().join(","),
        accounts.into_iter().collect::<Vec<_>>().join(", "),
        line.company_id,
        line.company,
        line.agreement_id,
        line.agreement,
        line.addition_id,
        line.product_id,
        line.product,
        line.before.and_then(|b| b.to_f64()),
        line.after,
        line.action.as_str(),
        state.as_str(),
        line.reason.as_ref().map(Reason::code),
        reason_data,
        line.effective_date.map(|d| d.format("%Y-%m-%d").to_string()),
        line.bill_customer.map(BillCustomer::as_str),
        money,
        date_rule,
        line.cancelled_from.map(|d| d.format("%Y-%m-%d").to_string()),
        line.minimum,
        sources,
        now,
        findings,
        line.new_unit_cost.map(|c| c.to_string()),
        line.included,
    ])?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Open a run in the ledger; returns its id.
    pub fn start_run(
        &mut self,
        now: DateTime<Utc>,
        kind: RunKind,
        period: Period,
        dry_run: bool,
        vendors: &[String],
    ) -> Result<i64, StoreError> {
        self.write("start a run", |tx| {
            tx.execute(
                "INSERT INTO runs (kind, started_at, period, dry_run, vendors) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kind.as_str(), stamp(now), period.to_string(), dry_run, vendors.join(",")],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
        self.read(&format!("read change {id}"), |conn| Ok(query_changes(conn, "id = ?1", [id])?.pop()))
    }

    /// Held lines of real (not dry) runs still awaiting a decision, oldest first.
    pub fn pending_held(&self) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read("list held changes", |conn| {
            query_changes(
                conn,
                "state = ?1 AND run_id IN (SELECT id FROM runs WHERE dry_run = 0)",
                params![ChangeState::Waiting.as_str()],
            )
        })
    }

    /// Mark these waiting held changes superseded (`reconcile::superseded` decides which: a
    /// run supersedes only the held changes whose lines it planned afresh). Only a change
    /// that still waits moves; returns how many did.
    pub fn supersede_held(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write("supersede held changes", |tx| {
            let mut n = 0;
            for id in ids {
                n += tx.execute(
                    "UPDATE changes SET state = ?2, updated_at = ?3 WHERE id = ?1 AND state = ?4",
                    params![id, ChangeState::Superseded.as_str(), stamp(now), ChangeState::Waiting.as_str()],
                )?;
            }
            Ok(n)
        })
    }

    /// Rejected changes whose rejection still stands: no later line of a real run for the
    /// same agreement and product proposed anything else (when either side moved, the line
    /// was planned afresh and the rejection no longer applies). Oldest first.
    pub fn standing_rejections(&self) -> Result<Vec<ChangeRecord>, StoreError> {
        let rejected = self.read("list rejected changes", |conn| {
            query_changes(
                conn,
                "state = ?1 AND run_id IN (SELECT id FROM runs WHERE dry_run = 0)",
                params![ChangeState::Rejected.as_str()],
            )
        })?;
        let mut standing = Vec::new();
        for r in rejected {
            let (Some(agreement), Some(product)) = (r.line.agreement_id, r.line.product_id) else { continue };
            let later = self.read("read later lines", |conn| {
                query_changes(
                    conn,
                    "agreement_id = ?1 AND product_id = ?2 AND id > ?3 AND run_id IN (SELECT id FROM runs WHERE dry_run = 0 AND kind = ?4)",
                    params![agreement, product, r.id, RunKind::Sync.as_str()],
                )
            })?;
            let later: Vec<&PlanLine> = later.iter().map(|c| &c.line).collect();
            if crate::reconcile::rejection_stands(r.id, &r.line, &later) {
                standing.push(r);
            }
        }
        Ok(standing)
    }

    /// Real runs that never finished (the process died).
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.read("list unfinished runs", |conn| {
            let sql =
                format!("SELECT {RUN_COLUMNS} FROM runs WHERE result IS NULL AND dry_run = 0 ORDER BY id");
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(run_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// Record many plan lines of run `run_id` in one transaction, each in the state the
    /// plan's rule gives (`ChangeState::recorded`: a held line of a real run waits); returns
    /// their change ids, in order.
    pub fn record_lines(
        &mut self,
        run_id: i64,
        lines: &[PlanLine],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        self.write(&format!("record the changes of run {run_id}"), |tx| {
            let dry_run: bool = tx
                .query_row("SELECT dry_run FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(false) } else { Err(e) })?;
            lines
                .iter()
                .map(|line| insert_change(tx, run_id, line, ChangeState::recorded(line.action, dry_run), now))
                .collect()
        })
    }

    /// Record a change's outcome. `addition_id` is stored when given (the addition a POST
    /// created) and kept otherwise; `error` replaces the previous one (`None` clears it).
    pub fn set_change_state(
        &mut self,
        change_id: i64,
        state: ChangeState,
        addition_id: Option<i64>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let doing = format!("set the state of change {change_id}");
        self.write(&doing, |tx| {
            let n = tx.execute(
                "UPDATE changes SET
                     state = ?2,
                     addition_id = coalesce(?3, addition_id),
                     error = ?4,
                     updated_at = ?5
                 WHERE id = ?1",
                params![change_id, state.as_str(), addition_id, error, stamp(now)],
            )?;
            if n == 0 {
                return Err(Fault::Missing(format!("change {change_id}")));
            }
            Ok(())
        })
    }

    /// A change written on another date than planned (its period was posted during the run):
    /// record the date, the rule, the units it moved from and the money as written.
    pub fn redate_change(&mut self, change_id: i64, line: &PlanLine) -> Result<(), StoreError> {
        self.write(&format!("record the date of change {change_id}"), |tx| {
            let money = line
                .money
                .as_ref()
                .map(|m| serde_json::to_string(&StoredMoney::from(m)))
                .transpose()
                .map_err(|e| Fault::corrupt("money of a plan line", e))?;
            let date_rule = line
                .date_rule
                .map(|r| serde_json::to_string(&r))
                .transpose()
                .map_err(|e| Fault::corrupt("date rule of a plan line", e))?;
            tx.execute(
                r#"UPDATE changes SET "before" = ?2, effective_date = ?3, date_rule = ?4, money = ?5 WHERE id = ?1"#,
                params![
                    change_id,
                    line.before.and_then(|b| b.to_f64()),
                    line.effective_date.map(|d| d.format("%Y-%m-%d").to_string()),
                    date_rule,
                    money,
                ],
            )?;
            Ok(())
        })
    }

    /// Record each send of a change's write and what answered it.
    pub fn set_change_attempts(&mut self, change_id: i64, attempts: &[String]) -> Result<(), StoreError> {
        let text = serde_json::to_string(attempts).unwrap_or_else(|_| "[]".to_string());
        self.write(&format!("record the sends of change {change_id}"), |tx| {
            tx.execute("UPDATE changes SET attempts = ?2 WHERE id = ?1", params![change_id, text])?;
            Ok(())
        })
    }

    /// Close a run with its result and counts.
    pub fn finish_run(
        &mut self,
        run_id: i64,
        now: DateTime<Utc>,
        result: RunResult,
        counts: &PlanCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let doing = format!("finish run {run_id}");
        self.write(&doing, |tx| {
            let counts = serde_json::to_string(counts)
                .map_err(|e| Fault::corrupt(format!("counts of run {run_id}"), e))?;
            let n = tx.execute(
                "UPDATE runs SET finished_at = ?2, result = ?3, counts = ?4, error = ?5
                 WHERE id = ?1",
                params![run_id, stamp(now), result.as_str(), counts, error],
            )?;
            if n == 0 {
                return Err(Fault::Missing(format!("run {run_id}")));
            }
            Ok(())
        })
    }

    /// Record the monthly revenue change a run's applied writes made, per vendor.
    pub fn set_applied_net(
        &mut self,
        run_id: i64,
        by_vendor: &BTreeMap<String, Decimal>,
    ) -> Result<(), StoreError> {
        self.write(&format!("record the money of run {run_id}"), |tx| {
            let json = serde_json::to_string(by_vendor)
                .map_err(|e| Fault::corrupt(format!("money of run {run_id}"), e))?;
            tx.execute("UPDATE runs SET applied_net = ?2 WHERE id = ?1", params![run_id, json])?;
            Ok(())
        })
    }

    /// The per-vendor applied net of the last finished real sync run, if any.
    /// Keep what the run met besides its lines (replaces what was kept).
    pub fn set_run_details(&mut self, run_id: i64, details: &RunDetails) -> Result<(), StoreError> {
        self.write(&format!("record the details of run {run_id}"), |tx| {
            let json = serde_json::to_string(details)
                .map_err(|e| Fault::corrupt(format!("details of run {run_id}"), e))?;
            let n = tx.execute("UPDATE runs SET details = ?2 WHERE id = ?1", params![run_id, json])?;
            if n == 0 {
                return Err(Fault::Missing(format!("run {run_id}")));
            }
            Ok(())
        })
    }

    /// What the run met besides its lines; empty for a run recorded before recon kept it.
    pub fn run_details(&self, run_id: i64) -> Result<RunDetails, StoreError> {
        self.read(&format!("read the details of run {run_id}"), |conn| {
            let text: Option<String> = conn
                .query_row("SELECT details FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
                .map_err(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Fault::Missing(format!("run {run_id}")),
                    e => Fault::from(e),
                })?;
            text.map_or(Ok(RunDetails::default()), |json| {
                serde_json::from_str(&json).map_err(|e| Fault::corrupt(format!("details of run {run_id}"), e))
            })
        })
    }

    pub fn last_applied_net(&self) -> Result<BTreeMap<String, Decimal>, StoreError> {
        self.read("read the money of the last sync", |conn| {
            let text: Option<Option<String>> = conn
                .query_row(
                    "SELECT applied_net FROM runs WHERE kind = ?1 AND dry_run = 0 AND result IS NOT NULL \
                     ORDER BY id DESC LIMIT 1",
                    [RunKind::Sync.as_str()],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
            match text.flatten() {
                Some(json) => {
                    serde_json::from_str(&json).map_err(|e| Fault::corrupt("money of the last sync", e))
                }
                None => Ok(BTreeMap::new()),
            }
        })
    }

    /// For every addition recon has written, the run and quantity of its last applied write
    /// of a quantity (`reconcile::last_set` decides from the applied writes).
    pub fn last_set_quantities(&self) -> Result<BTreeMap<i64, (i64, Decimal)>, StoreError> {
        let writes = self.read("read what recon last set", |conn| {
            let mut stmt = conn.prepare(
                r#"SELECT id, run_id, addition_id, "after", new_unit_cost IS NOT NULL FROM changes
                   WHERE state = ?1 AND action IN (?2, ?3) AND addition_id IS NOT NULL"#,
            )?;
            let kinds = [ChangeState::Applied.as_str(), Action::Add.as_str(), Action::Update.as_str()];
            let rows = stmt.query_map(kinds, |r| {
                Ok(crate::reconcile::AppliedWrite {
                    change_id: r.get(0)?,
                    run_id: r.get(1)?,
                    addition_id: r.get(2)?,
                    after: r.get(3)?,
                    cost_change: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        Ok(crate::reconcile::last_set(&writes))
    }

    /// The last `limit` runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.read("list runs", |conn| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1");
            let mut stmt = conn.prepare(&sql)?;
            // SQLite's LIMIT is a signed 64-bit number.
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query([limit])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(run_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// The id of the latest sync run, dry or real.
    pub fn latest_sync_run(&self) -> Result<Option<i64>, StoreError> {
        self.read("find the latest sync", |conn| {
            Ok(conn.query_row("SELECT max(id) FROM runs WHERE kind = ?1", [RunKind::Sync.as_str()], |r| {
                r.get(0)
            })?)
        })
    }

    pub fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.read(&format!("read run {id}"), |conn| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([id])?;
            match rows.next()? {
                Some(row) => Ok(Some(run_from_row(row)?)),
                None => Ok(None),
            }
        })
    }

    /// The changes of one run, in the order they were recorded.
    pub fn changes(&self, run_id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read(&format!("list the changes of run {run_id}"), |conn| {
            query_changes(conn, "run_id = ?1", [run_id])
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed expectation is the test failing
pub(super) mod tests {
    use super::super::tests::at;
    use super::*;

    pub(crate) fn line(vendor: &str, after: u32) -> PlanLine {
        PlanLine {
            action: Action::Update,
            company_id: Some(250),
            company: "Acme Dental".to_string(),
            agreement_id: Some(7),
            agreement: Some("Managed Services".to_string()),
            product_id: Some(31),
            product: Some("NW-ASSET".to_string()),
            addition_id: Some(900),
            before: Some(Decimal::new(125, 1)),
            after: Some(after),
            reason: None,
            sources: vec![
                Source {
                    vendor: vendor.to_string(),
                    account_id: "a1".to_string(),
                    account_name: "Acme, Main Office".to_string(),
                    service_key: "assets".to_string(),
                    quantity: after - 1,
                    parts: Vec::new(),
                    classes: Default::default(),
                    notes: Vec::new(),
                },
                Source {
                    vendor: vendor.to_string(),
                    account_id: "a2".to_string(),
                    account_name: "Acme Branch".to_string(),
                    service_key: "assets".to_string(),
                    quantity: 1,
                    parts: Vec::new(),
                    classes: Default::default(),
                    notes: Vec::new(),
                },
            ],
            effective_date: None,
            date_rule: None,
            bill_customer: None,
            cancelled_from: Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")),
            minimum: Some(3),
            money: Some(LineMoney {
                unit_price: Some(Decimal::new(4550, 2)),
                unit_cost: None,
                billed_before: Decimal::new(125, 1),
                billed_after: Decimal::from(after),
                revenue_change: Some(Decimal::new(-1234, 2)),
                margin_change: Some(Decimal::new(-1234, 2)),
            }),
            findings: Vec::new(),
            new_unit_cost: None,
            included: None,
        }
    }

    fn period() -> Period {
        "2026-10".parse().expect("period")
    }

    #[test]
    fn ledger_round_trip() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store
            .start_run(at(5, 9), RunKind::Sync, period(), false, &["nodeware".to_string()])
            .expect("start");

        let mut add = line("nodeware", 4);
        add.action = Action::Add;
        add.addition_id = None;
        add.before = None;
        add.effective_date = chrono::NaiveDate::from_ymd_opt(2026, 10, 1);
        add.bill_customer = Some(BillCustomer::DoNotBill);
        add.date_rule = Some(crate::plan::DateRule::AlreadyInvoiced {
            next_invoice: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        });
        let mut held = line("nodeware", 40);
        held.action = Action::Held;
        held.reason =
            Some(Reason::Held { hold: crate::plan::Hold::ChangePercent { hundredths: 5040, limit: 50 } });
        let lines = vec![line("nodeware", 20), add.clone(), held.clone()];

        let ids = store.record_lines(run, &lines, at(5, 9)).expect("record");
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));

        store.set_change_state(ids[0], ChangeState::Applied, None, None, at(5, 10)).expect("applied");
        store.set_change_state(ids[1], ChangeState::Applied, Some(901), None, at(5, 10)).expect("added");
        let one = store.record_lines(run, &[line("huntress", 2)], at(5, 11)).expect("one more")[0];
        store.set_change_state(one, ChangeState::Failed, None, Some("HTTP 500"), at(5, 12)).expect("failed");

        let changes = store.changes(run).expect("changes");
        assert_eq!(changes.len(), 4);
        assert_eq!(changes.iter().map(|c| c.id).collect::<Vec<_>>(), [ids.clone(), vec![one]].concat());

        let first = &changes[0];
        assert_eq!(first.run_id, run);
        assert_eq!(first.state, ChangeState::Applied);
        assert_eq!(first.vendors(), ["nodeware"]);
        assert_eq!(first.created_at, at(5, 9));
        assert_eq!(first.updated_at, at(5, 10));
        assert_eq!(first.line, lines[0]);

        let second = &changes[1];
        let mut expected = add;
        expected.addition_id = Some(901);
        assert_eq!(second.line, expected, "an add keeps its date and bill setting, and learns its id");

        assert_eq!(changes[2].line, held, "the typed reason round-trips");
        assert_eq!(changes[2].state, ChangeState::Waiting, "a held line of a real run waits");
        assert_eq!(changes[3].state, ChangeState::Failed);
        assert_eq!(changes[3].error.as_deref(), Some("HTTP 500"));

        let waiting = store.pending_held().expect("held");
        assert_eq!(waiting.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[2]]);
        assert_eq!(changes.iter().filter(|c| c.state == ChangeState::Applied).count(), 2);

        // Retrying clears the error.
        store.set_change_state(one, ChangeState::Applied, None, None, at(5, 13)).expect("retry");
        assert_eq!(store.changes(run).expect("changes")[3].error, None);

        let json = serde_json::to_value(crate::output::wording::ChangeJson::new(
            &changes[2],
            crate::output::wording::Wording::NEUTRAL,
        ))
        .expect("json");
        assert_eq!(json["before"], serde_json::json!(12.5));
        assert_eq!(json["state"], "waiting");
        assert_eq!(json["reason_code"], "held");
        assert_eq!(json["reason"], "change of +50.4% exceeds max_change_percent = 50");
    }

    #[test]
    fn runs_are_listed_newest_first_and_finish() {
        let mut store = Store::open_in_memory().expect("open");
        let vendors = vec!["huntress".to_string(), "nodeware".to_string()];
        let first = store.start_run(at(1, 9), RunKind::Sync, period(), true, &vendors).expect("first");
        let second = store
            .start_run(at(2, 9), RunKind::Undo, period().previous(), false, &vendors[..1])
            .expect("second");
        let third = store.start_run(at(3, 9), RunKind::Approve, period(), false, &[]).expect("third");

        let counts = PlanCounts { add: 1, update: 2, unchanged: 3, held: 4, skipped: 5 };
        store.finish_run(first, at(1, 10), RunResult::Held, &counts, None).expect("finish");
        store
            .finish_run(second, at(2, 10), RunResult::Failed, &PlanCounts::default(), Some("boom"))
            .expect("finish");

        let runs = store.runs(10).expect("runs");
        assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![third, second, first]);
        assert_eq!(store.runs(2).expect("runs").len(), 2);
        assert_eq!(store.runs(usize::MAX).expect("runs").len(), 3);

        let r = store.run(first).expect("run").expect("exists");
        assert_eq!(
            r,
            RunRecord {
                kind: RunKind::Sync,
                id: first,
                started_at: at(1, 9),
                finished_at: Some(at(1, 10)),
                period: period(),
                dry_run: true,
                vendors: vendors.clone(),
                result: Some(RunResult::Held),
                counts: Some(counts),
                error: None,
            }
        );
        let r = store.run(second).expect("run").expect("exists");
        assert_eq!((r.kind, r.period), (RunKind::Undo, period().previous()));
        assert_eq!(r.error.as_deref(), Some("boom"));
        let r = store.run(third).expect("run").expect("exists");
        assert_eq!(r.finished_at, None);
        assert_eq!(r.vendors, Vec::<String>::new());
        assert_eq!(r.counts, None);
        assert!(store.run(third + 1).expect("run").is_none());

        assert!(matches!(
            store.finish_run(99, at(4, 9), RunResult::Ok, &counts, None),
            Err(StoreError::Missing { .. })
        ));
    }

    #[test]
    fn a_change_needs_its_run() {
        let mut store = Store::open_in_memory().expect("open");
        let err = store.record_lines(77, &[line("nodeware", 3)], at(1, 9)).expect_err("foreign key");
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
        assert!(err.to_string().contains("run 77"), "{err}");
    }

    #[test]
    fn corrupt_json_is_reported() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store.start_run(at(1, 9), RunKind::Sync, period(), false, &[]).expect("run");
        let id = store.record_lines(run, &[line("nodeware", 3)], at(1, 9)).expect("line")[0];
        store.conn.execute("UPDATE changes SET sources = '{oops' WHERE id = ?1", [id]).expect("corrupt it");
        let err = store.changes(run).expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&format!("sources of change {id}")), "{err}");
    }

    #[test]
    fn a_run_whose_period_or_kind_cannot_be_read_is_an_error() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store.start_run(at(1, 9), RunKind::Sync, period(), false, &[]).expect("run");
        store.conn.execute("UPDATE runs SET period = 'someday' WHERE id = ?1", [run]).expect("corrupt it");
        let err = store.run(run).expect_err("corrupt");
        assert!(err.to_string().contains(&format!("period of run {run}")), "{err}");
        store
            .conn
            .execute("UPDATE runs SET period = '2026-10', kind = 'rerun' WHERE id = ?1", [run])
            .expect("x");
        assert!(store.run(run).expect_err("corrupt").to_string().contains("kind of run"));
    }

    #[test]
    fn a_reason_recorded_as_text_by_an_older_recon_reads_as_a_note() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store.start_run(at(1, 9), RunKind::Sync, period(), false, &[]).expect("run");
        let id = store.record_lines(run, &[line("nodeware", 3)], at(1, 9)).expect("line")[0];
        store
            .conn
            .execute("UPDATE changes SET reason = 'held for review', reason_data = NULL WHERE id = ?1", [id])
            .expect("old row");
        let change = store.change(id).expect("read").expect("exists");
        assert_eq!(change.line.reason, Some(Reason::Note { text: "held for review".into() }));
    }
}
