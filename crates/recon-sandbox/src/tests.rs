//! The sandbox's own behaviour, checked over real HTTP.

// Tests fail loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use base64::Engine;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::json;

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A ConnectWise request with valid credentials.
fn cw(client: &Client, method: reqwest::Method, url: &str) -> RequestBuilder {
    client
        .request(method, url)
        .header("Authorization", basic(&format!("{CW_COMPANY_ID}+{CW_PUBLIC_KEY}"), CW_PRIVATE_KEY))
        .header("clientId", CW_CLIENT_ID)
        .header("Accept", "application/vnd.connectwise.com+json; version=2025.8")
}

fn get(sandbox: &Sandbox, path_and_query: &str) -> Response {
    cw(&client(), reqwest::Method::GET, &format!("{}{path_and_query}", sandbox.connectwise_api_base()))
        .send()
        .unwrap()
}

/// The URL of one `rel` in a Link header.
fn link(response: &Response, rel: &str) -> Option<String> {
    let header = response.headers().get("Link")?.to_str().unwrap().to_string();
    header.split(", <").find(|part| part.ends_with(&format!("rel=\"{rel}\""))).map(|part| {
        let start = part.find('<').map_or(0, |i| i + 1);
        part[start..part.find('>').unwrap()].to_string()
    })
}

fn json_of(response: Response) -> Value {
    response.json().unwrap()
}

#[test]
fn company_info_advertises_the_codebase_without_auth() {
    let sandbox = Sandbox::start().unwrap();
    let c = client();
    let info: Value = c
        .get(format!("{}/login/companyinfo/sandbox", sandbox.connectwise_site()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["Codebase"], "v2025_1/");
    assert_eq!(info["CompanyID"], "sandbox");
    let unknown = c.get(format!("{}/login/companyinfo/nobody", sandbox.connectwise_site())).send().unwrap();
    assert_eq!(unknown.status(), 200);
    assert_eq!(unknown.text().unwrap(), "null");
}

#[test]
fn auth_requires_credentials_and_client_id() {
    let sandbox = Sandbox::start().unwrap();
    let url = format!("{}system/info", sandbox.connectwise_api_base());
    let c = client();
    let no_client_id = c
        .get(&url)
        .header("Authorization", basic(&format!("{CW_COMPANY_ID}+{CW_PUBLIC_KEY}"), CW_PRIVATE_KEY))
        .send()
        .unwrap();
    assert_eq!(no_client_id.status(), 401);
    assert_eq!(json_of(no_client_id), json!({"code": "Unauthorized", "message": "UserNotAuthenticated"}));
    let wrong_key = c
        .get(&url)
        .header("Authorization", basic(&format!("{CW_COMPANY_ID}+{CW_PUBLIC_KEY}"), "nope"))
        .header("clientId", CW_CLIENT_ID)
        .send()
        .unwrap();
    assert_eq!(wrong_key.status(), 401);
    let ok = get(&sandbox, "system/info");
    assert_eq!(ok.status(), 200);
    assert_eq!(json_of(ok)["isCloud"], false);
    // A stale codebase is a 404, as on cloud.
    let stale = cw(
        &c,
        reqwest::Method::GET,
        &format!("{}/v4_6_release/apis/3.0/system/info", sandbox.connectwise_site()),
    )
    .send()
    .unwrap();
    assert_eq!(stale.status(), 404);
    assert_eq!(json_of(stale)["code"], "NotFound");
}

#[test]
fn lists_default_to_25_records() {
    let sandbox = Sandbox::start().unwrap();
    let response = get(&sandbox, "company/companies");
    assert!(link(&response, "next").unwrap().contains("page=2"));
    let companies = json_of(response);
    assert_eq!(companies.as_array().unwrap().len(), 25);
}

#[test]
fn page_size_is_capped_at_1000_and_companies_take_two_pages() {
    let sandbox = Sandbox::start().unwrap();
    let first = get(&sandbox, "company/companies?pageSize=5000&fields=id,name");
    let next = link(&first, "next").unwrap();
    let last = link(&first, "last").unwrap();
    assert!(next.starts_with("http://127.0.0.1:"), "{next}");
    assert!(
        next.contains("page=2") && next.contains("pageSize=5000") && next.contains("fields=id%2Cname"),
        "{next}"
    );
    assert_eq!(next, last);
    let first_page = json_of(first);
    assert_eq!(first_page.as_array().unwrap().len(), 1000);
    assert_eq!(first_page[0].as_object().unwrap().len(), 2, "fields trims records");

    let second = cw(&client(), reqwest::Method::GET, &next).send().unwrap();
    assert!(link(&second, "next").is_none(), "no next on the last page");
    let total: Value = json_of(get(&sandbox, "company/companies/count"));
    let second_page = json_of(second);
    assert_eq!(1000 + second_page.as_array().unwrap().len() as u64, total["count"].as_u64().unwrap());
    assert!(total["count"].as_u64().unwrap() > 1050);
}

#[test]
fn conditions_hold_on_every_page() {
    let sandbox = Sandbox::start().unwrap();
    let condition = url::form_urlencoded::byte_serialize(b"agreementStatus=\"active\" and company/id < 1000")
        .collect::<String>();
    let mut url =
        format!("{}finance/agreements?pageSize=10&conditions={condition}", sandbox.connectwise_api_base());
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let response = cw(&client(), reqwest::Method::GET, &url).send().unwrap();
        let next = link(&response, "next");
        for agreement in json_of(response).as_array().unwrap() {
            assert_eq!(agreement["agreementStatus"], "Active");
            assert!(agreement["company"]["id"].as_i64().unwrap() < 1000);
            seen += 1;
        }
        pages += 1;
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    assert!(pages >= 3, "the condition must be carried to later pages");
    let count = json_of(get(&sandbox, &format!("finance/agreements/count?conditions={condition}")));
    assert_eq!(count["count"], seen);
}

#[test]
fn conditions_select_by_name_and_reject_bad_syntax() {
    let sandbox = Sandbox::start().unwrap();
    let q = |c: &str| url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>();
    let summit =
        json_of(get(&sandbox, &format!("company/companies?conditions={}", q("name=\"summit dental\""))));
    assert_eq!(summit.as_array().unwrap().len(), 2, "one name is shared by two companies");
    let obrien =
        json_of(get(&sandbox, &format!("company/companies?conditions={}", q("name like \"O'Brien*\""))));
    assert_eq!(obrien[0]["name"], "O'Brien & Sons");

    let bad = get(&sandbox, &format!("company/companies?conditions={}", q("name = Acme")));
    assert_eq!(bad.status(), 400);
    assert_eq!(json_of(bad)["code"], "InvalidObject");
    let unknown_field = get(&sandbox, &format!("company/companies?conditions={}", q("nmae = \"Acme\"")));
    assert_eq!(unknown_field.status(), 400);
}

#[test]
fn forward_only_paging_follows_page_id() {
    let sandbox = Sandbox::start().unwrap();
    let total = json_of(get(&sandbox, "finance/agreements/count"))["count"].as_u64().unwrap();
    let mut url = format!("{}finance/agreements?pageSize=50", sandbox.connectwise_api_base());
    let mut ids = Vec::new();
    loop {
        let response = cw(&client(), reqwest::Method::GET, &url)
            .header("pagination-type", "forward-only")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let next = link(&response, "next");
        let page = json_of(response);
        ids.extend(page.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()));
        match next {
            Some(n) => {
                assert!(n.contains(&format!("pageId={}", ids.last().unwrap())), "{n}");
                url = n;
            }
            None => break,
        }
    }
    assert_eq!(ids.len() as u64, total);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let with_order = cw(
        &client(),
        reqwest::Method::GET,
        &format!("{}finance/agreements?orderBy=id", sandbox.connectwise_api_base()),
    )
    .header("pagination-type", "forward-only")
    .send()
    .unwrap();
    assert_eq!(with_order.status(), 400);
}

#[test]
fn patch_replaces_quantity_and_paths_are_case_sensitive() {
    let sandbox = Sandbox::start().unwrap();
    let addition =
        sandbox.connectwise_additions().into_iter().find(|a| a.get("cancelledDate").is_none()).unwrap();
    let url = format!(
        "{}finance/agreements/{}/additions/{}",
        sandbox.connectwise_api_base(),
        addition["agreementId"],
        addition["id"]
    );
    let c = client();
    let patched = cw(&c, reqwest::Method::PATCH, &url)
        .json(&json!([{"op": "replace", "path": "quantity", "value": 77}]))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(json_of(patched)["quantity"], 77);
    let stored = sandbox.connectwise_additions().into_iter().find(|a| a["id"] == addition["id"]).unwrap();
    assert_eq!(stored["quantity"], 77);

    let wrong_case = cw(&c, reqwest::Method::PATCH, &url)
        .json(&json!([{"op": "replace", "path": "Quantity", "value": 5}]))
        .send()
        .unwrap();
    assert_eq!(wrong_case.status(), 400);
    let not_array = cw(&c, reqwest::Method::PATCH, &url).json(&json!({"quantity": 5})).send().unwrap();
    assert_eq!(not_array.status(), 400);
    let other_agreement =
        url.replace(&format!("agreements/{}/", addition["agreementId"]), "agreements/999999/");
    let missing = cw(&c, reqwest::Method::PATCH, &other_agreement)
        .json(&json!([{"op": "replace", "path": "quantity", "value": 5}]))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn post_addition_validates_and_returns_the_record() {
    let sandbox = Sandbox::start().unwrap();
    let url = format!("{}finance/agreements/3001/additions", sandbox.connectwise_api_base());
    let c = client();
    let missing = cw(&c, reqwest::Method::POST, &url)
        .json(&json!({"product": {"identifier": "HUNTRESS-SAT"}, "quantity": 3}))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 400);
    let body = json_of(missing);
    assert_eq!(body["code"], "InvalidObject");
    assert_eq!(body["errors"][0]["field"], "billCustomer");
    assert_eq!(body["errors"][0]["code"], "NullValue");

    let created = cw(&c, reqwest::Method::POST, &url)
        .json(&json!({"product": {"identifier": "HUNTRESS-SAT"}, "billCustomer": "Billable", "quantity": 14, "effectiveDate": "2026-01-01T00:00:00Z"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let record = json_of(created);
    assert_eq!(record["agreementId"], 3001);
    assert_eq!(record["product"]["identifier"], "HUNTRESS-SAT");
    assert_eq!(record["quantity"], 14);
    assert!(sandbox.connectwise_additions().iter().any(|a| a["id"] == record["id"]));

    let inactive = cw(&c, reqwest::Method::POST, &url)
        .json(&json!({"product": {"identifier": "OLD-AV"}, "billCustomer": "Billable"}))
        .send()
        .unwrap();
    assert_eq!(inactive.status(), 400);
    let no_agreement = cw(&c, reqwest::Method::POST, &url.replace("3001", "999999"))
        .json(&json!({"product": {"identifier": "HUNTRESS-SAT"}, "billCustomer": "Billable"}))
        .send()
        .unwrap();
    assert_eq!(no_agreement.status(), 404);
}

#[test]
fn catalog_post_requires_fields_and_unique_identifier() {
    let sandbox = Sandbox::start().unwrap();
    let url = format!("{}procurement/catalog", sandbox.connectwise_api_base());
    let item = json!({"identifier": "NEW-THING", "description": "New", "customerDescription": "New",
                      "subcategory": {"id": 11}, "type": {"id": 21}});
    let c = client();
    assert_eq!(cw(&c, reqwest::Method::POST, &url).json(&item).send().unwrap().status(), 201);
    assert_eq!(
        cw(&c, reqwest::Method::POST, &url).json(&item).send().unwrap().status(),
        400,
        "duplicate identifier"
    );
    let incomplete = cw(&c, reqwest::Method::POST, &url).json(&json!({"identifier": "X"})).send().unwrap();
    assert_eq!(incomplete.status(), 400);
}

#[test]
fn huntress_pages_with_opaque_tokens() {
    let sandbox = Sandbox::start().unwrap();
    let base = sandbox.vendor_url("huntress").unwrap();
    let c = client();
    let unauthorized = c.get(format!("{base}/v1/organizations")).send().unwrap();
    assert_eq!(unauthorized.status(), 401);
    let mut token: Option<String> = None;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let mut url = format!("{base}/v1/organizations?limit=10");
        if let Some(t) = &token {
            url.push_str(&format!("&page_token={t}"));
        }
        let body: Value =
            c.get(url).basic_auth(HUNTRESS_KEY, Some(HUNTRESS_SECRET)).send().unwrap().json().unwrap();
        pages += 1;
        ids.extend(body["organizations"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()));
        match body["pagination"]["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert!(pages >= 3);
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), total);
    assert!(total >= 30);
    let clamped: Value = c
        .get(format!("{base}/v1/organizations?limit=100000"))
        .basic_auth(HUNTRESS_KEY, Some(HUNTRESS_SECRET))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(clamped["pagination"]["limit"], 500);
    assert!(clamped["pagination"].get("next_page_token").is_none());
}

#[test]
fn nodeware_requires_the_bearer_token() {
    let sandbox = Sandbox::start().unwrap();
    let url = format!("{}/api/v4/customers/", sandbox.vendor_url("nodeware").unwrap());
    let c = client();
    assert_eq!(c.get(&url).send().unwrap().status(), 401);
    let wrong = c.get(&url).bearer_auth("nope").send().unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(json_of(wrong), json!({"detail": "Invalid token."}));
    let customers: Value = c.get(&url).bearer_auth(NODEWARE_KEY).send().unwrap().json().unwrap();
    let acme = customers.as_array().unwrap().iter().find(|c| c["name"] == "Acme Dental").unwrap();
    assert_eq!(acme["asset_totals"], json!({"internal": 40, "external": 3}));

    let id = acme["id"].as_str().unwrap();
    assert!(sandbox.set_vendor_quantity("nodeware", id, "asset_totals/internal", json!(50)));
    let again: Value = c.get(&url).bearer_auth(NODEWARE_KEY).send().unwrap().json().unwrap();
    assert!(again.as_array().unwrap().iter().any(|c| c["id"] == id && c["asset_totals"]["internal"] == 50));
    assert!(!sandbox.set_vendor_quantity("nodeware", "no-such-id", "internal", json!(1)));
}

#[test]
fn saas_alerts_and_nordlayer_answer_their_shapes() {
    let sandbox = Sandbox::start().unwrap();
    let c = client();
    let saas = format!("{}/reportApi/api/v1/customers", sandbox.vendor_url("saas-alerts").unwrap());
    assert_eq!(c.get(&saas).send().unwrap().status(), 401);
    let customers: Value = c.get(&saas).header("api_key", SAAS_ALERTS_KEY).send().unwrap().json().unwrap();
    let customers = customers.as_array().unwrap();
    assert!(customers.iter().any(|c| c["billingUsers"].is_string()));
    assert!(customers.iter().any(|c| c.get("billingUsers").is_none()));

    let base = sandbox.vendor_url("nordlayer").unwrap();
    let auth = format!("ApiKey {NORDLAYER_KEY}");
    let page: Value = c
        .get(format!("{base}/msp/v1/organizations?limit=5&offset=10"))
        .header("Authorization", &auth)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 5);
    let identifier = page[0]["identifier"].as_str().unwrap().to_string();
    let usage: Value = c
        .get(format!("{base}/msp/v1/organizations/{identifier}/usage"))
        .header("Authorization", &auth)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(usage["members"].is_u64());
    assert!(sandbox.set_vendor_quantity("nordlayer", &identifier, "members", json!(99)));
    let usage: Value = c
        .get(format!("{base}/msp/v1/organizations/{identifier}/usage"))
        .header("Authorization", &auth)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(usage["members"], 99);
}

#[test]
fn config_points_at_the_sandbox_and_csv_files_exist() {
    let sandbox = Sandbox::start().unwrap();
    let config: toml::Table = sandbox.config_toml().parse().unwrap();
    assert_eq!(config["connectwise"]["site"].as_str().unwrap(), sandbox.connectwise_site());
    // The sandbox's configs push every change (see SYNC_PUSH_EVERYTHING).
    assert_eq!(config["sync"]["decreases"].as_str(), Some("apply"));
    assert_eq!(config["sync"]["max_change_percent"].as_bool(), Some(false));
    let vendors = config["vendors"].as_table().unwrap();
    assert_eq!(vendors.len(), 6);
    assert_eq!(vendors["saas-alerts"]["api_url"].as_str(), sandbox.vendor_url("saas-alerts").as_deref());
    assert_eq!(vendors["backup"]["type"].as_str(), Some("csv"));
    let nordpass = std::fs::read_to_string(vendors["nordpass"]["usage_csv"].as_str().unwrap()).unwrap();
    assert!(nordpass.starts_with("Organization,Organization ID,Plan,Seats"));

    let id = nordpass.lines().nth(1).unwrap().split(',').nth(1).unwrap().to_string();
    assert!(sandbox.set_vendor_quantity("nordpass", &id, "Seats", json!(99)));
    assert!(
        std::fs::read_to_string(sandbox.nordpass_csv_path()).unwrap().contains(&format!("{id},Business,99"))
    );

    let partial: toml::Table = sandbox.config_toml_for(&["nodeware", "huntress"]).parse().unwrap();
    let names: Vec<&String> = partial["vendors"].as_table().unwrap().keys().collect();
    assert_eq!(names, ["huntress", "nodeware"]);
}

#[test]
fn requests_are_recorded_in_order() {
    let sandbox = Sandbox::start().unwrap();
    get(&sandbox, "system/info");
    client().get(format!("{}/api/v4/customers/", sandbox.vendor_url("nodeware").unwrap())).send().unwrap();
    let log = sandbox.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].server, "connectwise");
    assert_eq!(log[0].path_and_query, "/v2025_1/apis/3.0/system/info");
    assert_eq!(log[0].status, 200);
    assert_eq!((log[1].server.as_str(), log[1].status), ("nodeware", 401));
}

#[test]
fn faults_throttle_with_retry_after() {
    let faults =
        Faults { requests_per_minute: Some(2), servers: vec!["connectwise".into()], ..Faults::default() };
    let sandbox = Sandbox::start_with(SandboxOptions { faults, ..SandboxOptions::default() }).unwrap();
    assert_eq!(get(&sandbox, "system/info").status(), 200);
    assert_eq!(get(&sandbox, "system/info").status(), 200);
    let throttled = get(&sandbox, "system/info");
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["Retry-After"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // Other servers are not selected.
    let nodeware = client()
        .get(format!("{}/api/v4/customers/", sandbox.vendor_url("nodeware").unwrap()))
        .bearer_auth(NODEWARE_KEY)
        .send()
        .unwrap();
    assert_eq!(nodeware.status(), 200);

    let always = Faults { throttle_fraction: 1.0, ..Faults::default() };
    let sandbox =
        Sandbox::start_with(SandboxOptions { faults: always, ..SandboxOptions::default() }).unwrap();
    let response = get(&sandbox, "system/info");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["Retry-After"], "1");
}

#[test]
fn dropping_the_sandbox_stops_the_servers() {
    let sandbox = Sandbox::start().unwrap();
    let url = format!("{}/login/companyinfo/sandbox", sandbox.connectwise_site());
    assert!(client().get(&url).send().is_ok());
    drop(sandbox);
    assert!(client().get(&url).send().is_err());
}

#[test]
fn concurrent_requests_are_served_in_parallel() {
    let options =
        SandboxOptions { latency: Duration::from_millis(100), workers: 8, ..SandboxOptions::default() };
    let sandbox = Sandbox::start_with(options).unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert_eq!(get(&sandbox, "system/info").status(), 200));
        }
    });
    // Serially this would take 800 ms.
    assert!(started.elapsed() < Duration::from_millis(600), "{:?}", started.elapsed());
    assert_eq!(sandbox.requests().len(), 8);
}

#[test]
fn server_error_faults_answer_5xx() {
    let faults = Faults { server_error_fraction: 1.0, servers: vec!["huntress".into()], ..Faults::default() };
    let sandbox = Sandbox::start_with(SandboxOptions { faults, ..SandboxOptions::default() }).unwrap();
    let url = format!("{}/v1/organizations", sandbox.vendor_url("huntress").unwrap());
    let status = client().get(url).basic_auth(HUNTRESS_KEY, Some(HUNTRESS_SECRET)).send().unwrap().status();
    assert!(status == 500 || status == 503, "{status}");
    assert_eq!(get(&sandbox, "system/info").status(), 200);
}
