//! `cargo bench --bench scale` (or `bench/run.sh`): recon at MSP scale, measured against the
//! physical limit. BENCHMARKS.md explains the figures and holds the last recorded run.
//!
//! Builds a large MSP in the sandbox (`recon_sandbox::scale`), drives the real `recon`
//! binary through connect, map services, `sync --dry-run` and `sync --yes` with injected
//! latency, again with one worker, and again under a rate limit the sandbox enforces; then
//! times matching + reconcile alone at 10,000 x 10,000 and `recon status` on the large
//! database. Prints one table. `-- --small` runs a tenth of the size as a quick check.

#![allow(clippy::disallowed_macros)] // a benchmark's report is plain println! output

use anyhow::{Context as _, Result, bail};
use recon::matching;
use recon::model::{
    AccountMapping, BillingLine, MappedBy, PsaCompany, ServiceMapping, Usage, VendorAccount, VendorSnapshot,
};
use recon::period::Period;
use recon::plan::Action;
use recon::policy::SyncPolicy;
use recon::reconcile::{self, ReconcileInput};
use recon_sandbox::SERVICE_PRODUCTS;
use recon_sandbox::scale::{Scale, ScaleSummary, VENDORS, company_name};
use recon_sandbox::{Faults, RecordedRequest, Sandbox, SandboxOptions};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const RECON: &str = env!("CARGO_BIN_EXE_recon");

/// Added by the sandbox to every response (a WAN to a cloud PSA). `RECON_BENCH_LATENCY_MS`
/// overrides it, to see what is left of a run without any network wait.
fn latency() -> Duration {
    let ms = std::env::var("RECON_BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    Duration::from_millis(ms)
}
const WORKERS: usize = 8;
/// The ConnectWise limits of the rate cases (requests per rolling minute, enforced by the
/// sandbox); recon keeps its default ceiling (1,000/min) and adapts.
const CW_DOCUMENTED_PER_MINUTE: u32 = 1_000;
const CW_CROWDED_PER_MINUTE: u32 = 600;
const CW_DROPPED_PER_MINUTE: u32 = 400;
/// recon's budget in the latency cases: high enough never to bind.
const CW_UNLIMITED_PER_MINUTE: u32 = 1_000_000;
/// Huntress documents 60 requests a minute; recon applies it by default.
const HUNTRESS_PER_MINUTE: f64 = 60.0;
const HUNTRESS_PAGE: usize = 500;
const NORDLAYER_PAGE: usize = 200;
const STATUS_RUNS: usize = 15;
const PURE_RUNS: usize = 7;
/// matching + reconcile alone: accounts per vendor (5 vendors) and companies.
const PURE_ACCOUNTS_PER_VENDOR: usize = 2_000;
const PURE_COMPANIES: usize = 10_000;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs bench targets without `--bench`: do nothing there.
    if !args.iter().any(|a| a == "--bench") {
        println!("scale: skipped (run it with `cargo bench --bench scale`)");
        return Ok(());
    }
    let small = args.iter().any(|a| a == "--small");
    let scale = if small { small_scale() } else { Scale::large_msp() };
    if args.iter().any(|a| a == "--autotask-budget") {
        return autotask_budget_case(&small_scale());
    }
    if args.iter().any(|a| a == "--autotask") {
        return autotask_case(&scale);
    }
    if args.iter().any(|a| a == "--halopsa") {
        return halopsa_case(&scale);
    }
    if args.iter().any(|a| a == "--distributors") {
        return distributors_case(&scale);
    }
    if args.iter().any(|a| a == "--devices") {
        return devices_case(&scale);
    }
    let mut rows = Vec::new();

    eprintln!(
        "[1/4] matching + reconcile alone, {} accounts x {PURE_COMPANIES} companies",
        5 * PURE_ACCOUNTS_PER_VENDOR
    );
    let pure = pure_core()?;
    if args.iter().any(|a| a == "--pure-only") {
        // A quick look while working on matching or reconcile.
        println!(
            "match + reconcile: {:.1} ms (CPU {:.1} ms; match {:.1} ms, reconcile {:.1} ms), {} lines",
            pure.best_wall.as_secs_f64() * 1e3,
            pure.best_cpu.as_secs_f64() * 1e3,
            pure.best_match.as_secs_f64() * 1e3,
            pure.best_reconcile.as_secs_f64() * 1e3,
            pure.lines
        );
        return Ok(());
    }

    eprintln!("[2/4] {WORKERS} workers, {} ms latency", latency().as_millis());
    let fast = Case::setup(&scale, WORKERS, Some(CW_UNLIMITED_PER_MINUTE), None)?;
    let dry = fast.run(&["sync", "--dry-run"])?;
    let dry_plan = plan_counts(&dry.stdout)?;
    let sync8 = fast.run(&["sync", "--yes"])?;
    let applied8 = applied(&sync8.stdout)?;
    let again = fast.run(&["sync", "--dry-run"])?;
    let again_plan = plan_counts(&again.stdout)?;
    let mut status = Vec::new();
    for _ in 0..STATUS_RUNS {
        status.push(fast.run(&["status"])?.wall);
    }
    status.sort();
    let summary = fast.summary.clone();
    check_plan(&summary, &dry_plan, applied8, &again_plan)?;
    drop(fast);
    if args.iter().any(|a| a == "--fast-only") {
        // A quick look while working on recon: the 8-worker case only, no table.
        for (name, run) in
            [("sync --dry-run", &dry), ("sync --yes", &sync8), ("sync --dry-run again", &again)]
        {
            println!(
                "{name}: {:.2} s, {} requests, recon CPU {:.2} s",
                run.wall.as_secs_f64(),
                run.requests.len(),
                run.cpu.as_secs_f64()
            );
        }
        return Ok(());
    }

    eprintln!("[3/4] 1 worker, {} ms latency", latency().as_millis());
    let slow = Case::setup(&scale, 1, Some(CW_UNLIMITED_PER_MINUTE), None)?;
    let sync1 = slow.run(&["sync", "--yes"])?;
    let applied1 = applied(&sync1.stdout)?;
    drop(slow);

    eprintln!("[4/4] adaptive rate: four ConnectWise limits, recon at its default ceiling");
    let free = rate_case(&scale, "a: no limit", Enforced::None, 0)?;
    let half = free.cw / 2;
    let documented = rate_case(&scale, "b: 1,000/min", Enforced::Fixed(CW_DOCUMENTED_PER_MINUTE), 0)?;
    let crowded = rate_case(&scale, "c: 600/min", Enforced::Fixed(CW_CROWDED_PER_MINUTE), 0)?;
    let dropped = rate_case(
        &scale,
        "d: 1,000 then 400/min",
        Enforced::Drop { from: CW_DOCUMENTED_PER_MINUTE, to: CW_DROPPED_PER_MINUTE },
        half,
    )?;
    let rate_cases = [&free, &documented, &crowded, &dropped];

    let min_dry = minimum(&scale, &summary, false);
    let min_sync = minimum(&scale, &summary, true);

    // Requests.
    rows.push(Row::count("requests, sync --dry-run", dry.requests.len(), &min_dry));
    rows.push(Row::count("requests, sync --yes (8 workers)", sync8.requests.len(), &min_sync));
    rows.push(Row::count("requests, sync --yes (1 worker)", sync1.requests.len(), &min_sync));

    // Wall time against the physical limit.
    let limit_dry = physical_limit(&dry.requests, WORKERS, None);
    let limit8 = physical_limit(&sync8.requests, WORKERS, None);
    let limit1 = physical_limit(&sync1.requests, 1, None);

    rows.push(Row::wall("wall, sync --dry-run (8 workers)", dry.wall, &limit_dry));
    rows.push(Row::wall("wall, sync --yes (8 workers)", sync8.wall, &limit8));
    rows.push(Row::wall("wall, sync --yes (1 worker)", sync1.wall, &limit1));

    let speedup = sync1.wall.as_secs_f64() / sync8.wall.as_secs_f64();
    rows.push(Row {
        measure: "speed-up, 8 workers vs 1 (sync --yes)".into(),
        measured: format!("{speedup:.2}x"),
        reference: format!("{:.1} s / {:.1} s", sync1.wall.as_secs_f64(), sync8.wall.as_secs_f64()),
        target: ">= 8x".into(),
        met: speedup >= 8.0,
    });

    // The adaptive rate, side by side.
    for case in rate_cases {
        rows.push(Row::count(
            &format!("requests, rate {}", case.name),
            case.run.requests.len() - case.throttled,
            &min_sync,
        ));
        let ratio = case.run.wall.as_secs_f64() / case.limit.seconds;
        rows.push(Row {
            measure: format!("wall, rate {}", case.name),
            measured: format!("{:.1} s ({ratio:.2}x limit)", case.run.wall.as_secs_f64()),
            reference: format!("limit {:.1} s: {}", case.limit.seconds, case.limit.detail),
            target: "<= 1.15x limit".into(),
            met: ratio <= 1.15,
        });
        let late_share = case.throttled_late as f64 / case.late.max(1) as f64;
        rows.push(Row {
            measure: format!("429s, rate {}", case.name),
            measured: format!(
                "{} ({} after the first minute: {:.2} %)",
                case.throttled,
                case.throttled_late,
                late_share * 100.0
            ),
            reference: format!(
                "applied {} of {}; {}",
                case.applied,
                summary.changes(),
                case.settled.as_deref().unwrap_or("?")
            ),
            target: "0 lost; <= 1 % late".into(),
            met: case.applied == summary.changes() && late_share <= 0.01,
        });
    }
    let throttled: usize = [&dry, &sync8, &sync1].iter().map(|r| count_status(&r.requests, 429)).sum();
    rows.push(Row {
        measure: "429s received (the latency cases)".into(),
        measured: throttled.to_string(),
        reference: format!("1 worker applied {applied1} of {}", summary.changes()),
        target: "0".into(),
        met: throttled == 0 && applied1 == summary.changes(),
    });

    // Memory, CPU, status.
    let rss = [&dry, &sync8, &sync1, &documented.run].iter().filter_map(|r| r.peak_rss_kb).max();
    rows.push(Row {
        measure: "peak RSS of recon (largest of the four syncs)".into(),
        measured: rss.map_or_else(|| "n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
        reference: format!(
            "dry-run {}, 8 workers {}, 1 worker {}, rate b {}",
            mb(dry.peak_rss_kb),
            mb(sync8.peak_rss_kb),
            mb(sync1.peak_rss_kb),
            mb(documented.run.peak_rss_kb)
        ),
        target: "<= 64 MB".into(),
        met: rss.is_some_and(|kb| kb <= 64 * 1024),
    });
    rows.push(Row {
        measure: format!(
            "match + reconcile, {} accounts x {PURE_COMPANIES} companies (one thread)",
            5 * PURE_ACCOUNTS_PER_VENDOR
        ),
        measured: format!("{:.1} ms", pure.best_wall.as_secs_f64() * 1e3),
        reference: format!(
            "best of {PURE_RUNS}: 5 auto_match (one per vendor) {:.1} ms + reconcile {:.1} ms; \
             thread CPU {:.1} ms; {} lines",
            pure.best_match.as_secs_f64() * 1e3,
            pure.best_reconcile.as_secs_f64() * 1e3,
            pure.best_cpu.as_secs_f64() * 1e3,
            pure.lines
        ),
        target: "<= 50 ms".into(),
        met: pure.best_wall <= Duration::from_millis(50),
    });
    let median = status[status.len() / 2];
    rows.push(Row {
        measure: "recon status, wall (large database)".into(),
        measured: format!("{:.1} ms", median.as_secs_f64() * 1e3),
        reference: format!(
            "median of {STATUS_RUNS}; best {:.1} ms, worst {:.1} ms",
            status[0].as_secs_f64() * 1e3,
            status[status.len() - 1].as_secs_f64() * 1e3
        ),
        target: "<= 30 ms".into(),
        met: median <= Duration::from_millis(30),
    });

    print_report(&scale, &summary, &rows, &[("sync --dry-run", &dry), ("sync --yes (8 workers)", &sync8)]);
    Ok(())
}

/// The PSA the MSP bills through in this bench run (`--autotask`, `--halopsa`; else
/// ConnectWise): `Case::setup` writes its config section.
static PSA: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

fn psa_is(key: &str) -> bool {
    PSA.get().is_some_and(|p| *p == key)
}

/// A dry run, the push, and a dry run again; fails unless every planned change was applied
/// exactly once and the second dry run has nothing left to do. Returns the three runs, the
/// plan's counts and how many were applied.
fn push_once(case: &Case, psa: &str) -> Result<([Run; 3], PlanCounts, usize)> {
    let dry = case.run(&["sync", "--dry-run"])?;
    let dry_plan = plan_counts(&dry.stdout)?;
    let sync = case.run(&["sync", "--yes"])?;
    let pushed = applied(&sync.stdout)?;
    let again = case.run(&["sync", "--dry-run"])?;
    let again_plan = plan_counts(&again.stdout)?;
    if pushed != dry_plan.add + dry_plan.update || again_plan.add + again_plan.update != 0 {
        bail!(
            "{psa}: planned {} changes, applied {pushed}, {} left after",
            dry_plan.add + dry_plan.update,
            again_plan.add + again_plan.update
        );
    }
    Ok(([dry, sync, again], dry_plan, pushed))
}

/// `--autotask`: the generated MSP's 2,000 Recurring Service contracts synced through the
/// fake Autotask with recon's default share of the hourly budget (3,000 of 10,000): the
/// requests each run sends, by entity, against that budget, and the wall time.
fn autotask_case(scale: &Scale) -> Result<()> {
    let _ = PSA.set("autotask");
    eprintln!(
        "autotask: {} companies, {WORKERS} workers, {} ms latency",
        scale.companies,
        latency().as_millis()
    );
    let case = Case::setup(scale, WORKERS, None, None)?;
    // Autotask keeps a cancelled line at 0 units, so some of ConnectWise's adds are updates
    // here: `push_once` checks that every change landed once and nothing is left.
    let ([dry, sync, again], dry_plan, pushed) = push_once(&case, "autotask")?;
    let runs = [("sync --dry-run", &dry), ("sync --yes", &sync), ("sync --dry-run again", &again)];
    let entity = |r: &RecordedRequest| {
        let path = r.path_and_query.split('?').next().unwrap_or_default();
        path.split("/V1.0/").nth(1).and_then(|p| p.split('/').next()).unwrap_or("zoneInformation").to_string()
    };
    requests_table("autotask", "Autotask requests", "of the 3,000/hour share", &runs, entity, |n| {
        format!("{:.1} %", n as f64 / 30.0)
    });
    println!(
        "\nplan: {} add, {} update, {} unchanged; applied {pushed}; contracts generated: {} (2,000 of them active, one per company)",
        dry_plan.add, dry_plan.update, dry_plan.unchanged, case.summary.agreements
    );
    Ok(())
}

/// recon's share of the Autotask hour in `--autotask-budget` (small, so 4 runs outgrow it).
const AUTOTASK_SMALL_BUDGET: u32 = 60;
/// `requests_per_hour` for the next `Case::setup` (`None`: recon's default share).
static AUTOTASK_BUDGET: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// `--autotask-budget`: 200 contracts (the `--small` MSP), recon's share of the hour set to
/// `AUTOTASK_SMALL_BUDGET`, the setup's connects and maps, then 4 `sync --dry-run` processes
/// and a push in a row: what each sent and how it ended, and the most requests any rolling
/// 60 minutes saw (every request of the case is within the hour), which must not exceed the
/// budget.
fn autotask_budget_case(scale: &Scale) -> Result<()> {
    let _ = PSA.set("autotask");
    let _ = AUTOTASK_BUDGET.set(AUTOTASK_SMALL_BUDGET);
    eprintln!("autotask budget: {} companies, requests_per_hour = {AUTOTASK_SMALL_BUDGET}", scale.companies);
    let case = Case::setup(scale, WORKERS, None, None)?;
    let setup_sent = case.sandbox.requests().iter().filter(|r| r.server == "autotask").count();
    println!("| process | exit | wall | Autotask requests | in the rolling hour so far | said |");
    println!("|---|---|---|---|---|---|");
    println!("| setup: 5 connects, service maps | 0 | | {setup_sent} | {setup_sent} | |");
    let runs: [&[&str]; 5] = [
        &["sync", "--dry-run"],
        &["sync", "--dry-run"],
        &["sync", "--dry-run"],
        &["sync", "--dry-run"],
        &["sync", "--yes"],
    ];
    for args in runs {
        let (run, code) = case.run_to_end(args)?;
        let sent = run.requests.iter().filter(|r| r.server == "autotask").count();
        let all: Vec<Instant> =
            case.sandbox.requests().iter().filter(|r| r.server == "autotask").map(|r| r.at).collect();
        let said = run.stderr.lines().find(|l| l.contains("requests_per_hour")).unwrap_or("").trim();
        println!(
            "| recon {} | {} | {:.1} s | {sent} | {} | {said} |",
            args.join(" "),
            code.map_or("killed".to_string(), |c| c.to_string()),
            run.wall.as_secs_f64(),
            busiest_hour(&all)
        );
    }
    let all: Vec<Instant> =
        case.sandbox.requests().iter().filter(|r| r.server == "autotask").map(|r| r.at).collect();
    let busiest = busiest_hour(&all);
    println!(
        "
most Autotask requests in any rolling 60 minutes: {busiest} (budget {AUTOTASK_SMALL_BUDGET})"
    );
    if busiest > AUTOTASK_SMALL_BUDGET as usize {
        bail!("{busiest} requests in one rolling hour, over the budget of {AUTOTASK_SMALL_BUDGET}");
    }
    Ok(())
}

/// The most of `times` (in order) that fall within any 60 minutes.
fn busiest_hour(times: &[Instant]) -> usize {
    const HOUR: Duration = Duration::from_secs(3600);
    let mut start = 0;
    let mut most = 0;
    for (end, t) in times.iter().enumerate() {
        while t.duration_since(times[start]) >= HOUR {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

/// `--halopsa`: the generated MSP's 2,000 clients synced through the fake Halo, which enforces
/// hosted Halo's 300 requests per rolling 5 minutes, with recon at its default ceiling (55 a
/// minute): the requests each run sends, by entity, and the wall time next to the physical
/// limit (requests / 60 a minute).
fn halopsa_case(scale: &Scale) -> Result<()> {
    let _ = PSA.set("halopsa");
    eprintln!(
        "halopsa: {} companies, {WORKERS} workers, {} ms latency",
        scale.companies,
        latency().as_millis()
    );
    let case = Case::setup(scale, WORKERS, None, None)?;
    let ([dry, sync, again], dry_plan, pushed) = push_once(&case, "halopsa")?;
    let runs = [("sync --dry-run", &dry), ("sync --yes", &sync), ("sync --dry-run again", &again)];
    let entity = |r: &RecordedRequest| {
        let path = r.path_and_query.split('?').next().unwrap_or_default();
        match path.trim_start_matches('/').split('/').collect::<Vec<_>>().as_slice() {
            ["api", "RecurringInvoice", _] => format!("{} RecurringInvoice/{{id}}", r.method),
            ["api", entity, ..] => format!("{} {entity}", r.method),
            other => format!("{} /{}", r.method, other.join("/")),
        }
    };
    // At the physical limit (60 a minute), n requests take n seconds.
    requests_table(
        "halopsa",
        "Halo requests",
        "physical limit (requests / 60 a minute)",
        &runs,
        entity,
        |n| format!("{n}.0 s"),
    );
    println!(
        "\nplan: {} add, {} update, {} unchanged; applied {pushed}; recurring invoices: {}",
        dry_plan.add, dry_plan.update, dry_plan.unchanged, case.summary.agreements
    );
    // The push's own requests: each changed invoice read once more, then re-posted once.
    let is_write = |r: &&RecordedRequest| {
        let path = r.path_and_query.split('?').next().unwrap_or_default();
        (r.method == "GET" && path.starts_with("/api/RecurringInvoice/"))
            || (r.method == "POST" && path == "/api/RecurringInvoice")
    };
    let writes: Vec<&RecordedRequest> = sync.requests.iter().filter(is_write).collect();
    let invoices: BTreeSet<&str> =
        writes.iter().filter(|r| r.method == "GET").map(|r| r.path_and_query.as_str()).collect();
    println!(
        "push: {pushed} changed lines on {} invoices: {} requests, {:.2} per changed invoice, {:.2} per changed line",
        invoices.len(),
        writes.len(),
        writes.len() as f64 / invoices.len().max(1) as f64,
        writes.len() as f64 / pushed.max(1) as f64
    );
    Ok(())
}

/// Pax8 and Sherweb customers of the generated MSP (`--distributors`): 1,000 and 300 of the
/// 2,000 companies (a half and a sixth of a smaller MSP).
const PAX8_CUSTOMERS: usize = 1_000;
const SHERWEB_CUSTOMERS: usize = 300;

/// `--distributors`: the generated MSP (ConnectWise) with 1,000 Pax8 and 300 Sherweb
/// customers, each with Microsoft 365: the requests a dry run sends each distributor, against
/// the fewest its API allows (Pax8: a token, the companies and every subscription in pages of
/// 200, one read per product named only by id; Sherweb: a token, the customers, and one
/// subscriptions read per customer, as it has no read across customers).
fn distributors_case(scale: &Scale) -> Result<()> {
    let (pax8_customers, sherweb_customers) =
        (PAX8_CUSTOMERS.min(scale.companies / 2), SHERWEB_CUSTOMERS.min(scale.companies / 6));
    eprintln!(
        "distributors: {} companies, {pax8_customers} at Pax8, {sherweb_customers} at Sherweb",
        scale.companies
    );
    let options = SandboxOptions { latency: latency(), workers: WORKERS, ..SandboxOptions::default() };
    let (sandbox, summary) = Sandbox::start_large(options, scale).context("starting the large sandbox")?;
    sandbox.serve_generated_distributors(pax8_customers, sherweb_customers);
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.toml");
    let db = dir.path().join("recon.db");
    let text = format!("{}\n[http]\nworkers = {WORKERS}\n", sandbox.config_toml_for(&["pax8", "sherweb"]));
    write_private(&config, &text)?;
    let case = Case { sandbox, _dir: dir, config, db, summary };
    for (vendor, customers) in [("pax8", pax8_customers), ("sherweb", sherweb_customers)] {
        let run = case.run(&["--json", "connect", vendor])?;
        let report: serde_json::Value = serde_json::from_str(&run.stdout)?;
        let matched = report["auto_matched"].as_u64().unwrap_or(0) as usize;
        if matched != customers {
            bail!("connect {vendor}: auto-matched {matched} of {customers}");
        }
    }
    for (vendor, service, product) in recon_sandbox::DISTRIBUTOR_PRODUCTS {
        case.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product])?;
    }
    let dry = case.run(&["sync", "--dry-run"])?;
    let plan = plan_counts(&dry.stdout)?;
    let pages = |n: usize| n.div_ceil(200);
    let pax8_subscriptions = pax8_customers + pax8_customers.div_ceil(3);
    let minimum = [
        ("pax8", 1 + pages(pax8_customers) + pages(pax8_subscriptions) + 1),
        ("sherweb", 1 + 1 + sherweb_customers),
    ];
    println!("| distributor | customers | requests (sync --dry-run) | the fewest its API allows |");
    println!("|---|---|---|---|");
    for ((vendor, least), customers) in minimum.iter().zip([pax8_customers, sherweb_customers]) {
        let sent = dry.requests.iter().filter(|r| r.server == *vendor).count();
        println!("| {vendor} | {customers} | {sent} | {least} |");
        if sent != *least {
            bail!("{vendor}: {sent} requests, the fewest is {least}");
        }
    }
    println!(
        "\nsync --dry-run: {:.1} s wall, {} requests in all; plan: {} add, {} update, {} unchanged, {} held",
        dry.wall.as_secs_f64(),
        dry.requests.len(),
        plan.add,
        plan.update,
        plan.unchanged,
        plan.held
    );
    // The audit of last month: Pax8's invoice list and the month's invoice items, Sherweb's
    // payable charges of the period, beside the same PSA reads as the dry run.
    // Exit 5: the audit found gaps (the generated PSA lines are not the invoiced seats).
    let (audit, code) = case.run_to_end(&["--json", "audit", "--period", "previous"])?;
    if !matches!(code, Some(0 | 5)) {
        bail!("audit exited {code:?}: {}", audit.stderr);
    }
    let report: serde_json::Value = serde_json::from_str(&audit.stdout).context("audit --json")?;
    let audited: Vec<&str> = report["vendors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["state"] == "audited")
        .filter_map(|v| v["vendor"].as_str())
        .collect();
    if audited != ["pax8", "sherweb"] {
        bail!("audit: not every distributor was audited: {}", report["vendors"]);
    }
    let minimum = [("pax8", 1 + 1 + pages(pax8_subscriptions)), ("sherweb", 1 + 1)];
    println!("\n| distributor | requests (audit --period previous) | the fewest its API allows |");
    println!("|---|---|---|");
    for (vendor, least) in minimum {
        let sent = audit.requests.iter().filter(|r| r.server == vendor).count();
        println!("| {vendor} | {sent} | {least} |");
        if sent != least {
            bail!("audit: {vendor}: {sent} requests, the fewest is {least}");
        }
    }
    let psa = |run: &Run| run.requests.iter().filter(|r| r.server == "connectwise").count();
    println!(
        "\naudit --period previous: {:.1} s wall, peak RSS {}, {} rows, leak {}; ConnectWise requests {} (the dry run's: {})",
        audit.wall.as_secs_f64(),
        audit.peak_rss_kb.map_or("?".to_string(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
        report["rows"].as_array().map_or(0, Vec::len),
        report["totals"]["leak"],
        psa(&audit),
        psa(&dry),
    );
    Ok(())
}

/// Organizations (sites) and devices of the generated MSP (`--devices`).
const DEVICE_ORGANIZATIONS: usize = 2_000;
const DEVICES: usize = 60_000;

/// `--devices`: the generated MSP (ConnectWise) with every company a NinjaOne organization,
/// a Datto RMM site and a SentinelOne site, and 60,000 devices: the requests a dry run sends
/// each vendor against the fewest its API allows.
fn devices_case(scale: &Scale) -> Result<()> {
    let organizations = DEVICE_ORGANIZATIONS.min(scale.companies);
    let devices = DEVICES * organizations / DEVICE_ORGANIZATIONS;
    eprintln!("devices: {} companies, {organizations} organizations, {devices} devices", scale.companies);
    let options = SandboxOptions { latency: latency(), workers: WORKERS, ..SandboxOptions::default() };
    let (sandbox, summary) = Sandbox::start_large(options, scale).context("starting the large sandbox")?;
    sandbox.serve_generated_devices(organizations, devices);
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.toml");
    let db = dir.path().join("recon.db");
    let vendors = ["ninjaone", "datto-rmm", "sentinelone"];
    let text = format!("{}\n[http]\nworkers = {WORKERS}\n", sandbox.config_toml_for(&vendors));
    write_private(&config, &text)?;
    let case = Case { sandbox, _dir: dir, config, db, summary };
    for vendor in vendors {
        let connect = case.run(&["--json", "connect", vendor])?;
        let report: serde_json::Value = serde_json::from_str(&connect.stdout)?;
        let matched = report["auto_matched"].as_u64().unwrap_or(0) as usize;
        if matched != organizations {
            bail!("connect {vendor}: auto-matched {matched} of {organizations}");
        }
    }
    let mappings: [(&str, &str, &[&str]); 4] = [
        ("ninjaone", "devices", &["--class", "workstation", "--product", "MANAGED-WS"]),
        ("ninjaone", "devices", &["--class", "server", "--product", "MANAGED-SRV"]),
        ("datto-rmm", "devices", &["--product", "BACKUP-SEATS"]),
        ("sentinelone", "complete", &["--product", "HUNTRESS-EDR"]),
    ];
    for (vendor, service, rest) in mappings {
        let mut args = vec!["map", "services", "--vendor", vendor, "--set", service];
        args.extend_from_slice(rest);
        case.run(&args)?;
    }
    let dry = case.run(&["--json", "sync", "--dry-run"])?;
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout).context("sync --json")?;
    let lines = plan["lines"].as_array().map_or(0, Vec::len);
    let billed: u64 =
        plan["lines"].as_array().into_iter().flatten().filter_map(|l| l["after"].as_u64()).sum();
    // NinjaOne pages by `after`: a page shorter than asked for is the last, so n full pages
    // need n + 1. Datto and SentinelOne say when there is no next page.
    let after_pages = |n: usize, size: usize| n / size + 1;
    let pages = |n: usize, size: usize| n.div_ceil(size).max(1);
    let least = [
        ("ninjaone", 1 + after_pages(organizations, 1000) + after_pages(devices, 1000)),
        // token, the custom filters, the not-billable filter's devices, the account's devices,
        // the sites (with the three system sites)
        ("datto-rmm", 1 + 1 + 1 + pages(devices, 250) + pages(organizations + 3, 250)),
        ("sentinelone", pages(organizations, 1000)),
    ];
    println!("| vendor | sites | devices | requests (sync --dry-run) | the fewest its API allows |");
    println!("|---|---|---|---|---|");
    for (vendor, least) in least {
        let sent = dry.requests.iter().filter(|r| r.server == vendor).count();
        println!("| {vendor} | {organizations} | {devices} | {sent} | {least} |");
        if sent != least {
            bail!("{vendor}: {sent} requests, the fewest is {least}");
        }
    }
    println!(
        "\nsync --dry-run: {:.1} s wall, peak RSS {}, {} requests in all; {lines} plan lines billing {billed}",
        dry.wall.as_secs_f64(),
        dry.peak_rss_kb.map_or("?".to_string(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
        dry.requests.len(),
    );
    Ok(())
}

/// One row per run: its wall time, the requests `server` answered, `share` of them, by
/// entity, and how many were 429s.
fn requests_table(
    server: &str,
    requests: &str,
    share_header: &str,
    runs: &[(&str, &Run)],
    entity: impl Fn(&RecordedRequest) -> String,
    share: impl Fn(usize) -> String,
) {
    println!("| run | wall | {requests} | {share_header} | by entity | 429s |");
    println!("|---|---|---|---|---|---|");
    for (name, run) in runs {
        let sent: Vec<&RecordedRequest> = run.requests.iter().filter(|r| r.server == server).collect();
        let mut by_entity: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for r in &sent {
            *by_entity.entry(entity(r)).or_default() += 1;
        }
        let entities: Vec<String> = by_entity.iter().map(|(e, n)| format!("{e} {n}")).collect();
        println!(
            "| {name} | {:.1} s | {} | {} | {} | {} |",
            run.wall.as_secs_f64(),
            sent.len(),
            share(sent.len()),
            entities.join(", "),
            sent.iter().filter(|r| r.status == 429).count()
        );
    }
}

fn small_scale() -> Scale {
    Scale {
        companies: 200,
        inactive_agreements: 50,
        nodeware: 120,
        huntress: 150,
        saas_alerts: 100,
        nordlayer: 40,
        nordpass: 50,
        ..Scale::large_msp()
    }
}

/// One sandbox, a temp home with config and database, connected and mapped.
struct Case {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    summary: ScaleSummary,
}

/// One recon process: its wall time, peak RSS and the requests the sandbox saw meanwhile.
struct Run {
    wall: Duration,
    peak_rss_kb: Option<u64>,
    /// CPU time of the recon process (user + system).
    cpu: Duration,
    stdout: String,
    stderr: String,
    requests: Vec<RecordedRequest>,
}

impl Case {
    /// `cw_per_minute`: what recon is told (`None`: its default); `enforced`: the sandbox's limit.
    fn setup(
        scale: &Scale,
        workers: usize,
        cw_per_minute: Option<u32>,
        enforced: Option<u32>,
    ) -> Result<Case> {
        let faults = Faults {
            requests_per_minute: enforced,
            servers: vec!["connectwise".to_string()],
            ..Faults::default()
        };
        let options =
            SandboxOptions { latency: latency(), faults, workers: WORKERS, ..SandboxOptions::default() };
        let (sandbox, summary) =
            Sandbox::start_large(options, scale).context("starting the large sandbox")?;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        let db = dir.path().join("recon.db");
        let mut text = if psa_is("autotask") {
            // recon's default share of the hourly budget (3,000), not the sandbox's 10,000,
            // unless the case sets its own.
            let share =
                AUTOTASK_BUDGET.get().map(|b| format!("requests_per_hour = {b}\n")).unwrap_or_default();
            sandbox.autotask_config_toml_for(&VENDORS).replace("requests_per_hour = 10000\n", &share)
        } else if psa_is("halopsa") {
            // recon's default ceiling (55 a minute), not the sandbox's 1,000.
            sandbox.halopsa_config_toml_for(&VENDORS).replace("requests_per_minute = 1000\n", "")
        } else {
            sandbox.config_toml_for(&VENDORS)
        };
        if let Some(rpm) = cw_per_minute.filter(|_| PSA.get().is_none()) {
            text =
                text.replacen("[connectwise]\n", &format!("[connectwise]\nrequests_per_minute = {rpm}\n"), 1);
        }
        // The sandbox's config pushes every change (recon's default policy would hold some).
        let text = format!("{text}\n[http]\nworkers = {workers}\n");
        write_private(&config, &text)?;
        let case = Case { sandbox, _dir: dir, config, db, summary };
        for vendor in VENDORS {
            let run = case.run(&["--json", "connect", vendor])?;
            let report: serde_json::Value = serde_json::from_str(&run.stdout)
                .with_context(|| format!("connect {vendor}: not JSON: {}", run.stdout))?;
            let expected = case.summary.accounts.get(vendor).copied().unwrap_or(0);
            let matched = report["auto_matched"].as_u64().unwrap_or(0) as usize;
            let without = report["needs_agreement"].as_array().map_or(0, Vec::len);
            if matched != expected || without != 0 {
                bail!(
                    "connect {vendor}: auto-matched {matched} of {expected}, {without} without an agreement"
                );
            }
        }
        for (vendor, service, product) in SERVICE_PRODUCTS.iter().filter(|(v, _, _)| VENDORS.contains(v)) {
            case.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product])?;
        }
        Ok(case)
    }

    fn run(&self, args: &[&str]) -> Result<Run> {
        let (run, code) = self.run_to_end(args)?;
        if code != Some(0) {
            bail!(
                "recon {args:?} exited {code:?}\nstdout (end): {}\nstderr: {}",
                tail(&run.stdout, 2000),
                tail(&run.stderr, 4000)
            );
        }
        Ok(run)
    }

    /// One recon process run to its end, however it ends: the run and its exit code.
    fn run_to_end(&self, args: &[&str]) -> Result<(Run, Option<i32>)> {
        let before = self.sandbox.requests().len();
        let started = Instant::now();
        let child = Command::new(RECON)
            .env_clear()
            .env("HOME", self.config.parent().unwrap_or(Path::new("/")))
            .env("RECON_CONFIG", &self.config)
            .env("RECON_DB", &self.db)
            .arg("--no-progress")
            .args(std::env::var_os("RECON_BENCH_LOG").map(|_| "-vv"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting recon")?;
        let sampler = RssSampler::start(child.id());
        let output = child.wait_with_output()?;
        let wall = started.elapsed();
        let (peak_rss_kb, cpu) = sampler.stop();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if let Some(dir) = std::env::var_os("RECON_BENCH_LOG") {
            static RUNS: AtomicU64 = AtomicU64::new(0);
            let n = RUNS.fetch_add(1, Ordering::Relaxed);
            let name = format!("{n:03}-{}.log", args.join("_").replace(['/', ' '], "_"));
            std::fs::write(Path::new(&dir).join(name), &output.stderr)?;
        }
        let requests = self.sandbox.requests().get(before..).map(<[_]>::to_vec).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Ok((Run { wall, peak_rss_kb, cpu, stdout, stderr, requests }, output.status.code()))
    }
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    &text[start..]
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    Ok(recon::private_files::write(path, text)?)
}

/// Polls `VmHWM` (the kernel's own peak-RSS counter) of a running process every 2 ms; the
/// last reading before it exits is its peak, short of any growth in its last 2 ms.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    /// utime + stime in clock ticks, as last read.
    cpu_ticks: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let cpu_ticks = Arc::new(AtomicU64::new(0));
        let (s, p, c) = (Arc::clone(&stop), Arc::clone(&peak), Arc::clone(&cpu_ticks));
        let thread = std::thread::spawn(move || {
            let (status, stat) = (format!("/proc/{pid}/status"), format!("/proc/{pid}/stat"));
            while !s.load(Ordering::Relaxed) {
                if let Some(kb) = std::fs::read_to_string(&status).ok().and_then(|t| vm_hwm_kb(&t)) {
                    p.fetch_max(kb, Ordering::Relaxed);
                }
                if let Some(ticks) = std::fs::read_to_string(&stat).ok().and_then(|t| cpu_ticks_of(&t)) {
                    c.fetch_max(ticks, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        RssSampler { stop, peak, cpu_ticks, thread }
    }

    /// (peak RSS in kB, CPU time used, short of its last 2 ms)
    fn stop(self) -> (Option<u64>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let peak = Some(self.peak.load(Ordering::Relaxed)).filter(|kb| *kb > 0);
        // Linux reports /proc times in USER_HZ, 100 per second.
        (peak, Duration::from_millis(self.cpu_ticks.load(Ordering::Relaxed) * 10))
    }
}

/// utime + stime from `/proc/<pid>/stat` (fields 14 and 15; the name in field 2 may hold spaces).
fn cpu_ticks_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field 14 is index 11.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(|| "n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0))
}

/// `Plan (dry run) for 2026-11: 240 add, 560 update, 7200 unchanged, 0 held, 0 skipped.`
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PlanCounts {
    add: usize,
    update: usize,
    unchanged: usize,
    held: usize,
    skipped: usize,
}

fn plan_counts(stdout: &str) -> Result<PlanCounts> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Plan") && l.contains(" add, "))
        .context("no plan summary line in the output")?;
    let (_, counts) = line.split_once(": ").context("plan summary without counts")?;
    let mut out = PlanCounts::default();
    for part in counts.trim_end_matches('.').split(", ") {
        let (n, what) = part.split_once(' ').context("bad plan count")?;
        let n: usize = n.parse()?;
        match what {
            "add" => out.add = n,
            "update" => out.update = n,
            "unchanged" => out.unchanged = n,
            "held" => out.held = n,
            "skipped" => out.skipped = n,
            _ => {}
        }
    }
    Ok(out)
}

/// `Applied 800 of 800 changes (run 2).`
fn applied(stdout: &str) -> Result<usize> {
    let line = stdout.lines().find(|l| l.starts_with("Applied ")).context("no `Applied` line")?;
    let mut words = line.split_whitespace().skip(1);
    let done: usize = words.next().context("bad Applied line")?.parse()?;
    let of: usize = words.nth(1).context("bad Applied line")?.parse()?;
    if done != of {
        bail!("{line}");
    }
    Ok(done)
}

/// The plan must be what the generator put in, the sync must apply all of it, and a second
/// plan must have nothing left to do.
fn check_plan(s: &ScaleSummary, dry: &PlanCounts, applied: usize, again: &PlanCounts) -> Result<()> {
    let want =
        PlanCounts { add: s.adds, update: s.updates, unchanged: s.lines - s.changes(), held: 0, skipped: 0 };
    if *dry != want {
        bail!("dry-run plan {dry:?}, generated {want:?}");
    }
    if applied != s.changes() {
        bail!("applied {applied} of {} changes", s.changes());
    }
    let settled = PlanCounts { add: 0, update: 0, unchanged: s.lines, held: 0, skipped: 0 };
    if *again != settled {
        bail!("the plan after the sync is {again:?}, want {settled:?}");
    }
    Ok(())
}

fn count_status(requests: &[RecordedRequest], status: u16) -> usize {
    requests.iter().filter(|r| r.status == status).count()
}

/// The fewest requests a sync can make, by what the APIs offer.
struct Minimum {
    total: usize,
    detail: String,
}

fn minimum(scale: &Scale, s: &ScaleSummary, writes: bool) -> Minimum {
    let huntress_pages = scale.huntress.div_ceil(HUNTRESS_PAGE).max(1);
    // NordLayer gives no total: the list ends on a short (possibly empty) page.
    let nordlayer_pages = scale.nordlayer / NORDLAYER_PAGE + 1;
    let vendor = 1 + huntress_pages + 1 + nordlayer_pages + scale.nordlayer;
    let changes = if writes { s.changes() } else { 0 };
    // The billing terms of the agreements read (`id in (...)`, 100 a request) and the
    // catalog prices of the mapped products (one request: there are fewer than 100).
    let terms = s.agreements_with_lines.div_ceil(100);
    let products = recon_sandbox::SERVICE_PRODUCTS.iter().filter(|(v, _, _)| VENDORS.contains(v)).count();
    let catalog = products.div_ceil(100);
    // 1: codebase discovery (the config names no codebase).
    let total = 1 + s.agreements_with_lines + terms + catalog + changes + vendor;
    let detail = format!(
        "min {total} = 1 discovery + {} additions reads + {terms} terms + {catalog} catalog + {changes} writes \
         + {vendor} vendor ({} pages + {} NordLayer usage)",
        s.agreements_with_lines,
        vendor - scale.nordlayer,
        scale.nordlayer
    );
    Minimum { total, detail }
}

/// What the sandbox enforces on ConnectWise in a rate case.
#[derive(Clone, Copy)]
enum Enforced {
    None,
    Fixed(u32),
    /// `from` until half the sync's ConnectWise requests are made, then `to` (the window's
    /// history kept: another integration started sharing the PSA).
    Drop {
        from: u32,
        to: u32,
    },
}

/// One rate case: a fresh sandbox with that limit, one `sync --yes`.
struct RateCase {
    name: &'static str,
    run: Run,
    applied: usize,
    /// ConnectWise requests answered (429s included).
    cw: usize,
    throttled: usize,
    /// ConnectWise requests and 429s after the sync's first minute.
    late: usize,
    throttled_late: usize,
    settled: Option<String>,
    limit: Limit,
}

fn rate_case(scale: &Scale, name: &'static str, enforced: Enforced, half: usize) -> Result<RateCase> {
    let first = match enforced {
        Enforced::None => None,
        Enforced::Fixed(n) | Enforced::Drop { from: n, .. } => Some(n),
    };
    eprintln!("      rate case {name}");
    let case = Case::setup(scale, WORKERS, None, first)?;
    let before = case.sandbox.requests().len();
    let done = AtomicBool::new(false);
    // ConnectWise requests answered before the limit dropped (all of them when it did not).
    let switched = AtomicU64::new(u64::MAX);
    let run = std::thread::scope(|scope| {
        if let Enforced::Drop { to, .. } = enforced {
            let (case, done, switched) = (&case, &done, &switched);
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let cw = case.sandbox.requests()[before..]
                        .iter()
                        .filter(|r| r.server == "connectwise")
                        .count();
                    if cw >= half {
                        case.sandbox.set_rate_limit("connectwise", Some(to));
                        switched.store(cw as u64, Ordering::Relaxed);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        let run = case.run(&["-v", "sync", "--yes"]);
        done.store(true, Ordering::Relaxed);
        run
    })?;
    let applied = applied(&run.stdout)?;
    let cw_requests: Vec<&RecordedRequest> =
        run.requests.iter().filter(|r| r.server == "connectwise").collect();
    let cw = cw_requests.len();
    let throttled = count_status(&run.requests, 429);
    let start = run.requests.first().map(|r| r.at);
    let late: Vec<&&RecordedRequest> = cw_requests
        .iter()
        .filter(|r| start.is_some_and(|s| r.at.duration_since(s) >= Duration::from_secs(60)))
        .collect();
    let throttled_late = late.iter().filter(|r| r.status == 429).count();
    // The limit: requests x latency / workers, or the ConnectWise requests that were admitted
    // over the rate the sandbox allowed while they were made.
    let admitted = cw - cw_requests.iter().filter(|r| r.status == 429).count();
    let (cw_seconds, cw_detail) = match enforced {
        Enforced::None => {
            let s = admitted as f64 / (f64::from(CW_DOCUMENTED_PER_MINUTE) / 60.0);
            (s, format!("{admitted} CW / the 1000/min ceiling = {s:.1} s"))
        }
        Enforced::Fixed(n) => {
            let s = admitted as f64 / (f64::from(n) / 60.0);
            (s, format!("{admitted} CW / {n} per min = {s:.1} s"))
        }
        Enforced::Drop { from, to } => {
            let at = usize::try_from(switched.load(Ordering::Relaxed)).unwrap_or(cw).min(cw);
            let before_drop = cw_requests[..at].iter().filter(|r| r.status != 429).count();
            let after = admitted - before_drop;
            let s = before_drop as f64 / (f64::from(from) / 60.0) + after as f64 / (f64::from(to) / 60.0);
            (s, format!("{before_drop} CW / {from} + {after} CW / {to} per min = {s:.1} s"))
        }
    };
    let n = (run.requests.len() - throttled) as f64;
    let latency_bound = n * latency().as_secs_f64() / WORKERS as f64;
    let limit = if latency_bound > cw_seconds {
        Limit {
            seconds: latency_bound,
            detail: format!("{n:.0} x {} ms / {WORKERS} = {latency_bound:.1} s", latency().as_millis()),
        }
    } else {
        Limit { seconds: cw_seconds, detail: cw_detail }
    };
    let settled = run
        .stderr
        .lines()
        .find(|l| l.contains("connectwise: settled at"))
        .map(|l| l.split("connectwise: ").nth(1).unwrap_or(l).trim().to_string());
    Ok(RateCase { name, applied, cw, throttled, late: late.len(), throttled_late, settled, limit, run })
}

/// max(requests x latency / workers, per host: requests / allowed rate).
struct Limit {
    seconds: f64,
    detail: String,
}

fn physical_limit(requests: &[RecordedRequest], workers: usize, cw_per_minute: Option<u32>) -> Limit {
    let n = requests.len() as f64;
    let latency_bound = n * latency().as_secs_f64() / workers as f64;
    let cw = requests.iter().filter(|r| r.server == "connectwise").count() as f64;
    let huntress = requests.iter().filter(|r| r.server == "huntress").count() as f64;
    let cw_bound = cw_per_minute.map_or(0.0, |rpm| cw / (f64::from(rpm) / 60.0));
    let huntress_bound = huntress / (HUNTRESS_PER_MINUTE / 60.0);
    let seconds = latency_bound.max(cw_bound).max(huntress_bound);
    let mut detail = format!("{:.0} x {} ms / {workers} = {latency_bound:.2} s", n, latency().as_millis());
    if let Some(rpm) = cw_per_minute {
        detail.push_str(&format!("; {cw:.0} CW / {rpm} per min = {cw_bound:.2} s"));
    }
    detail.push_str(&format!("; {huntress:.0} Huntress / 60 per min = {huntress_bound:.0} s"));
    Limit { seconds, detail }
}

struct Row {
    measure: String,
    measured: String,
    reference: String,
    target: String,
    met: bool,
}

impl Row {
    fn count(measure: &str, made: usize, min: &Minimum) -> Row {
        Row {
            measure: measure.into(),
            measured: made.to_string(),
            reference: min.detail.clone(),
            target: "= minimum".into(),
            met: made == min.total,
        }
    }

    fn wall(measure: &str, wall: Duration, limit: &Limit) -> Row {
        let ratio = wall.as_secs_f64() / limit.seconds;
        Row {
            measure: measure.into(),
            measured: format!("{:.2} s ({ratio:.2}x limit)", wall.as_secs_f64()),
            reference: format!("limit {:.2} s: {}", limit.seconds, limit.detail),
            target: "<= 1.25x limit".into(),
            met: ratio <= 1.25,
        }
    }
}

fn print_report(scale: &Scale, s: &ScaleSummary, rows: &[Row], runs: &[(&str, &Run)]) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.to_string()))
        .and_then(|l| l.split_once(':').map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "recon scale benchmark: {} companies, {} agreements ({} active), {} vendors, {} accounts, \
         {} additions, {} lines ({} change: {} update, {} add)",
        s.companies,
        s.agreements,
        s.active_agreements,
        s.accounts.len(),
        scale.accounts(),
        s.additions,
        s.lines,
        s.changes(),
        s.updates,
        s.adds
    );
    println!(
        "machine: {cores} cores, {cpu}; sandbox latency {} ms per request, {WORKERS} server threads per service",
        latency().as_millis()
    );
    println!();
    println!("| measure | measured | reference | target | met |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.measure,
            r.measured,
            r.reference,
            r.target,
            if r.met { "yes" } else { "**no**" }
        );
    }
    println!();
    for (name, run) in runs {
        let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
        for r in &run.requests {
            *by.entry((r.server.clone(), r.method.clone())).or_default() += 1;
        }
        let parts: Vec<String> = by.iter().map(|((s, m), n)| format!("{s} {m} {n}")).collect();
        println!(
            "{name}: {} requests ({}); recon CPU {:.2} s in {:.2} s wall",
            run.requests.len(),
            parts.join(", "),
            run.cpu.as_secs_f64(),
            run.wall.as_secs_f64()
        );
    }
}

/// Best of `PURE_RUNS`: wall clock of single-threaded in-memory work (the figure used), and
/// the thread's CPU time from the kernel as a cross-check.
struct PureTimes {
    best_wall: Duration,
    best_cpu: Duration,
    best_match: Duration,
    best_reconcile: Duration,
    lines: usize,
}

/// CPU time of this thread (`/proc/thread-self/schedstat`, nanoseconds on the CPU).
fn thread_cpu() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = text.split_whitespace().next().context("empty schedstat")?.parse()?;
    Ok(Duration::from_nanos(ns))
}

/// matching (one `auto_match` per vendor, as `recon connect` does) and one `reconcile` over
/// every vendor, on generated data; best of `PURE_RUNS`.
fn pure_core() -> Result<PureTimes> {
    // (vendor, services) as the real adapters report them.
    let vendors: [(&str, &[&str]); 5] = [
        ("nodeware", &["vms"]),
        ("huntress", &["edr-agents", "itdr-identities", "sat-learners"]),
        ("saas-alerts", &["billable-users"]),
        ("nordlayer", &["licenses", "servers"]),
        ("nordpass", &["business"]),
    ];
    let mut rng = fastrand::Rng::with_seed(11);
    let companies: Vec<PsaCompany> = (0..PURE_COMPANIES)
        .map(|i| PsaCompany { id: 100_000 + i as i64, identifier: format!("C{i}"), name: company_name(i) })
        .collect();
    let agreement_of = |company_id: i64| company_id + 1_000_000;
    let mut accounts: Vec<(String, Vec<VendorAccount>)> = Vec::new();
    let mut snapshots = BTreeMap::new();
    let mut service_mappings = Vec::new();
    let mut product_id = 500;
    let mut products: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (vendor, services) in vendors {
        for service in services {
            product_id += 1;
            products.insert((vendor.to_string(), service.to_string()), product_id);
            service_mappings.push(ServiceMapping {
                vendor: vendor.to_string(),
                service_key: service.to_string(),
                product_id,
                product_identifier: format!("P-{product_id}"),
                minimum: None,
                bill_customer: None,
                committed_decreases: false,
                classes: None,
                included: None,
            });
        }
        let mut picks: Vec<usize> = (0..PURE_COMPANIES).collect();
        rng.shuffle(&mut picks);
        picks.truncate(PURE_ACCOUNTS_PER_VENDOR);
        let mut snapshot = VendorSnapshot::default();
        for (n, i) in picks.into_iter().enumerate() {
            let id = format!("{vendor}-{n}");
            for service in services {
                snapshot.usage.push(Usage {
                    account_id: id.clone(),
                    service_key: service.to_string(),
                    quantity: rng.u32(1..=150),
                    ..Default::default()
                });
            }
            snapshot.accounts.push(VendorAccount {
                id,
                name: company_name(i),
                status: None,
                raw: serde_json::json!({ "id": n, "name": company_name(i), "count": 12 }),
            });
        }
        accounts.push((vendor.to_string(), snapshot.accounts.clone()));
        snapshots.insert(vendor.to_string(), snapshot);
    }

    // Mappings as connect would make them, to build the additions once.
    let name_of: BTreeMap<i64, &str> = companies.iter().map(|c| (c.id, c.name.as_str())).collect();
    let mappings_for = |outcomes: &[(String, matching::MatchOutcome)]| -> Vec<AccountMapping> {
        let mut out = Vec::new();
        for (vendor, outcome) in outcomes {
            for (account_id, company_id) in &outcome.matched {
                out.push(AccountMapping {
                    vendor: vendor.clone(),
                    account_id: account_id.clone(),
                    account_name: String::new(),
                    company_id: *company_id,
                    company_name: name_of.get(company_id).map_or_else(String::new, |n| n.to_string()),
                    agreement_id: Some(agreement_of(*company_id)),
                    agreement_name: Some("Managed Services".into()),
                    how: MappedBy::Auto,
                });
            }
        }
        out
    };
    let none = HashSet::new();
    let outcomes: Vec<(String, matching::MatchOutcome)> = accounts
        .iter()
        .map(|(v, a)| (v.clone(), matching::auto_match(a, &companies, &none, &HashSet::new())))
        .collect();
    let mappings = mappings_for(&outcomes);
    let company_of: BTreeMap<(&str, &str), i64> =
        mappings.iter().map(|m| ((m.vendor.as_str(), m.account_id.as_str()), m.company_id)).collect();
    let mut additions: BTreeMap<i64, Vec<BillingLine>> = BTreeMap::new();
    let mut next_id = 1;
    let mut expected_writes = 0;
    for (vendor, snapshot) in &snapshots {
        for u in &snapshot.usage {
            let Some(company) = company_of.get(&(vendor.as_str(), u.account_id.as_str())) else { continue };
            let agreement_id = agreement_of(*company);
            let list = additions.entry(agreement_id).or_default();
            let roll = rng.u32(0..100);
            if roll < 3 {
                expected_writes += 1;
                continue;
            }
            let quantity = if roll < 10 { u.quantity + 1 } else { u.quantity };
            expected_writes += usize::from(roll < 10);
            let product_id = products.get(&(vendor.clone(), u.service_key.clone())).copied();
            list.push(BillingLine {
                id: next_id,
                agreement_id,
                product_id,
                product_identifier: None,
                quantity: quantity.into(),
                less_included: Default::default(),
                unit_price: Some(rust_decimal::Decimal::new(4500, 2)),
                unit_cost: None,
                bill_customer: None,
                effective_date: None,
                cancelled_date: None,
                schedule: Vec::new(),
                inactive: false,
                computed: false,
                pro_rata: rust_decimal::Decimal::ZERO,
            });
            next_id += 1;
        }
    }
    for c in &companies {
        let agreement_id = agreement_of(c.id);
        additions.entry(agreement_id).or_default().push(BillingLine {
            id: next_id,
            agreement_id,
            product_id: Some(999),
            product_identifier: Some("MANAGED-WS".into()),
            quantity: 10.into(),
            less_included: Default::default(),
            unit_price: None,
            unit_cost: None,
            bill_customer: None,
            effective_date: None,
            cancelled_date: None,
            schedule: Vec::new(),
            inactive: false,
            computed: false,
            pro_rata: rust_decimal::Decimal::ZERO,
        });
        next_id += 1;
    }
    let policy = SyncPolicy::push_everything();
    let period = Period { year: 2026, month: 11 };
    let terms: BTreeMap<i64, recon::model::BillingTerms> = additions
        .keys()
        .map(|&id| {
            let terms = recon::model::BillingTerms {
                container_id: id,
                bill_start_date: None,
                next_invoice_date: None,
                prorate: true,
                currency: None,
                open_from: None,
            };
            (id, terms)
        })
        .collect();
    let catalog = BTreeMap::new();
    let mut best = PureTimes {
        best_wall: Duration::MAX,
        best_cpu: Duration::MAX,
        best_match: Duration::MAX,
        best_reconcile: Duration::MAX,
        lines: 0,
    };
    for _ in 0..PURE_RUNS {
        let (t0, w0) = (thread_cpu()?, Instant::now());
        let outcomes: Vec<(String, matching::MatchOutcome)> = accounts
            .iter()
            .map(|(v, a)| (v.clone(), matching::auto_match(a, &companies, &none, &HashSet::new())))
            .collect();
        let w1 = Instant::now();
        let plan = reconcile::reconcile(&ReconcileInput {
            period,
            account_mappings: &mappings,
            service_mappings: &service_mappings,
            snapshots: &snapshots,
            additions: &additions,
            policy: &policy,
            bill_customer: recon::model::BillCustomer::Billable,
            terms: &terms,
            catalog: &catalog,
            last_set: &BTreeMap::new(),
            writes: recon::model::QuantityWrites::InPlace,
            psa_name: "the PSA",
            container: "agreement",
        });
        let (t2, w2) = (thread_cpu()?, Instant::now());
        let matched: usize = outcomes.iter().map(|(_, o)| o.matched.len()).sum();
        let writes = plan.lines.iter().filter(|l| l.action.writes()).count();
        let skipped = plan.lines.iter().filter(|l| l.action == Action::Skipped).count();
        if matched != 5 * PURE_ACCOUNTS_PER_VENDOR || writes != expected_writes || skipped != 0 {
            bail!(
                "pure core: matched {matched}, writes {writes} (want {expected_writes}), skipped {skipped}"
            );
        }
        best.lines = plan.lines.len();
        best.best_cpu = best.best_cpu.min(t2 - t0);
        best.best_wall = best.best_wall.min(w2 - w0);
        best.best_match = best.best_match.min(w1 - w0);
        best.best_reconcile = best.best_reconcile.min(w2 - w1);
        std::hint::black_box(&plan);
    }
    let vendors_seen: BTreeSet<&str> = mappings.iter().map(|m| m.vendor.as_str()).collect();
    if vendors_seen.len() != 5 {
        bail!("pure core: mappings for {} vendors", vendors_seen.len());
    }
    Ok(best)
}
