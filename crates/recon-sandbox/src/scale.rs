//! A large MSP, generated, for the scale benchmark (`benches/scale.rs`, BENCHMARKS.md).
//!
//! Deterministic for a given [`Scale`] (seeded draws). Every company has exactly one active
//! agreement (some also have a cancelled or expired one), and every vendor account is named
//! exactly like one company, so `recon connect` maps each account, and its agreement, by
//! itself. The ConnectWise additions agree with the vendors' usage except on about
//! `changed_percent` of the lines: there a sync updates an addition that holds another
//! quantity, or adds one where there is none (sometimes next to a cancelled one, which
//! reconcile must ignore). Agreements also carry additions of products no vendor feeds.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use serde_json::{Map, Value, json};

use super::server::lock;
use super::{SERVICE_PRODUCTS, Sandbox, SandboxOptions, fixtures};

/// The shape of a generated MSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub companies: usize,
    /// Agreements beyond the one active agreement of each company: cancelled or expired, so
    /// recon never chooses them (their additions are never read).
    pub inactive_agreements: usize,
    /// Accounts per vendor, each on a different company (drawn at random) and named like it.
    pub nodeware: usize,
    /// Three services each (EDR agents, ITDR identities, SAT learners).
    pub huntress: usize,
    pub saas_alerts: usize,
    /// Two services each (licenses, dedicated servers); one usage call each.
    pub nordlayer: usize,
    /// The NordPass usage CSV: one plan (Business or Enterprise) per organization.
    pub nordpass: usize,
    /// Percentage of lines whose ConnectWise quantity differs from the vendor's (7 in 10 of
    /// them an update, 3 in 10 an addition that does not exist yet).
    pub changed_percent: u32,
    pub seed: u64,
}

impl Scale {
    /// 2,000 companies, 2,500 agreements, 5 vendors with 4,600 accounts between them,
    /// 8,000 (agreement, product) lines, about 10 % of which a sync changes.
    pub fn large_msp() -> Scale {
        Scale {
            companies: 2_000,
            inactive_agreements: 500,
            nodeware: 1_200,
            huntress: 1_500,
            saas_alerts: 1_000,
            nordlayer: 400,
            nordpass: 500,
            changed_percent: 10,
            seed: 7,
        }
    }

    /// Accounts over every vendor.
    pub fn accounts(&self) -> usize {
        self.nodeware + self.huntress + self.saas_alerts + self.nordlayer + self.nordpass
    }
}

/// The vendors of a generated MSP, in config order; `nordpass` reads a CSV file.
pub const VENDORS: [&str; 5] = ["nodeware", "huntress", "saas-alerts", "nordlayer", "nordpass"];

/// Catalog products that agreements also bill but no vendor feeds.
const OTHER_PRODUCTS: [&str; 3] = ["MANAGED-WS", "M365-BP", "MANAGED-SRV"];

/// What the generated MSP holds, so a run can be checked against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaleSummary {
    pub companies: usize,
    pub agreements: usize,
    pub active_agreements: usize,
    pub additions: usize,
    /// Vendor name -> accounts.
    pub accounts: BTreeMap<String, usize>,
    /// (agreement, product) lines with vendor usage behind them.
    pub lines: usize,
    /// Lines whose addition holds another quantity: one PATCH each.
    pub updates: usize,
    /// Lines without an active addition: one POST each.
    pub adds: usize,
    /// Distinct agreements with at least one line: one additions read each.
    pub agreements_with_lines: usize,
}

impl ScaleSummary {
    /// Lines a sync writes (updates and adds).
    pub fn changes(&self) -> usize {
        self.updates + self.adds
    }
}

const ADJECTIVES: [&str; 30] = [
    "Acme",
    "Blue Ridge",
    "Cedar",
    "Summit",
    "Harbor",
    "Granite",
    "Maple",
    "Silver Lake",
    "Pioneer",
    "Northwind",
    "Redwood",
    "Lakeside",
    "Evergreen",
    "Riverbend",
    "Oakmont",
    "Sunrise",
    "Coastal",
    "Ironwood",
    "Prairie",
    "Highland",
    "Golden Gate",
    "Westfield",
    "Brookside",
    "Stonebridge",
    "Clearwater",
    "Fairview",
    "Crescent",
    "O'Brien",
    "Meridian",
    "Willow Creek",
];
const TRADES: [&str; 30] = [
    "Dental",
    "Family Law",
    "Credit Union",
    "Accounting",
    "Veterinary",
    "Plumbing",
    "Realty",
    "Orthopedics",
    "Insurance",
    "Architects",
    "Pharmacy",
    "Auto Body",
    "Bakery",
    "Logistics",
    "Engineering",
    "Chiropractic",
    "Landscaping",
    "Print & Copy",
    "Roofing",
    "Pediatrics",
    "Title",
    "Marine",
    "Optometry",
    "Construction",
    "Fitness",
    "Winery",
    "Surveying",
    "Funeral Home",
    "Hardware",
    "Consulting",
];
const SUFFIXES: [&str; 12] = [
    "",
    " LLC",
    " Inc.",
    " Group",
    " & Sons",
    " Partners",
    " Co.",
    " Associates",
    " Corp.",
    " Ltd.",
    " PLLC",
    " Services",
];

/// The name of company `index`: unique for every index (a number is appended past 10,800).
pub fn company_name(index: usize) -> String {
    let (a, t, s) = (ADJECTIVES.len(), TRADES.len(), SUFFIXES.len());
    let base =
        format!("{} {}{}", ADJECTIVES[index % a], TRADES[(index / a) % t], SUFFIXES[(index / (a * t)) % s]);
    match index / (a * t * s) {
        0 => base,
        n => format!("{base} {}", n + 1),
    }
}

fn company_identifier(index: usize, name: &str) -> String {
    let letters: String = name.chars().filter(char::is_ascii_alphanumeric).take(18).collect();
    format!("{letters}{index}")
}

fn hex(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)])).collect()
}

/// Everything a large MSP's sandbox serves.
struct LargeMsp {
    companies: Vec<Value>,
    agreements: Vec<Value>,
    additions: Vec<Value>,
    nodeware: Vec<Value>,
    huntress: Vec<Value>,
    saas_alerts: Vec<Value>,
    nordlayer: Vec<Value>,
    nordlayer_usage: Map<String, Value>,
    /// (organization, organization id, plan, seats)
    nordpass: Vec<(String, String, String, u32)>,
    summary: ScaleSummary,
}

/// Builds the additions of the active agreements line by line.
struct Additions<'a> {
    rng: fastrand::Rng,
    products: &'a BTreeMap<String, i64>,
    /// Per mille of lines that change.
    changed_per_mille: u32,
    next_id: i64,
    records: Vec<Value>,
    summary: ScaleSummary,
    agreements_with_lines: BTreeSet<i64>,
}

impl Additions<'_> {
    fn product(&self, identifier: &str) -> io::Result<i64> {
        self.products.get(identifier).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("sandbox scale: catalog fixture has no product {identifier}"),
            )
        })
    }

    fn push(
        &mut self,
        agreement_id: i64,
        identifier: &str,
        quantity: u32,
        cancelled: bool,
    ) -> io::Result<()> {
        let product_id = self.product(identifier)?;
        let id = self.next_id;
        self.next_id += 1;
        let mut record = json!({
            "id": id,
            "product": { "id": product_id, "identifier": identifier },
            "quantity": quantity,
            "lessIncluded": 0,
            "unitPrice": 4.5,
            "unitCost": 2.0,
            "billCustomer": "Billable",
            "effectiveDate": "2025-01-01T00:00:00Z",
            "taxableFlag": false,
            "agreementId": agreement_id,
            "description": identifier,
            "billedQuantity": quantity,
            "uom": "Each",
            "extPrice": f64::from(quantity) * 4.5,
            "extCost": f64::from(quantity) * 2.0,
            "agreementStatus": "Active",
            "_info": { "lastUpdated": "2025-10-01T09:00:00Z", "updatedBy": "jsmith" },
        });
        if cancelled {
            record["cancelledDate"] = json!("2025-06-30T00:00:00Z");
        }
        self.records.push(record);
        Ok(())
    }

    /// One (agreement, product) line fed by a vendor with `quantity`: unchanged, update or add.
    fn line(&mut self, agreement_id: i64, identifier: &str, quantity: u32) -> io::Result<()> {
        self.summary.lines += 1;
        self.agreements_with_lines.insert(agreement_id);
        let roll = self.rng.u32(0..1000);
        if roll < self.changed_per_mille * 7 / 10 {
            self.summary.updates += 1;
            let delta = self.rng.u32(1..=10);
            let other = if quantity > delta && self.rng.bool() { quantity - delta } else { quantity + delta };
            self.push(agreement_id, identifier, other, false)
        } else if roll < self.changed_per_mille {
            self.summary.adds += 1;
            if self.rng.bool() {
                let old = self.rng.u32(1..=50);
                self.push(agreement_id, identifier, old, true)?;
            }
            Ok(())
        } else {
            self.push(agreement_id, identifier, quantity, false)
        }
    }
}

/// The id of the active agreement of company `i`.
fn agreement_id(i: usize) -> i64 {
    200_000 + i as i64
}

/// The active companies and their one agreement each (ConnectWise records), and each
/// company's reference as an agreement names it.
fn active_agreements(scale: &Scale) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let mut companies = Vec::with_capacity(scale.companies);
    let mut agreements = Vec::with_capacity(scale.companies + scale.inactive_agreements);
    let company_id = |i: usize| 100_000 + i as i64;
    let mut company_refs = Vec::with_capacity(scale.companies);
    for i in 0..scale.companies {
        let name = company_name(i);
        let reference =
            json!({ "id": company_id(i), "identifier": company_identifier(i, &name), "name": name });
        companies.push(json!({
            "id": company_id(i),
            "identifier": reference["identifier"],
            "name": name,
            "status": { "id": 1, "name": "Active" },
            "types": [{ "id": 1, "name": "Client" }],
            "deletedFlag": false,
            "_info": { "lastUpdated": "2025-01-11T12:48:00Z", "updatedBy": "jsmith" },
        }));
        agreements.push(json!({
            "id": agreement_id(i),
            "name": "Managed Services",
            "type": { "id": 1, "name": "Managed Services" },
            "company": reference,
            "startDate": "2022-01-01T00:00:00Z",
            "noEndingDateFlag": true,
            "cancelledFlag": false,
            "billingCycle": { "id": 2, "name": "Monthly" },
            "applicationUnits": "Amount",
            "billAmount": 0.0,
            "agreementStatus": "Active",
            "_info": { "lastUpdated": "2025-07-23T11:48:00Z", "updatedBy": "jsmith" },
        }));
        company_refs.push(reference);
    }

    (companies, agreements, company_refs)
}

/// The lines no vendor feeds: products of no vendor on every active agreement, and old
/// agreements (cancelled or expired, never chosen) with lines of their own.
fn other_lines(
    scale: &Scale,
    rng: &mut fastrand::Rng,
    company_refs: &[Value],
    agreements: &mut Vec<Value>,
    additions: &mut Additions,
) -> io::Result<()> {
    // Products no vendor feeds, on every active agreement.
    for i in 0..scale.companies {
        let mut others = OTHER_PRODUCTS.to_vec();
        rng.shuffle(&mut others);
        for identifier in others.iter().take(rng.usize(1..=2)) {
            let quantity = rng.u32(1..=60);
            additions.push(agreement_id(i), identifier, quantity, false)?;
        }
    }
    // Old agreements, never chosen: cancelled or expired, with additions of their own.
    let inactive_base = agreement_id(scale.companies);
    for j in 0..scale.inactive_agreements {
        let owner = rng.usize(0..scale.companies.max(1));
        let Some(reference) = company_refs.get(owner) else { break };
        let cancelled = rng.bool();
        let id = inactive_base + j as i64;
        agreements.push(json!({
            "id": id,
            "name": if cancelled { "Managed Services (old)" } else { "Project Block" },
            "type": { "id": 1, "name": "Managed Services" },
            "company": reference,
            "startDate": "2019-01-01T00:00:00Z",
            "endDate": if cancelled { "2024-12-31T00:00:00Z" } else { "2023-12-31T00:00:00Z" },
            "noEndingDateFlag": false,
            "cancelledFlag": cancelled,
            "billingCycle": { "id": 2, "name": "Monthly" },
            "applicationUnits": "Amount",
            "billAmount": 0.0,
            "agreementStatus": if cancelled { "Cancelled" } else { "Expired" },
            "_info": { "lastUpdated": "2024-12-31T11:48:00Z", "updatedBy": "jsmith" },
        }));
        for (_, _, identifier) in SERVICE_PRODUCTS.iter().take(2) {
            let quantity = rng.u32(1..=40);
            additions.push(id, identifier, quantity, false)?;
        }
    }

    Ok(())
}

/// What the generated MSP holds, counted.
fn summary(
    scale: &Scale,
    mut summary: ScaleSummary,
    companies: &[Value],
    agreements: &[Value],
    additions: &[Value],
    agreements_with_lines: usize,
    picks: &[Vec<usize>],
) -> ScaleSummary {
    summary.companies = companies.len();
    summary.agreements = agreements.len();
    summary.active_agreements = scale.companies;
    summary.additions = additions.len();
    summary.agreements_with_lines = agreements_with_lines;
    for (vendor, accounts) in VENDORS.iter().zip(picks) {
        summary.accounts.insert(vendor.to_string(), accounts.len());
    }
    summary
}

/// Each vendor's accounts, on distinct companies drawn at random: the companies' indexes of
/// Nodeware, Huntress, SaaS Alerts, NordLayer and NordPass (`VENDORS`' order).
fn vendor_companies(scale: &Scale, rng: &mut fastrand::Rng) -> [Vec<usize>; 5] {
    let mut pick = |n: usize| -> Vec<usize> {
        let mut indexes: Vec<usize> = (0..scale.companies).collect();
        rng.shuffle(&mut indexes);
        indexes.truncate(n);
        indexes.sort_unstable();
        indexes
    };
    [
        pick(scale.nodeware),
        pick(scale.huntress),
        pick(scale.saas_alerts),
        pick(scale.nordlayer),
        pick(scale.nordpass),
    ]
}

/// Generate the MSP of `scale`.
fn generate(scale: &Scale) -> io::Result<LargeMsp> {
    let catalog = fixtures::records("catalog.json", fixtures::CATALOG)?;
    let products: BTreeMap<String, i64> = catalog
        .iter()
        .filter_map(|c| Some((c["identifier"].as_str()?.to_string(), c["id"].as_i64()?)))
        .collect();
    let mut rng = fastrand::Rng::with_seed(scale.seed);

    let (companies, mut agreements, company_refs) = active_agreements(scale);

    let mut additions = Additions {
        rng: fastrand::Rng::with_seed(scale.seed ^ 0x5eed),
        products: &products,
        changed_per_mille: scale.changed_percent.min(100) * 10,
        next_id: 1_000_000,
        records: Vec::new(),
        summary: ScaleSummary::default(),
        agreements_with_lines: BTreeSet::new(),
    };
    other_lines(scale, &mut rng, &company_refs, &mut agreements, &mut additions)?;

    let picks = vendor_companies(scale, &mut rng);
    let mut vendor_rng = fastrand::Rng::with_seed(scale.seed ^ 0xacc0);
    let rng = &mut vendor_rng;

    let mut nodeware = Vec::new();
    for &i in &picks[0] {
        let (internal, external) = (rng.u32(1..=150), rng.u32(0..=12));
        additions.line(agreement_id(i), "NODEWARE-VMS", internal + external)?;
        nodeware.push(json!({
            "id": hex(rng, 32),
            "name": company_name(i),
            "score": rng.u32(20..=99),
            "asset_totals": { "internal": internal, "external": external },
        }));
    }
    let mut huntress = Vec::new();
    for (n, &i) in picks[1].iter().enumerate() {
        let counts = [rng.u32(1..=150), rng.u32(1..=150), rng.u32(1..=150)];
        for ((_, _, identifier), count) in SERVICE_PRODUCTS[1..4].iter().zip(counts) {
            additions.line(agreement_id(i), identifier, count)?;
        }
        let id = 500_000 + n as i64;
        huntress.push(json!({
            "id": id,
            "name": company_name(i),
            "key": format!("org-{id}"),
            "account_id": 1001,
            "created_at": "2023-01-15T12:00:00Z",
            "updated_at": "2025-05-01T08:30:00Z",
            "logs_sources_count": 0,
            "agents_count": counts[0],
            "billable_identity_count": counts[1],
            "sat_learner_count": counts[2],
            "microsoft_365_tenant_id": null,
            "notify_emails": [],
        }));
    }
    let mut saas_alerts = Vec::new();
    for (n, &i) in picks[2].iter().enumerate() {
        let users = rng.u32(1..=150);
        additions.line(agreement_id(i), "SAASALERTS-USERS", users)?;
        // The API sends some counts as numeric strings.
        let billing_users = if n % 7 == 0 { json!(users.to_string()) } else { json!(users) };
        saas_alerts.push(json!({
            "id": hex(rng, 20),
            "name": company_name(i),
            "status": "active",
            "billingUsers": billing_users,
            "totalAccountsAmount": users + rng.u32(0..=20),
            "customerDomain": format!("customer{i}.example.com"),
        }));
    }
    let mut nordlayer = Vec::new();
    let mut nordlayer_usage = Map::new();
    for &i in &picks[3] {
        let (members, servers) = (rng.u32(1..=80), rng.u32(1..=3));
        additions.line(agreement_id(i), "NORDLAYER-LIC", members)?;
        additions.line(agreement_id(i), "NORDLAYER-SRV", servers)?;
        let identifier = format!("org-{}-{}", hex(rng, 8), hex(rng, 4));
        let plan = ["core", "premium", "complete"][rng.usize(0..3)];
        nordlayer
            .push(json!({ "identifier": identifier, "title": company_name(i), "plan_identifier": plan }));
        nordlayer_usage.insert(identifier, json!({ "members": members, "servers": servers }));
    }
    let mut nordpass = Vec::new();
    for &i in &picks[4] {
        let seats = rng.u32(1..=100);
        let (plan, identifier) =
            if rng.u32(0..4) == 0 { ("Enterprise", "NORDPASS-ENT") } else { ("Business", "NORDPASS-BUS") };
        additions.line(agreement_id(i), identifier, seats)?;
        let id = format!("{}-{}-{}-{}-{}", hex(rng, 8), hex(rng, 4), hex(rng, 4), hex(rng, 4), hex(rng, 12));
        nordpass.push((company_name(i), id, plan.to_string(), seats));
    }

    let agreements_with_lines = additions.agreements_with_lines.len();
    let summary = summary(
        scale,
        additions.summary,
        &companies,
        &agreements,
        &additions.records,
        agreements_with_lines,
        &picks,
    );
    Ok(LargeMsp {
        companies,
        agreements,
        additions: additions.records,
        nodeware,
        huntress,
        saas_alerts,
        nordlayer,
        nordlayer_usage,
        nordpass,
        summary,
    })
}

impl Sandbox {
    /// The generated MSP's first `pax8` companies as Pax8 customers and the next `sherweb`
    /// as Sherweb customers, each with Microsoft 365 Business Premium (see
    /// `Distributors::replace_generated`).
    pub fn serve_generated_distributors(&self, pax8: usize, sherweb: usize) {
        let names: Vec<String> = (0..pax8 + sherweb).map(company_name).collect();
        self.distributors.replace_generated(&names, pax8, sherweb);
    }

    /// NinjaOne, Datto RMM and SentinelOne serving the first `organizations` companies of the
    /// generated MSP (named as the PSA names them), `devices` devices spread evenly over them:
    /// mostly Windows workstations, every 5th a Mac (Datto: a laptop), every 10th a server,
    /// every 50th waiting for approval, every 40th an iPhone and every 20th offline;
    /// SentinelOne's sites run as many agents, every 100th a trial.
    pub fn serve_generated_devices(&self, organizations: usize, devices: usize) {
        let orgs: Vec<serde_json::Value> = (0..organizations)
            .map(|i| serde_json::json!({"id": i + 1, "name": company_name(i), "nodeApprovalMode": "AUTOMATIC"}))
            .collect();
        let fleet: Vec<serde_json::Value> = (0..devices)
            .map(|i| {
                let class = match i {
                    _ if i % 40 == 39 => "APPLE_IOS",
                    _ if i % 10 == 9 => "WINDOWS_SERVER",
                    _ if i % 5 == 4 => "MAC",
                    _ => "WINDOWS_WORKSTATION",
                };
                let approval = if i % 50 == 49 { "PENDING" } else { "APPROVED" };
                let organization = (i % organizations.max(1)) as i64 + 1;
                super::ninjaone::device(i as i64 + 1, organization, class, approval, i % 20 == 19)
            })
            .collect();
        // Datto RMM: the same companies as sites, the same fleet by category.
        let sites: Vec<serde_json::Value> = (0..organizations)
            .map(|i| serde_json::json!({"uid": format!("site-{}", i + 1), "id": i + 1, "name": company_name(i)}))
            .collect();
        let datto_devices: Vec<serde_json::Value> = fleet
            .iter()
            .map(|d| {
                let category = match d["nodeClass"].as_str() {
                    Some("APPLE_IOS") => "Smartphone",
                    Some("WINDOWS_SERVER") => "Server",
                    Some("MAC") => "Laptop",
                    _ => "Desktop",
                };
                let uid = format!("dev-{}", d["id"]);
                let site = format!("site-{}", d["organizationId"]);
                super::datto::device(&uid, &site, category)
            })
            .collect();
        self.datto.replace(sites, datto_devices);
        // SentinelOne: one site per company, Complete, its agents the fleet's approved share.
        let s1: Vec<serde_json::Value> = (0..organizations)
            .map(|i| {
                let agents = fleet.iter().filter(|d| d["organizationId"] == i as i64 + 1).count();
                serde_json::json!({"id": format!("{}", 5000 + i), "name": company_name(i), "sku": "Complete", "suite": "Complete",
                                   "siteType": if i % 100 == 99 { "Trial" } else { "Paid" }, "state": "active",
                                   "activeLicenses": agents, "totalLicenses": agents + 5})
            })
            .collect();
        self.sentinelone.replace(s1);
        self.ninjaone.replace(orgs, fleet);
    }

    /// A sandbox serving the generated MSP of `scale` instead of the fixtures' (the catalog
    /// and setup tables stay). The backup CSV vendor keeps its fixture rows.
    pub fn start_large(options: SandboxOptions, scale: &Scale) -> io::Result<(Sandbox, ScaleSummary)> {
        let msp = generate(scale)?;
        let sandbox = Sandbox::start_with(options)?;
        sandbox.autotask.replace_records(
            msp.companies.clone(),
            msp.agreements.clone(),
            msp.additions.clone(),
        )?;
        sandbox.halo.replace_records(msp.companies.clone(), msp.agreements.clone(), msp.additions.clone())?;
        sandbox.connectwise.replace_records(msp.companies, msp.agreements, msp.additions);
        sandbox.vendors.replace_records(
            msp.nodeware,
            msp.huntress,
            msp.saas_alerts,
            msp.nordlayer,
            msp.nordlayer_usage,
        );
        {
            let mut files = lock(&sandbox.files);
            let file = &mut files.nordpass;
            file.rows = msp
                .nordpass
                .into_iter()
                .map(|(name, id, plan, seats)| {
                    file.headers
                        .iter()
                        .map(|h| match h.as_str() {
                            "Organization" => name.clone(),
                            "Organization ID" => id.clone(),
                            "Plan" => plan.clone(),
                            "Seats" => seats.to_string(),
                            _ => String::new(),
                        })
                        .collect()
                })
                .collect();
            file.write()?;
        }
        Ok((sandbox, msp.summary))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn small() -> Scale {
        Scale {
            companies: 60,
            inactive_agreements: 10,
            nodeware: 20,
            huntress: 30,
            saas_alerts: 15,
            nordlayer: 10,
            nordpass: 12,
            changed_percent: 10,
            seed: 3,
        }
    }

    #[test]
    fn generation_is_deterministic_and_counts_its_lines() {
        let a = generate(&small()).unwrap();
        let b = generate(&small()).unwrap();
        assert_eq!(a.additions, b.additions);
        assert_eq!(a.summary, b.summary);
        let s = &a.summary;
        assert_eq!(s.lines, 20 + 30 * 3 + 15 + 10 * 2 + 12);
        assert_eq!(s.agreements, 70);
        assert_eq!(s.accounts.values().sum::<usize>(), small().accounts());
        // Every line is unchanged (an active addition of its quantity), an update or an add.
        let active = a.additions.iter().filter(|r| r.get("cancelledDate").is_none()).count();
        assert!(active >= s.lines - s.adds);
    }

    #[test]
    fn the_large_sandbox_serves_the_generated_msp() {
        let (sandbox, summary) = Sandbox::start_large(SandboxOptions::default(), &small()).unwrap();
        assert_eq!(sandbox.connectwise_additions().len(), summary.additions);
        let csv = std::fs::read_to_string(sandbox.nordpass_csv_path()).unwrap();
        assert_eq!(csv.lines().count(), 1 + 12);
    }
}
