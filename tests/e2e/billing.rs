//! Billing the month right (issue 12): additions in force by date, creates dated the way
//! ConnectWise accepts them, the money on every line, and nothing on an addition but its
//! quantity changed. Each case edits the sandbox ConnectWise as a person would, then syncs.

use crate::harness::Env;
use chrono::{Datelike, Months, NaiveDate, Utc};
use serde_json::{Value, json};

/// Acme Dental: agreement 3001 holds addition 7098 (NODEWARE-VMS, 43); Nodeware says 43.
const ACME_AGREEMENT: i64 = 3001;
const ACME_ADDITION: i64 = 7098;
/// O'Brien & Sons: agreement 3004, addition 7100 (NODEWARE-VMS).
const OBRIEN_AGREEMENT: i64 = 3004;
const OBRIEN_ADDITION: i64 = 7100;
/// Café Lumière: agreement 3005 has no NODEWARE-VMS addition; Nodeware says 13.
const CAFE_AGREEMENT: i64 = 3005;

fn first_of_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap()
}

fn next_month() -> NaiveDate {
    first_of_month().checked_add_months(Months::new(1)).unwrap()
}

fn last_of_month() -> NaiveDate {
    next_month().pred_opt().unwrap()
}

fn cw_date(d: NaiveDate) -> String {
    format!("{d}T00:00:00Z")
}

fn nodeware() -> Env {
    let env = Env::new(&["nodeware"]);
    env.connect_nodeware();
    env
}

fn line<'a>(plan: &'a Value, company: &str) -> &'a Value {
    plan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["company"] == company && l["product"] == "NODEWARE-VMS")
        .unwrap_or_else(|| panic!("no NODEWARE-VMS line for {company}: {plan}"))
}

/// Every addition of NODEWARE-VMS on an agreement, cancelled or not.
fn additions(env: &Env, agreement: i64) -> Vec<Value> {
    env.sandbox
        .connectwise_additions()
        .into_iter()
        .filter(|a| a["agreementId"] == agreement && a["product"]["identifier"] == "NODEWARE-VMS")
        .collect()
}

fn writes_to(env: &Env, agreement: i64) -> Vec<String> {
    env.cw_writes()
        .into_iter()
        .filter(|w| w.path_and_query.contains(&format!("/agreements/{agreement}/")))
        .map(|w| format!("{} {} {}", w.method, w.path_and_query, w.status))
        .collect()
}

#[test]
fn an_addition_cancelled_at_month_end_is_updated_never_doubled() {
    let env = nodeware();
    let end = last_of_month();
    assert!(env.sandbox.update_connectwise(
        "addition",
        ACME_ADDITION,
        json!({"quantity": 40, "cancelledDate": cw_date(end)})
    ));
    let plan = env.run_json(&["sync", "--yes"], 0);
    let acme = line(&plan, "Acme Dental");
    assert_eq!(
        (acme["action"].as_str(), acme["before"].as_i64(), acme["after"].as_i64()),
        (Some("update"), Some(40), Some(43))
    );
    assert_eq!(acme["cancelled_from"], end.to_string(), "the plan says it is cancelled from then");
    let all = additions(&env, ACME_AGREEMENT);
    assert_eq!(all.len(), 1, "no second addition: {all:?}");
    assert_eq!(all[0]["quantity"], 43);
    assert!(
        writes_to(&env, ACME_AGREEMENT).iter().all(|w| w.starts_with("PATCH")),
        "{:?}",
        writes_to(&env, ACME_AGREEMENT)
    );
}

#[test]
fn an_addition_starting_next_month_is_scheduled_and_never_duplicated() {
    let env = nodeware();
    assert!(env.sandbox.update_connectwise(
        "addition",
        OBRIEN_ADDITION,
        json!({"effectiveDate": cw_date(next_month())})
    ));
    let plan = env.run_json(&["sync", "--yes"], 0);
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(obrien["action"], "skipped");
    assert_eq!(obrien["reason_code"], "scheduled");
    assert!(
        obrien["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("addition {OBRIEN_ADDITION} from {}", next_month()))
    );
    assert!(writes_to(&env, OBRIEN_AGREEMENT).is_empty(), "{:?}", writes_to(&env, OBRIEN_AGREEMENT));
}

#[test]
fn creates_are_dated_the_way_connectwise_accepts_them() {
    // (what, agreement fields, the date recon must send, the rule it names)
    let cases: Vec<(&str, Value, NaiveDate, Option<&str>)> = vec![
        (
            "an invoiced month on an agreement that prorates: the 1st",
            json!({"prorateFlag": true}),
            first_of_month(),
            None,
        ),
        (
            "an invoiced month on an agreement that does not prorate: the next invoice date",
            json!({"prorateFlag": false, "nextInvoiceDate": cw_date(next_month())}),
            next_month(),
            Some("already_invoiced"),
        ),
        (
            "a bill start date inside the period",
            json!({"prorateFlag": true, "billStartDate": cw_date(first_of_month() + chrono::Days::new(14))}),
            first_of_month() + chrono::Days::new(14),
            Some("bill_start"),
        ),
        (
            "nothing invoiced yet, not prorated: the 1st",
            json!({"prorateFlag": false, "nextInvoiceDate": cw_date(first_of_month())}),
            first_of_month(),
            None,
        ),
    ];
    for (what, fields, date, rule) in cases {
        let env = nodeware();
        assert!(env.sandbox.update_connectwise("agreement", CAFE_AGREEMENT, fields));
        let dry = env.run_json(&["sync", "--dry-run"], 0);
        let cafe = line(&dry, "Café Lumière");
        assert_eq!(cafe["action"], "add", "{what}");
        assert_eq!(cafe["effective_date"], date.to_string(), "{what}");
        assert_eq!(cafe["date_rule"]["rule"].as_str(), rule, "{what}: {cafe}");
        let text = env.run(&["sync", "--dry-run"], 0);
        if rule.is_some() {
            assert!(
                text.contains(&format!("from {date}")),
                "{what}: the plan shows the date and why:\n{text}"
            );
        }
        env.run(&["sync", "--yes"], 0);
        let created = additions(&env, CAFE_AGREEMENT);
        assert_eq!(created.len(), 1, "{what}: {created:?}");
        assert_eq!(
            created[0]["effectiveDate"],
            cw_date(date),
            "{what}: what the plan showed is what was sent"
        );
        let refused: Vec<_> = env.sandbox.requests().into_iter().filter(|r| r.status == 400).collect();
        assert!(refused.is_empty(), "{what}: ConnectWise refused a write: {refused:?}");
    }
}

#[test]
fn the_sandbox_refuses_what_connectwise_refuses_and_recon_dates_around_it() {
    let env = nodeware();
    let url = format!("{}finance/agreements/{CAFE_AGREEMENT}/additions", env.sandbox.connectwise_api_base());
    let auth = format!("{}+{}", recon_sandbox::CW_COMPANY_ID, recon_sandbox::CW_PUBLIC_KEY);
    let post = |body: Value| {
        reqwest::blocking::Client::new()
            .post(&url)
            .basic_auth(&auth, Some(recon_sandbox::CW_PRIVATE_KEY))
            .header("clientId", recon_sandbox::CW_CLIENT_ID)
            .json(&body)
            .send()
            .unwrap()
    };
    assert!(env.sandbox.update_connectwise(
        "agreement",
        CAFE_AGREEMENT,
        json!({"prorateFlag": false, "nextInvoiceDate": cw_date(next_month())})
    ));
    let body = json!({"product": {"identifier": "NODEWARE-VMS"}, "billCustomer": "Billable", "quantity": 1, "effectiveDate": cw_date(first_of_month())});
    let answer = post(body.clone());
    assert_eq!(answer.status(), 400);
    let text = answer.text().unwrap();
    assert!(text.contains("Since this period has already been invoiced there will not be an invoice generated for additional products for this period. Please prorate the agreement or update the start date to on or after the Next Invoice Date."), "{text}");
    assert!(env.sandbox.update_connectwise(
        "agreement",
        CAFE_AGREEMENT,
        json!({"prorateFlag": true, "billStartDate": cw_date(next_month())})
    ));
    assert_eq!(post(body).status(), 400, "before the bill start date");

    // A sync reads the terms fresh, so a change of terms since the dry run is dated right.
    let env = nodeware();
    let dry = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line(&dry, "Café Lumière")["effective_date"], first_of_month().to_string());
    assert!(env.sandbox.update_connectwise(
        "agreement",
        CAFE_AGREEMENT,
        json!({"billStartDate": cw_date(next_month())})
    ));
    let plan = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(line(&plan, "Café Lumière")["effective_date"], next_month().to_string());

    // So does approve: an add held while the month was open is dated afresh when approved.
    let env = nodeware();
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace(recon_sandbox::SYNC_PUSH_EVERYTHING, "\n[sync]\nincreases = \"review\"\n"));
    let held = env.run_json(&["sync", "--yes"], 4);
    assert_eq!(line(&held, "Café Lumière")["effective_date"], first_of_month().to_string());
    assert!(env.sandbox.update_connectwise(
        "agreement",
        CAFE_AGREEMENT,
        json!({"prorateFlag": false, "nextInvoiceDate": cw_date(next_month())})
    ));
    let review = env.run_json(&["review"], 0);
    let cafe = review.as_array().unwrap().iter().find(|c| c["company"] == "Café Lumière").unwrap();
    env.run(&["approve", &cafe["id"].to_string()], 0);
    let created = additions(&env, CAFE_AGREEMENT);
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["effectiveDate"], cw_date(next_month()), "dated by the terms as they are now");
    assert!(env.sandbox.requests().iter().all(|r| r.status != 400), "recon never meets the refusal");
}

#[test]
fn every_line_shows_its_money_and_the_totals_agree_with_the_lines() {
    let env = nodeware();
    // lessIncluded, a decimal quantity and a price of its own on Acme; no price on O'Brien.
    assert!(env.sandbox.update_connectwise(
        "addition",
        ACME_ADDITION,
        json!({"quantity": 40.5, "lessIncluded": 10, "unitPrice": 3.5, "unitCost": 1.25})
    ));
    assert!(env.sandbox.update_connectwise(
        "addition",
        OBRIEN_ADDITION,
        json!({"quantity": 50, "unitPrice": null})
    ));
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let acme = line(&plan, "Acme Dental");
    assert_eq!(acme["before"], json!(40.5), "a decimal quantity is shown as it is");
    assert_eq!(acme["action"], "update");
    assert_eq!((acme["billed_before"].clone(), acme["billed_after"].clone()), (json!(30.5), json!(33)));
    assert_eq!(acme["unit_price"], json!(3.5));
    assert_eq!(acme["revenue_change"], json!(8.75), "2.5 more billed units at 3.50");
    assert_eq!(acme["margin_change"], json!(5.63), "8.75 - 2.5 x 1.25, rounded once to cents");
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(obrien["revenue_change"], Value::Null, "a missing price is unknown, never 0");
    let cafe = line(&plan, "Café Lumière");
    assert_eq!(cafe["action"], "add");
    assert_eq!(cafe["unit_price"], json!(3), "an add takes the catalog price");
    assert_eq!(cafe["revenue_change"], json!(39));

    // The totals are the sum of the writing lines' amounts, in every output.
    let mut net = 0.0;
    for l in plan["lines"].as_array().unwrap() {
        if (l["action"] == "add" || l["action"] == "update") && l["revenue_change"].is_number() {
            net += l["revenue_change"].as_f64().unwrap();
        }
    }
    let totals = &plan["totals"];
    assert!((totals["net"].as_f64().unwrap() - net).abs() < 0.001, "{totals} vs {net}");
    assert_eq!(totals["unpriced"], 1, "{totals}");
    assert!(totals["by_company"]["Acme Dental"].as_f64().is_some(), "{totals}");
    let text = env.run(&["sync", "--dry-run"], 0);
    assert!(text.contains("Monthly revenue: ") && text.contains(&format!("net +{net:.2}")), "{text}");

    let pushed = env.run_json(&["sync", "--yes"], 0);
    let run = pushed["run_id"].as_i64().unwrap().to_string();
    let history = env.run_json(&["history", &run], 0);
    assert!((history["applied_totals"]["net"].as_f64().unwrap() - net).abs() < 0.001, "{history}");
    let shown = env.run(&["history", &run], 0);
    assert!(shown.contains(&format!("net +{net:.2}")), "{shown}");
    let status = env.run_json(&["status"], 0);
    let nodeware = status.as_array().unwrap().iter().find(|v| v["vendor"] == "nodeware").unwrap();
    assert!((nodeware["last_net"].as_f64().unwrap() - net).abs() < 0.001, "{status}");
}

#[test]
fn only_the_quantity_of_an_addition_is_changed() {
    let env = nodeware();
    assert!(env.sandbox.update_connectwise(
        "addition",
        ACME_ADDITION,
        json!({"quantity": 40, "lessIncluded": 2, "unitPrice": 3.75, "unitCost": 1.1, "description": "Nodeware, as the MSP wrote it", "sequenceNumber": 4, "invoiceGrouping": {"id": 2}})
    ));
    let before = additions(&env, ACME_AGREEMENT).remove(0);
    env.run(&["sync", "--yes"], 0);
    let after = additions(&env, ACME_AGREEMENT).remove(0);
    assert_eq!(after["quantity"], 43);
    for field in [
        "lessIncluded",
        "unitPrice",
        "unitCost",
        "description",
        "sequenceNumber",
        "invoiceGrouping",
        "billCustomer",
        "effectiveDate",
        "product",
    ] {
        assert_eq!(after[field], before[field], "{field} is the MSP's");
    }
}

#[test]
fn child_agreements_are_named_where_an_agreement_is_chosen() {
    let env = nodeware();
    assert!(env.sandbox.update_connectwise(
        "agreement",
        CAFE_AGREEMENT,
        json!({"parentAgreement": {"id": ACME_AGREEMENT, "name": "Managed Services"}})
    ));
    let companies = env.run(&["companies", "--search", "Lumière"], 0);
    assert!(companies.contains(&format!("(id {CAFE_AGREEMENT}, child of {ACME_AGREEMENT})")), "{companies}");
}
