//! The ledger: one row per run, one row per plan line of a run. A line is written before
//! ConnectWise is called (state `planned`: the intent) and updated after (its outcome), so
//! a crash leaves a record of what may have happened.

use super::{Fault, Store, StoreError, parse_time, parse_time_opt, stamp};
use crate::period::Period;
use crate::plan::{Action, ChangeState, PlanCounts, PlanLine, Source};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One row of `runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    /// `sync`, `approve` (held lines pushed) or `undo`.
    pub kind: String,
    pub started_at: DateTime<Utc>,
    /// `None` while the run is going, or when it crashed.
    pub finished_at: Option<DateTime<Utc>>,
    /// `YYYY-MM`.
    pub period: String,
    pub dry_run: bool,
    pub vendors: Vec<String>,
    /// `ok`, `failed`, `partial` or `held`; `None` until finished.
    pub result: Option<String>,
    pub counts: Option<PlanCounts>,
    pub error: Option<String>,
}

/// One row of `changes`: a plan line as recorded, its state and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub run_id: i64,
    /// The vendors of the line's sources, comma-separated.
    pub vendor: String,
    /// The account names of the line's sources, comma-separated.
    pub account: String,
    pub action: Action,
    pub company_id: Option<i64>,
    pub company: String,
    pub agreement_id: Option<i64>,
    pub agreement: Option<String>,
    pub product_id: Option<i64>,
    pub product: Option<String>,
    pub addition_id: Option<i64>,
    #[serde(serialize_with = "crate::plan::whole_if_integral")]
    pub before: Option<f64>,
    pub after: Option<u32>,
    pub reason: Option<String>,
    pub sources: Vec<Source>,
    pub state: ChangeState,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ChangeRecord {
    /// The plan line as it was recorded (with the addition id learnt since, if any), e.g.
    /// to apply a held line once approved.
    pub fn plan_line(&self) -> PlanLine {
        PlanLine {
            action: self.action,
            company_id: self.company_id,
            company: self.company.clone(),
            agreement_id: self.agreement_id,
            agreement: self.agreement.clone(),
            product_id: self.product_id,
            product: self.product.clone(),
            addition_id: self.addition_id,
            before: self.before,
            after: self.after,
            reason: self.reason.clone(),
            sources: self.sources.clone(),
        }
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
    Ok(RunRecord {
        id,
        kind: row.get("kind")?,
        started_at: parse_time("run started_at", &started_at)?,
        finished_at: parse_time_opt("run finished_at", row.get("finished_at")?)?,
        period: row.get("period")?,
        dry_run: row.get("dry_run")?,
        vendors: split_list(&vendors),
        result: row.get("result")?,
        counts,
        error: row.get("error")?,
    })
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

const CHANGE_COLUMNS: &str = r#"id, run_id, vendor, account, company_id, company, agreement_id,
    agreement, addition_id, product_id, product, "before", "after", action, state, reason,
    error, sources, created_at, updated_at"#;

fn change_from_row(row: &Row<'_>) -> Result<ChangeRecord, Fault> {
    let id: i64 = row.get("id")?;
    let action: String = row.get("action")?;
    let state: String = row.get("state")?;
    let sources: String = row.get("sources")?;
    let created_at: String = row.get("created_at")?;
    let updated_at: String = row.get("updated_at")?;
    let sources: Vec<StoredSource> =
        serde_json::from_str(&sources).map_err(|e| Fault::corrupt(format!("sources of change {id}"), e))?;
    Ok(ChangeRecord {
        id,
        run_id: row.get("run_id")?,
        vendor: row.get("vendor")?,
        account: row.get("account")?,
        action: Action::parse(&action)
            .ok_or_else(|| Fault::corrupt(format!("action of change {id}"), &action))?,
        company_id: row.get("company_id")?,
        company: row.get("company")?,
        agreement_id: row.get("agreement_id")?,
        agreement: row.get("agreement")?,
        product_id: row.get("product_id")?,
        product: row.get("product")?,
        addition_id: row.get("addition_id")?,
        before: row.get("before")?,
        after: row.get("after")?,
        reason: row.get("reason")?,
        sources: sources
            .into_iter()
            .map(|s| Source {
                vendor: s.vendor,
                account_id: s.account_id,
                account_name: s.account_name,
                service_key: s.service_key,
                quantity: s.quantity,
            })
            .collect(),
        state: ChangeState::parse(&state)
            .ok_or_else(|| Fault::corrupt(format!("state of change {id}"), &state))?,
        error: row.get("error")?,
        created_at: parse_time("change created_at", &created_at)?,
        updated_at: parse_time("change updated_at", &updated_at)?,
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
    let now = stamp(now);
    conn.prepare_cached(
        r#"INSERT INTO changes (
               run_id, vendor, account, company_id, company, agreement_id, agreement,
               addition_id, product_id, product, "before", "after", action, state, reason,
               error, sources, created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                   NULL, ?16, ?17, ?17)"#,
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
        line.before,
        line.after,
        line.action.as_str(),
        state.as_str(),
        line.reason,
        sources,
        now,
    ])?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Open a sync run in the ledger; returns its id.
    pub fn start_run(
        &mut self,
        now: DateTime<Utc>,
        period: Period,
        dry_run: bool,
        vendors: &[String],
    ) -> Result<i64, StoreError> {
        self.start_run_of_kind(now, "sync", period, dry_run, vendors)
    }

    /// Open a run of a kind (`sync`, `approve`, `undo`); returns its id.
    pub fn start_run_of_kind(
        &mut self,
        now: DateTime<Utc>,
        kind: &str,
        period: Period,
        dry_run: bool,
        vendors: &[String],
    ) -> Result<i64, StoreError> {
        self.write("start a run", |tx| {
            tx.execute(
                "INSERT INTO runs (kind, started_at, period, dry_run, vendors) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kind, stamp(now), period.to_string(), dry_run, vendors.join(",")],
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
                "action = 'held' AND state = 'planned' AND run_id IN (SELECT id FROM runs WHERE dry_run = 0)",
                [],
            )
        })
    }

    /// A new sync re-plans every line: held lines of earlier runs are superseded by it.
    pub fn supersede_held(&mut self, except_run: i64, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write("supersede held changes", |tx| {
            Ok(tx.execute(
                "UPDATE changes SET state = 'superseded', updated_at = ?2
                 WHERE action = 'held' AND state = 'planned' AND run_id != ?1",
                params![except_run, stamp(now)],
            )?)
        })
    }

    /// Real runs that never finished (the process died), except `except_run`.
    pub fn unfinished_runs(&self, except_run: i64) -> Result<Vec<RunRecord>, StoreError> {
        self.read("list unfinished runs", |conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE result IS NULL AND dry_run = 0 AND id != ?1 ORDER BY id"
            );
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([except_run])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(run_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// Record many plan lines in one transaction; returns their change ids, in order.
    pub fn record_lines(
        &mut self,
        run_id: i64,
        lines: &[PlanLine],
        state: ChangeState,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        self.write(&format!("record the changes of run {run_id}"), |tx| {
            lines.iter().map(|line| insert_change(tx, run_id, line, state, now)).collect()
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

    /// Close a run with its result (`ok`, `failed`, `partial` or `held`) and counts.
    pub fn finish_run(
        &mut self,
        run_id: i64,
        now: DateTime<Utc>,
        result: &str,
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
                params![run_id, stamp(now), result, counts, error],
            )?;
            if n == 0 {
                return Err(Fault::Missing(format!("run {run_id}")));
            }
            Ok(())
        })
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
            before: Some(12.5),
            after: Some(after),
            reason: None,
            sources: vec![
                Source {
                    vendor: vendor.to_string(),
                    account_id: "a1".to_string(),
                    account_name: "Acme, Main Office".to_string(),
                    service_key: "assets".to_string(),
                    quantity: after - 1,
                },
                Source {
                    vendor: vendor.to_string(),
                    account_id: "a2".to_string(),
                    account_name: "Acme Branch".to_string(),
                    service_key: "assets".to_string(),
                    quantity: 1,
                },
            ],
        }
    }

    fn period() -> Period {
        "2026-10".parse().expect("period")
    }

    #[test]
    fn ledger_round_trip() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store.start_run(at(5, 9), period(), false, &["nodeware".to_string()]).expect("start");

        let mut add = line("nodeware", 4);
        add.action = Action::Add;
        add.addition_id = None;
        add.before = None;
        let mut held = line("nodeware", 40);
        held.action = Action::Held;
        held.reason = Some("decrease held for review".to_string());
        let lines = vec![line("nodeware", 20), add.clone(), held.clone()];

        let ids = store.record_lines(run, &lines, ChangeState::Planned, at(5, 9)).expect("record");
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));

        store.set_change_state(ids[0], ChangeState::Applied, None, None, at(5, 10)).expect("applied");
        store.set_change_state(ids[1], ChangeState::Applied, Some(901), None, at(5, 10)).expect("added");
        let one = store
            .record_lines(run, &[line("huntress", 2)], ChangeState::Planned, at(5, 11))
            .expect("one more")[0];
        store.set_change_state(one, ChangeState::Failed, None, Some("HTTP 500"), at(5, 12)).expect("failed");

        let changes = store.changes(run).expect("changes");
        assert_eq!(changes.len(), 4);
        assert_eq!(changes.iter().map(|c| c.id).collect::<Vec<_>>(), [ids.clone(), vec![one]].concat());

        let first = &changes[0];
        assert_eq!(first.run_id, run);
        assert_eq!(first.state, ChangeState::Applied);
        assert_eq!(first.vendor, "nodeware");
        assert_eq!(first.account, "Acme Branch, Acme, Main Office");
        assert_eq!(first.created_at, at(5, 9));
        assert_eq!(first.updated_at, at(5, 10));
        assert_eq!(first.plan_line(), lines[0]);
        assert_eq!(first.sources, lines[0].sources);

        let second = &changes[1];
        assert_eq!(second.addition_id, Some(901));
        let mut expected = add;
        expected.addition_id = Some(901);
        assert_eq!(second.plan_line(), expected);

        assert_eq!(changes[2].plan_line(), held);
        assert_eq!(changes[2].state, ChangeState::Planned);
        assert_eq!(changes[3].state, ChangeState::Failed);
        assert_eq!(changes[3].error.as_deref(), Some("HTTP 500"));

        let waiting = store.pending_held().expect("held");
        assert_eq!(waiting.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[2]]);
        assert_eq!(changes.iter().filter(|c| c.state == ChangeState::Applied).count(), 2);

        // Retrying clears the error.
        store.set_change_state(one, ChangeState::Applied, None, None, at(5, 13)).expect("retry");
        assert_eq!(store.changes(run).expect("changes")[3].error, None);

        let json = serde_json::to_value(&changes[0]).expect("json");
        assert_eq!(json["before"], serde_json::json!(12.5));
        assert_eq!(json["state"], "applied");
    }

    #[test]
    fn runs_are_listed_newest_first_and_finish() {
        let mut store = Store::open_in_memory().expect("open");
        let vendors = vec!["huntress".to_string(), "nodeware".to_string()];
        let first = store.start_run(at(1, 9), period(), true, &vendors).expect("first");
        let second = store.start_run(at(2, 9), period().previous(), false, &vendors[..1]).expect("second");
        let third = store.start_run(at(3, 9), period(), false, &[]).expect("third");

        let counts = PlanCounts { add: 1, update: 2, unchanged: 3, held: 4, skipped: 5 };
        store.finish_run(first, at(1, 10), "held", &counts, None).expect("finish");
        store.finish_run(second, at(2, 10), "failed", &PlanCounts::default(), Some("boom")).expect("finish");

        let runs = store.runs(10).expect("runs");
        assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![third, second, first]);
        assert_eq!(store.runs(2).expect("runs").len(), 2);
        assert_eq!(store.runs(usize::MAX).expect("runs").len(), 3);

        let r = store.run(first).expect("run").expect("exists");
        assert_eq!(
            r,
            RunRecord {
                kind: "sync".to_string(),
                id: first,
                started_at: at(1, 9),
                finished_at: Some(at(1, 10)),
                period: "2026-10".to_string(),
                dry_run: true,
                vendors: vendors.clone(),
                result: Some("held".to_string()),
                counts: Some(counts),
                error: None,
            }
        );
        let r = store.run(second).expect("run").expect("exists");
        assert_eq!(r.period, "2026-09");
        assert_eq!(r.error.as_deref(), Some("boom"));
        let r = store.run(third).expect("run").expect("exists");
        assert_eq!(r.finished_at, None);
        assert_eq!(r.vendors, Vec::<String>::new());
        assert_eq!(r.counts, None);
        assert!(store.run(third + 1).expect("run").is_none());

        assert!(matches!(
            store.finish_run(99, at(4, 9), "ok", &counts, None),
            Err(StoreError::Missing { .. })
        ));
    }

    #[test]
    fn a_change_needs_its_run() {
        let mut store = Store::open_in_memory().expect("open");
        let err = store
            .record_lines(77, &[line("nodeware", 3)], ChangeState::Planned, at(1, 9))
            .expect_err("foreign key");
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
        assert!(err.to_string().contains("run 77"), "{err}");
    }

    #[test]
    fn corrupt_json_is_reported() {
        let mut store = Store::open_in_memory().expect("open");
        let run = store.start_run(at(1, 9), period(), false, &[]).expect("run");
        let id =
            store.record_lines(run, &[line("nodeware", 3)], ChangeState::Planned, at(1, 9)).expect("line")[0];
        store.conn.execute("UPDATE changes SET sources = '{oops' WHERE id = ?1", [id]).expect("corrupt it");
        let err = store.changes(run).expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&format!("sources of change {id}")), "{err}");
    }
}
