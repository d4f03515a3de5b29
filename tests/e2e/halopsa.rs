//! The same flow against the fake HaloPSA: OAuth2 tokens, paged lists checked against
//! `record_count`, recurring invoices re-posted whole (the fake deletes a line left out),
//! a line Halo computes left alone, and never a doubled or dropped line, whether a run is
//! killed, its answers are lost or someone edits the invoice meanwhile. What every PSA keeps
//! is checked once for all in `contract`.

use crate::harness::{Env, writes};
use recon_sandbox::{Faults, Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn halo_env(sandbox: Sandbox, vendors: &[&str], extra: &str) -> Env {
    let text = format!("{}{extra}", sandbox.halopsa_config_toml_for(vendors));
    Env::with_config(sandbox, &text)
}

/// Nodeware connected, its service mapped, against the fake Halo.
fn nodeware(sandbox: Sandbox, extra: &str) -> Env {
    let text = format!("{}{extra}", sandbox.halopsa_config_toml_for(&["nodeware"]));
    Env::with_nodeware(sandbox, &text)
}

fn line_ids(env: &Env, invoice: i64) -> BTreeSet<i64> {
    env.sandbox.halo_invoice_lines(invoice).iter().filter_map(|l| l["id"].as_i64()).collect()
}

/// Every invoice the lines touch, with the ids of its lines now.
pub(crate) fn invoices_of(env: &Env, planned: &[Value]) -> BTreeMap<i64, BTreeSet<i64>> {
    planned
        .iter()
        .filter_map(|l| l["agreement_id"].as_i64())
        .map(|invoice| (invoice, line_ids(env, invoice)))
        .collect()
}

/// Halo holds exactly the vendor's quantity on one line of each planned item, every line the
/// invoice had before is still there, and each add made exactly one new line.
pub(crate) fn assert_landed_once(env: &Env, planned: &[Value], before: &BTreeMap<i64, BTreeSet<i64>>) {
    for line in planned {
        let invoice = line["agreement_id"].as_i64().unwrap();
        let item = line["product_id"].as_i64().unwrap();
        let of_item: Vec<Value> = env
            .sandbox
            .halo_invoice_lines(invoice)
            .into_iter()
            .filter(|l| l["_itemid"].as_i64() == Some(item))
            .filter(|l| l["isinactive"] != true && l["enddate"].is_null())
            .collect();
        assert_eq!(of_item.len(), 1, "one live line of item {item} on invoice {invoice}: {of_item:#?}");
        assert_eq!(of_item[0]["qty_order"].as_f64(), line["after"].as_f64(), "{line}");
    }
    for (invoice, ids) in before {
        let now = line_ids(env, *invoice);
        assert!(ids.is_subset(&now), "invoice {invoice} lost a line: before {ids:?}, now {now:?}");
        let adds = planned.iter().filter(|l| l["agreement_id"] == *invoice && l["action"] == "add").count();
        assert_eq!(now.len(), ids.len() + adds, "invoice {invoice}: one new line per add");
    }
}

fn posts(env: &Env) -> Vec<String> {
    env.sandbox
        .requests()
        .into_iter()
        .filter(|r| r.server == "halopsa" && r.method == "POST" && r.path_and_query.starts_with("/api/"))
        .map(|r| r.path_and_query)
        .collect()
}

#[test]
fn a_sync_reposts_each_invoice_with_every_line_and_leaves_a_computed_line_alone() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    assert!(planned.len() >= 8, "{plan:#}");
    let line = |company: &str| crate::harness::line(&plan, company).clone();
    // An update applies from the invoice Halo generates next, and the plan says so.
    let greenfield = line("Greenfield Accounting LLC");
    assert_eq!(
        (greenfield["action"].as_str(), greenfield["before"].as_i64(), greenfield["after"].as_i64()),
        (Some("update"), Some(8), Some(10))
    );
    assert_eq!(greenfield["date_rule"]["rule"], "next_invoice", "{greenfield}");
    assert_eq!(greenfield["effective_date"], greenfield["date_rule"]["next_invoice"], "{greenfield}");
    assert_eq!(greenfield["revenue_change"], 6.0);
    // A line whose quantity Halo computes is never written, and says why.
    let northside = line("Northside Family Dentistry");
    assert_eq!(northside["action"], "skipped");
    assert_eq!(northside["reason_code"], "quantity_managed_by_psa", "{northside}");
    assert!(northside["reason"].as_str().unwrap().contains("quantity managed by Halo"), "{northside}");
    // A missing line is an add, at the Item's price.
    let cafe = line("Café Lumière");
    assert_eq!((cafe["action"].as_str(), cafe["change"].as_i64()), (Some("add"), Some(13)));
    assert_eq!(cafe["unit_price"], 3.0);
    assert!(posts(&env).is_empty(), "a dry run writes nothing");

    let before = invoices_of(&env, &planned);
    let pushed = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(pushed["applied"].as_u64(), Some(planned.len() as u64), "{pushed:#}");
    assert_landed_once(&env, &planned, &before);
    // The new line carries what the plan showed: its item, quantity, start and price.
    let cafe_line = env
        .sandbox
        .halo_invoice_lines(3005)
        .into_iter()
        .find(|l| l["_itemid"] == cafe["product_id"])
        .unwrap();
    assert_eq!(cafe_line["unit_price"], 3.0);
    assert_eq!(cafe_line["startdate"].as_str().unwrap().get(..10), cafe["effective_date"].as_str());
    // Only whole-invoice re-posts, one per changed invoice: never updatelines, never process.
    let sent = posts(&env);
    assert_eq!(sent.len(), before.len(), "{sent:?}");
    assert!(sent.iter().all(|p| p == "/api/RecurringInvoice"), "{sent:?}");
    // The computed line is as it was.
    let computed = env.sandbox.halo_invoice_lines(3012);
    let computed = computed.iter().find(|l| l["id"] == recon_sandbox::HALO_COMPUTED_LINE).unwrap();
    assert_eq!(computed["qty_order"], 24.0);

    // Converged: the next run plans nothing and sends nothing.
    let again = env.run_json(&["sync", "--yes"], 0);
    assert!(writes(&again).is_empty(), "{again:#}");
    assert_eq!(posts(&env).len(), before.len());
    let page = env.run(&["report", "--format", "csv"], 0);
    assert!(page.contains("Greenfield Accounting LLC"), "{page}");
}

#[test]
fn invoices_are_mapped_by_contract_ref_contract_id_or_id_and_items_by_name_code_or_id() {
    let env = halo_env(Sandbox::start().unwrap(), &["nodeware"], "");
    env.run(&["connect", "nodeware"], 0);
    let companies = env.run(&["companies", "--search", "harbor law"], 0);
    assert!(companies.contains("CON-3006 recurring invoice (id 3006)"), "{companies}");
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let harbor =
        accounts.as_array().unwrap().iter().find(|a| a["account"] == "harbor law group llp").unwrap();
    let id = harbor["account_id"].as_str().unwrap().to_string();
    let set = |reference: &str| {
        env.run_json(
            &[
                "map",
                "accounts",
                "--vendor",
                "nodeware",
                "--set",
                &id,
                "--company",
                "256",
                "--invoice",
                reference,
            ],
            0,
        )
    };
    let contract_id = (3007 + recon_sandbox::HALO_CONTRACT_ID_OFFSET).to_string();
    for (reference, invoice) in [("CON-3006", 3006), (contract_id.as_str(), 3007), ("3006", 3006)] {
        let mapped = set(reference);
        assert_eq!(mapped["mapping"]["agreement_id"], invoice, "{reference}: {mapped:#}");
    }
    let out = env
        .recon(&[
            "map",
            "accounts",
            "--vendor",
            "nodeware",
            "--set",
            &id,
            "--company",
            "256",
            "--invoice",
            "CON-9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CON-3006"), "the candidates are listed");
    // Items: by name, code-less id, and a wrong one names the closest.
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "501"], 0);
    let out = env.recon(&["map", "services", "--set", "vms", "--product", "NODEWARE-VM"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Halo Item") && err.contains("NODEWARE-VMS"), "{err}");
    let out = env.recon(&["map", "services", "--set", "vms", "--create-product", "X"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create an Item in Halo"));
}

#[test]
fn lost_answers_are_settled_by_reading_and_a_create_is_never_sent_twice() {
    let env = nodeware(Sandbox::start().unwrap(), "\n[http]\ntimeout_seconds = 2\nmax_attempts = 3\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let before = invoices_of(&env, &planned);
    // Answers to writes are lost after Halo acted (reset, slow, cut short), or are 5xx.
    env.sandbox.set_faults(Faults {
        reset_fraction: 0.25,
        truncate_fraction: 0.2,
        slow_fraction: 0.15,
        slow_delay: Duration::from_secs(3),
        server_error_fraction: 0.1,
        methods: vec!["POST".into()],
        servers: vec!["halopsa".into()],
        seed: 23,
        ..Faults::default()
    });
    for _ in 0..4 {
        let _ = env.recon(&["sync", "--yes"]).output().unwrap();
    }
    env.sandbox.set_faults(Faults::default());
    env.run(&["sync", "--yes"], 0);
    assert_landed_once(&env, &planned, &before);
    // No create reached Halo twice: each add made exactly one line (`assert_landed_once`; the
    // request log cannot tell a create from an update, both being re-posts of the invoice).
    let again = env.run_json(&["sync", "--dry-run"], 0);
    assert!(writes(&again).is_empty(), "{again:#}");
}

#[test]
fn an_invoice_edited_between_the_plan_and_the_write_is_not_overwritten() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    // Greenfield's invoice 3015: someone changes its other line in Halo right before recon's
    // write re-reads the invoice.
    let other = env.sandbox.halo_invoice_lines(3015)[0]["id"].as_i64().unwrap();
    env.sandbox.edit_halo_line_on_next_read(3015, other, serde_json::json!({"qty_order": 77.0}));
    let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = env.sandbox.halo_invoice_lines(3015);
    let edited = lines.iter().find(|l| l["id"] == other).unwrap();
    assert_eq!(edited["qty_order"], 77.0, "the person's edit stands");
    let history = env.run_json(&["history", "1"], 0);
    let failed: Vec<&Value> =
        history["changes"].as_array().unwrap().iter().filter(|c| c["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{history:#}");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("changed in Halo since recon read it"),
        "{history:#}"
    );
    // The next run plans it afresh from what Halo holds, and lands it.
    env.run(&["sync", "--yes"], 0);
    let greenfield = env.sandbox.halo_invoice_lines(3015);
    assert!(greenfield.iter().any(|l| l["item_code"] == "NODEWARE-VMS" && l["qty_order"] == 10.0));
    assert!(greenfield.iter().any(|l| l["id"] == other && l["qty_order"] == 77.0));
}

#[test]
fn tokens_are_fetched_again_when_they_expire_or_are_revoked() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        latency: Duration::from_millis(100),
        ..SandboxOptions::default()
    })
    .unwrap();
    let env = nodeware(sandbox, "");
    let issued = env.sandbox.halo_tokens_issued();
    env.sandbox.revoke_halo_tokens_after(2);
    env.sandbox.set_halo_token_lifetime(Duration::from_secs(1));
    env.run(&["sync", "--yes"], 0);
    assert!(env.sandbox.halo_tokens_issued() >= issued + 2, "expired and revoked tokens were replaced");
}

#[test]
fn a_short_read_fails_the_run_and_writes_nothing() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    env.sandbox.set_halo_short_read(true);
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("short read is a failed read"), "{err}");
    assert!(posts(&env).is_empty());
}

#[test]
fn a_429_without_retry_after_waits_for_the_rolling_window() {
    let sandbox = Sandbox::start().unwrap();
    let text = sandbox
        .halopsa_config_toml_for(&["nodeware"])
        .replace("requests_per_minute = 1000\n", "requests_per_minute = 1000\nrate_window_seconds = 10\n");
    let env = Env::with_nodeware(sandbox, &text);
    // The fake allows 12 requests per 2 seconds; recon's window setting says 10 s, so it
    // pauses 1 s on each 429 and every write still lands.
    env.sandbox.set_halo_rate_limit(12, Duration::from_secs(2));
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let before = invoices_of(&env, &planned);
    env.run(&["sync", "--yes"], 0);
    assert_landed_once(&env, &planned, &before);
    let throttled =
        env.sandbox.requests().iter().filter(|r| r.server == "halopsa" && r.status == 429).count();
    assert!(throttled > 0, "the limit was met");
}

#[test]
fn check_names_the_scope_and_the_role_halo_checks() {
    let env = halo_env(Sandbox::start().unwrap(), &[], "");
    env.sandbox.deny_halo_role("RecurringInvoice");
    let out = env.recon(&["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no vendor is configured: a config error");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Invoices Access Level") && text.contains("read:invoices"), "{text}");
    // An application granted less than `all`: the token request says which scope to fix.
    env.sandbox.set_halo_scopes(&["read:customers"]);
    let out = env.recon(&["--json", "check"]).output().unwrap();
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.contains("refused the token request") && detail.contains("\"all\""), "{detail}");
}

#[test]
fn bad_halo_config_is_named_with_its_line() {
    let env = halo_env(Sandbox::start().unwrap(), &[], "");
    let base = env.sandbox.halopsa_config_toml_for(&[]);
    for (change, wanted) in [
        (("requests_per_minute = 1000", "requests_per_minute = 0"), "[halopsa] requests_per_minute = 0"),
        (
            ("requests_per_minute = 1000", "requests_per_minute = 1000\nrate_window_seconds = 0"),
            "rate_window_seconds",
        ),
        (("client_secret = ", "client_secrt = "), "unknown field `client_secrt`"),
        (("resource_url = \"http://127.0.0.1", "resource_url = \"http://halo.example.com"), "uses http://"),
    ] {
        env.set_config(&base.replace(change.0, change.1));
        let out = env.recon(&["check"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{wanted}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(wanted) && err.contains("config.toml:"), "{wanted}: {err}");
    }
}

#[test]
fn the_changes_of_one_invoice_go_in_one_read_and_one_repost() {
    let vendors = ["nodeware", "huntress"];
    let env = halo_env(Sandbox::start().unwrap(), &vendors, "");
    for vendor in vendors {
        env.run(&["connect", vendor], 0);
    }
    for (vendor, service, product) in
        recon_sandbox::SERVICE_PRODUCTS.iter().filter(|(v, _, _)| vendors.contains(v))
    {
        env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
    }
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let mut per_invoice: BTreeMap<i64, usize> = BTreeMap::new();
    for line in &planned {
        *per_invoice.entry(line["agreement_id"].as_i64().unwrap()).or_default() += 1;
    }
    assert!(per_invoice.values().any(|n| *n >= 2), "an invoice with several changed lines: {per_invoice:?}");
    let before = invoices_of(&env, &planned);
    let start = env.sandbox.requests().len();
    let pushed = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(pushed["applied"].as_u64(), Some(planned.len() as u64), "{pushed:#}");
    assert_landed_once(&env, &planned, &before);
    // Per changed invoice: one read of it right before its write, and one re-post.
    let push: Vec<_> =
        env.sandbox.requests().into_iter().skip(start).filter(|r| r.server == "halopsa").collect();
    let reposts =
        push.iter().filter(|r| r.method == "POST" && r.path_and_query == "/api/RecurringInvoice").count();
    let rereads = push
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path_and_query.split('?').next().unwrap().starts_with("/api/RecurringInvoice/")
        })
        .count();
    assert_eq!((reposts, rereads), (per_invoice.len(), per_invoice.len()), "{per_invoice:?}");
    let again = env.run_json(&["sync", "--yes"], 0);
    assert!(writes(&again).is_empty(), "{again:#}");
}

/// Halo adds a pro-rata waiting on a line to its quantity when it creates the invoice. recon
/// counts that pro-rata from the start, sets the line so that Halo's fold lands on the
/// vendor's count (never billing the seats twice), and reads the folded line as what it set:
/// run after run, nothing is held and nothing is written.
#[test]
fn a_pro_rata_halo_folds_in_at_its_invoice_is_neither_billed_twice_nor_held() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let greenfield = crate::harness::line(&plan, "Greenfield Accounting LLC").clone();
    assert_eq!((greenfield["before"].as_i64(), greenfield["after"].as_i64()), (Some(8), Some(10)));
    let (invoice, id) =
        (greenfield["agreement_id"].as_i64().unwrap(), greenfield["addition_id"].as_i64().unwrap());
    // A seat added mid-month in Halo: a pro-rata of 1 waits for the next invoice.
    let pending = serde_json::json!({"prorata_next_invoice": true, "prorata_quantity": 1.0});
    assert!(env.sandbox.edit_halo_line(invoice, id, pending));
    let qty = |env: &Env| {
        let lines = env.sandbox.halo_invoice_lines(invoice);
        lines.iter().find(|l| l["id"] == id).unwrap()["qty_order"].as_f64().unwrap()
    };

    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let greenfield = crate::harness::line(&plan, "Greenfield Accounting LLC").clone();
    assert_eq!(
        (greenfield["before"].as_i64(), greenfield["after"].as_i64()),
        (Some(9), Some(10)),
        "{greenfield}"
    );
    assert_eq!(greenfield["date_rule"]["pro_rata"], 1.0, "{greenfield}");
    let text = env.run(&["sync", "--dry-run"], 0);
    assert!(text.contains("9 counts the pro-rata of 1 Halo adds to the line"), "{text}");

    env.run_json(&["sync", "--yes"], 0);
    assert_eq!(qty(&env), 9.0, "the pro-rata makes the tenth seat: the line is set to 9");
    assert!(env.sandbox.create_halo_invoice(invoice));
    assert_eq!(qty(&env), 10.0, "Halo folded the pro-rata in: the vendor's 10, billed once");
    for run in 2..=3 {
        let again = env.run_json(&["sync", "--yes"], 0);
        let greenfield = crate::harness::line(&again, "Greenfield Accounting LLC");
        assert_eq!(greenfield["action"], "unchanged", "run {run}: {greenfield}");
        assert!(writes(&again).is_empty(), "run {run}: {again:#}");
    }
    assert_eq!(qty(&env), 10.0);
}
