//! Fake ConnectWise and vendor servers on loopback, seeded from `fixtures/`.
//!
//! A test double for `recon demo`, the end-to-end tests and the benchmark. It follows the
//! real APIs' documented behaviour (shared/reference), never recon's own assumptions, so
//! recon's client code is tested against what the services do. Each service runs its own
//! tiny_http server on `127.0.0.1:0`; everything stops when the [`Sandbox`] is dropped.
//!
//! ```no_run
//! let sandbox = recon_sandbox::Sandbox::start()?;
//! std::fs::write("recon.toml", sandbox.config_toml())?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod autotask;
mod conditions;
mod connectwise;
mod datto;
mod distributors;
mod fixtures;
mod halopsa;
mod ninjaone;
#[cfg(feature = "scale")]
pub mod scale;
mod schema;
mod sentinelone;
mod server;
mod sophos;
mod vendors;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use self::autotask::Autotask;
use self::connectwise::ConnectWise;
use self::distributors::Distributors;
pub use self::distributors::{PAX8_M365_BASIC, PAX8_M365_BP, SHERWEB_M365_BP};
use self::halopsa::Halo;
pub use self::sophos::{SOPHOS_CIXA, SOPHOS_PARTNER_ID};

pub use self::autotask::POSTED_THIS_MONTH as AUTOTASK_POSTED_THIS_MONTH;
pub use self::halopsa::{COMPUTED_LINE as HALO_COMPUTED_LINE, CONTRACT_ID_OFFSET as HALO_CONTRACT_ID_OFFSET};
use self::server::{Handler, RunningServer, ServerSpec, lock};
use self::vendors::Vendors;

pub const CW_COMPANY_ID: &str = "sandbox";
pub const CW_PUBLIC_KEY: &str = "sandbox-public-key";
pub const CW_PRIVATE_KEY: &str = "sandbox-private-key";
pub const CW_CLIENT_ID: &str = "5a4db0c5-0000-4000-8000-000000000001";
pub const NODEWARE_KEY: &str = "sandbox-nodeware-key";
pub const HUNTRESS_KEY: &str = "sandbox-huntress-key";
pub const HUNTRESS_SECRET: &str = "sandbox-huntress-secret";
pub const SAAS_ALERTS_KEY: &str = "sandbox-saas-alerts-key";
pub const NORDLAYER_KEY: &str = "sandbox-nordlayer-key";
pub const AT_USERNAME: &str = "recon-api@sandbox.example";
pub const AT_SECRET: &str = "sandbox-autotask-secret";
pub const AT_INTEGRATION_CODE: &str = "SANDBOXINTEGRATIONCODE";
pub const HALO_CLIENT_ID: &str = "sandbox-halo-client-id";
pub const PAX8_CLIENT_ID: &str = "sandbox-pax8-client-id";
pub const SOPHOS_CLIENT_ID: &str = "sandbox-sophos-client-id";
pub const SOPHOS_CLIENT_SECRET: &str = "sandbox-sophos-client-secret";
pub const NINJAONE_CLIENT_ID: &str = "sandbox-ninjaone-client-id";
pub const NINJAONE_CLIENT_SECRET: &str = "sandbox-ninjaone-client-secret";
pub const DATTO_API_KEY: &str = "sandbox-datto-api-key";
pub const DATTO_API_SECRET: &str = "sandbox-datto-api-secret";
pub const SENTINELONE_TOKEN: &str = "sandbox-sentinelone-api-token";
pub const PAX8_CLIENT_SECRET: &str = "sandbox-pax8-client-secret";
pub const SHERWEB_CLIENT_ID: &str = "sandbox-sherweb-client-id";
pub const SHERWEB_CLIENT_SECRET: &str = "sandbox-sherweb-client-secret";
pub const SHERWEB_SUBSCRIPTION_KEY: &str = "sandbox-sherweb-subscription-key";
pub const HALO_CLIENT_SECRET: &str = "sandbox-halo-client-secret";

/// The vendors served over HTTP, in the order their sections appear in the config.
/// The `[sync]` section of the sandbox's configs: push every change, so a test sees
/// ConnectWise end exactly as the vendors say. recon's own defaults hold decreases and large
/// changes; a test of the policy replaces this section.
pub const SYNC_PUSH_EVERYTHING: &str =
    "\n[sync]\nincreases = \"apply\"\ndecreases = \"apply\"\nmax_change_percent = false\n";

/// (vendor, service key, catalog product identifier): the product each sandbox vendor's
/// service maps to in the fixtures' catalog. Each service feeds its own product.
pub const SERVICE_PRODUCTS: [(&str, &str, &str); 10] = [
    ("nodeware", "vms", "NODEWARE-VMS"),
    ("huntress", "edr-agents", "HUNTRESS-EDR"),
    ("huntress", "itdr-identities", "HUNTRESS-ITDR"),
    ("huntress", "sat-learners", "HUNTRESS-SAT"),
    ("saas-alerts", "billable-users", "SAASALERTS-USERS"),
    ("nordlayer", "licenses", "NORDLAYER-LIC"),
    ("nordlayer", "servers", "NORDLAYER-SRV"),
    ("nordpass", "business", "NORDPASS-BUS"),
    ("nordpass", "enterprise", "NORDPASS-ENT"),
    ("backup", "seats", "BACKUP-SEATS"),
];

pub const HTTP_VENDORS: [&str; 4] = ["nodeware", "huntress", "saas-alerts", "nordlayer"];
/// The distributors (and Sophos, which bills by month too) the sandbox serves: not in
/// [`ALL_VENDORS`] (their lines would change what the other vendors' tests see); named when
/// wanted.
pub const DISTRIBUTORS: [&str; 3] = ["pax8", "sherweb", "sophos"];
/// The RMMs and EDRs the sandbox serves (device counts): like [`DISTRIBUTORS`], named when
/// wanted.
pub const DEVICE_VENDORS: [&str; 3] = ["ninjaone", "datto-rmm", "sentinelone"];
/// (distributor, service key, catalog product identifier): each distributor's Microsoft 365
/// Business Premium maps to the catalog's M365-BP.
pub const DISTRIBUTOR_PRODUCTS: [(&str, &str, &str); 2] =
    [("pax8", PAX8_M365_BP, "M365-BP"), ("sherweb", SHERWEB_M365_BP, "M365-BP")];
/// Every vendor section `config_toml` writes (the last two read files, not servers).
pub const ALL_VENDORS: [&str; 6] = ["nodeware", "huntress", "saas-alerts", "nordlayer", "nordpass", "backup"];

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Added to every response (a slow WAN to the cloud PSA, for the benchmark).
    pub latency: Duration,
    pub faults: Faults,
    /// Worker threads per server; each sleeps through `latency`, so this bounds how many
    /// requests one server answers at once.
    pub workers: usize,
    /// The keys the fake services accept (and `config_toml` writes).
    pub credentials: Credentials,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            latency: Duration::ZERO,
            faults: Faults::default(),
            workers: 8,
            credentials: Credentials::default(),
        }
    }
}

/// Every key the fake services check. The default is the `sandbox-*` constants; tests that
/// hunt for leaked secrets give each one a unique canary value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub cw_company_id: String,
    pub cw_public_key: String,
    pub cw_private_key: String,
    pub cw_client_id: String,
    pub nodeware_key: String,
    pub huntress_key: String,
    pub huntress_secret: String,
    pub saas_alerts_key: String,
    pub nordlayer_key: String,
    pub at_username: String,
    pub at_secret: String,
    pub at_integration_code: String,
    pub halo_client_id: String,
    pub halo_client_secret: String,
    pub pax8_client_id: String,
    pub pax8_client_secret: String,
    pub sherweb_client_id: String,
    pub sherweb_client_secret: String,
    pub sherweb_subscription_key: String,
    pub sophos_client_id: String,
    pub sophos_client_secret: String,
    pub ninjaone_client_id: String,
    pub ninjaone_client_secret: String,
    pub datto_api_key: String,
    pub datto_api_secret: String,
    pub sentinelone_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            cw_company_id: CW_COMPANY_ID.to_string(),
            cw_public_key: CW_PUBLIC_KEY.to_string(),
            cw_private_key: CW_PRIVATE_KEY.to_string(),
            cw_client_id: CW_CLIENT_ID.to_string(),
            nodeware_key: NODEWARE_KEY.to_string(),
            huntress_key: HUNTRESS_KEY.to_string(),
            huntress_secret: HUNTRESS_SECRET.to_string(),
            saas_alerts_key: SAAS_ALERTS_KEY.to_string(),
            nordlayer_key: NORDLAYER_KEY.to_string(),
            at_username: AT_USERNAME.to_string(),
            at_secret: AT_SECRET.to_string(),
            at_integration_code: AT_INTEGRATION_CODE.to_string(),
            halo_client_id: HALO_CLIENT_ID.to_string(),
            halo_client_secret: HALO_CLIENT_SECRET.to_string(),
            pax8_client_id: PAX8_CLIENT_ID.to_string(),
            pax8_client_secret: PAX8_CLIENT_SECRET.to_string(),
            sherweb_client_id: SHERWEB_CLIENT_ID.to_string(),
            sherweb_client_secret: SHERWEB_CLIENT_SECRET.to_string(),
            sherweb_subscription_key: SHERWEB_SUBSCRIPTION_KEY.to_string(),
            sophos_client_id: SOPHOS_CLIENT_ID.to_string(),
            sophos_client_secret: SOPHOS_CLIENT_SECRET.to_string(),
            ninjaone_client_id: NINJAONE_CLIENT_ID.to_string(),
            ninjaone_client_secret: NINJAONE_CLIENT_SECRET.to_string(),
            datto_api_key: DATTO_API_KEY.to_string(),
            datto_api_secret: DATTO_API_SECRET.to_string(),
            sentinelone_token: SENTINELONE_TOKEN.to_string(),
        }
    }
}

/// Fault injection, applied to each selected server independently (own counters, own
/// random stream). The default injects nothing.
///
/// Two families: faults *before* the service acts (429, 5xx, an HTML login page: the
/// request had no effect) and faults *after* it acts (slow, reset, truncated: a write was
/// applied but its answer is lost), which is what makes a client's retry of a write unsafe.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fraction (0.0..=1.0) of requests answered 429 with `Retry-After: 1`
    /// (`throttle_retry_after` overrides the value).
    pub throttle_fraction: f64,
    /// The `Retry-After` seconds of `throttle_fraction` answers; `None` = 1.
    pub throttle_retry_after: Option<u64>,
    /// Fraction of requests answered 500 or 503 (alternating at random).
    pub server_error_fraction: f64,
    /// Requests admitted per rolling minute; beyond that 429 with a `Retry-After` saying
    /// when the oldest admitted request leaves the window. `None` = unlimited.
    pub requests_per_minute: Option<u32>,
    /// The rolling window of `requests_per_minute`; `None` = one minute (tests shorten it).
    pub rate_window: Option<Duration>,
    /// Fraction of requests answered 200 with an HTML login page (a captive proxy or SSO
    /// page in front of the API); the service does not act.
    pub html_fraction: f64,
    /// HTTP methods the HTML page is answered to; empty = those of `methods`.
    pub html_methods: Vec<String>,
    /// Fraction of requests the service acts on whose answer is then a 500 (a gateway that
    /// fails on the way back).
    pub server_error_after_fraction: f64,
    /// Fraction of requests the service acts on, answered only after `slow_delay` (longer
    /// than the client's timeout, so the client gives up first).
    pub slow_fraction: f64,
    pub slow_delay: Duration,
    /// Fraction of requests the service acts on whose answer then breaks off mid-body: the
    /// client sees the connection drop after sending (tiny_http cannot close a socket
    /// without answering, so the break is a malformed chunk, which clients treat the same).
    pub reset_fraction: f64,
    /// Fraction of requests the service acts on, answered 200 with the first half of the
    /// JSON body and a Content-Length to match (a body cut short that the transport missed).
    pub truncate_fraction: f64,
    /// When non-zero, every selected request is answered 200 with a valid JSON body of this
    /// many bytes (mostly leading whitespace), for testing response size caps.
    pub oversize_bytes: usize,
    /// HTTP methods the faults apply to (`GET`, `POST`, `PATCH`); empty = all.
    pub methods: Vec<String>,
    /// Server names the faults apply to (`connectwise`, `nodeware`, ...); empty = all.
    pub servers: Vec<String>,
    /// Seed for the random draws, so a faulty run can be repeated exactly.
    pub seed: u64,
}

/// One request a sandbox server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `connectwise` or the vendor name.
    pub server: String,
    pub method: String,
    pub path_and_query: String,
    /// The status the service (or an injected fault) decided on. For a `slow`, `reset` or
    /// `truncate` fault it is the service's status: the request took effect even though
    /// the client never saw a usable answer.
    pub status: u16,
    /// The injected fault, if any: `rate-limit`, `throttle`, `server-error`, `html`,
    /// `oversize` (the service did not act) or `slow`, `reset`, `truncate`,
    /// `server-error-after` (it did).
    pub fault: Option<&'static str>,
    /// When it was answered (the benchmark reads rates from it).
    pub at: std::time::Instant,
}

/// A running sandbox. Dropping it stops every server and deletes its temp files.
pub struct Sandbox {
    /// connectwise, autotask, halopsa, then [`HTTP_VENDORS`] in order.
    servers: Vec<(String, RunningServer)>,
    log: Arc<Mutex<Vec<RecordedRequest>>>,
    connectwise: Arc<ConnectWise>,
    autotask: Arc<Autotask>,
    halo: Arc<Halo>,
    distributors: Arc<Distributors>,
    sophos: Arc<sophos::Sophos>,
    ninjaone: Arc<ninjaone::NinjaOne>,
    datto: Arc<datto::Datto>,
    sentinelone: Arc<sentinelone::SentinelOne>,
    vendors: Arc<Vendors>,
    files: Mutex<CsvFiles>,
    credentials: Credentials,
    /// Owns the directory of the CSV files; removed on drop.
    _dir: tempfile::TempDir,
}

/// The file-based vendors: their current rows and where they are written.
struct CsvFiles {
    nordpass: CsvFile,
    backup: CsvFile,
}

struct CsvFile {
    path: PathBuf,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The column holding the account id.
    id_column: usize,
}

impl Sandbox {
    pub fn start() -> io::Result<Sandbox> {
        Sandbox::start_with(SandboxOptions::default())
    }

    pub fn start_with(options: SandboxOptions) -> io::Result<Sandbox> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let connectwise = Arc::new(ConnectWise::new()?.with_credentials(options.credentials.clone()));
        let autotask = Arc::new(Autotask::new()?.with_credentials(options.credentials.clone()));
        let halo = Arc::new(Halo::new()?.with_credentials(options.credentials.clone()));
        let distributors = Arc::new(Distributors::new().with_credentials(options.credentials.clone()));
        let sophos = Arc::new(sophos::Sophos::new(options.credentials.clone()));
        let ninjaone = Arc::new(ninjaone::NinjaOne::new(options.credentials.clone()));
        let datto = Arc::new(datto::Datto::new(options.credentials.clone()));
        let sentinelone = Arc::new(sentinelone::SentinelOne::new(options.credentials.clone()));
        let vendors = Arc::new(Vendors::new()?.with_credentials(options.credentials.clone()));
        let dir = tempfile::Builder::new().prefix("recon-sandbox-").tempdir()?;
        let files = CsvFiles {
            nordpass: CsvFile::create(
                dir.path(),
                "nordpass-usage.csv",
                fixtures::NORDPASS_USAGE_CSV,
                "Organization ID",
            )?,
            backup: CsvFile::create(dir.path(), "backup.csv", fixtures::BACKUP_CSV, "account_id")?,
        };

        let mut handlers: Vec<(&str, Handler, server::ThrottleBody)> = Vec::new();
        let cw = Arc::clone(&connectwise);
        handlers.push(("connectwise", Arc::new(move |ex| cw.handle(ex)), connectwise::throttle_body));
        let at = Arc::clone(&autotask);
        handlers.push(("autotask", Arc::new(move |ex| at.handle(ex)), autotask::throttle_body));
        let ha = Arc::clone(&halo);
        handlers.push(("halopsa", Arc::new(move |ex| ha.handle(ex)), halopsa::throttle_body));
        for name in HTTP_VENDORS {
            let v = Arc::clone(&vendors);
            let handler: Handler = match name {
                "nodeware" => Arc::new(move |ex| v.nodeware(ex)),
                "huntress" => Arc::new(move |ex| v.huntress(ex)),
                "saas-alerts" => Arc::new(move |ex| v.saas_alerts(ex)),
                _ => Arc::new(move |ex| v.nordlayer(ex)),
            };
            handlers.push((name, handler, vendors::throttle_body));
        }
        let d = Arc::clone(&distributors);
        handlers.push(("pax8", Arc::new(move |ex| d.pax8(ex)), vendors::throttle_body));
        let d = Arc::clone(&distributors);
        handlers.push(("sherweb", Arc::new(move |ex| d.sherweb(ex)), vendors::throttle_body));
        let so = Arc::clone(&sophos);
        handlers.push(("sophos", Arc::new(move |ex| so.handle(ex)), vendors::throttle_body));
        let ninja = Arc::clone(&ninjaone);
        handlers.push(("ninjaone", Arc::new(move |ex| ninja.handle(ex)), vendors::throttle_body));
        let dt = Arc::clone(&datto);
        handlers.push(("datto-rmm", Arc::new(move |ex| dt.handle(ex)), vendors::throttle_body));
        let s1 = Arc::clone(&sentinelone);
        handlers.push(("sentinelone", Arc::new(move |ex| s1.handle(ex)), vendors::throttle_body));
        let mut servers = Vec::new();
        for (name, handler, throttle_body) in handlers {
            let spec = ServerSpec {
                name: name.to_string(),
                handler,
                throttle_body,
                latency: options.latency,
                faults: options.faults.clone(),
                workers: options.workers,
            };
            // On error the servers already started are dropped, which stops them.
            servers.push((name.to_string(), RunningServer::start(spec, Arc::clone(&log))?));
        }
        Ok(Sandbox {
            servers,
            log,
            connectwise,
            autotask,
            halo,
            distributors,
            sophos,
            ninjaone,
            datto,
            sentinelone,
            vendors,
            files: Mutex::new(files),
            credentials: options.credentials,
            _dir: dir,
        })
    }

    /// The server named `name` (`connectwise`, `autotask`, `halopsa`, a vendor).
    fn server(&self, name: &str) -> Option<&RunningServer> {
        self.servers.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    fn server_url(&self, name: &str) -> Option<String> {
        self.server(name).map(RunningServer::url)
    }

    /// The ConnectWise "site"; the API lives under `/{codebase}apis/3.0/`.
    pub fn connectwise_site(&self) -> String {
        self.server_url("connectwise").unwrap_or_default()
    }

    /// Full API base, `http://127.0.0.1:PORT/v2025_1/apis/3.0/`.
    pub fn connectwise_api_base(&self) -> String {
        format!("{}/{}apis/3.0/", self.connectwise_site(), self.connectwise.codebase())
    }

    /// Move the API to another codebase, as a ConnectWise cloud upgrade does: the old
    /// `/{codebase}apis/3.0/` paths answer 404 and companyinfo advertises the new one.
    pub fn set_connectwise_codebase(&self, codebase: &str) {
        self.connectwise.set_codebase(codebase);
    }

    /// The Autotask fake's origin; zone discovery answers at `/atservicesrest/v1.0/zoneInformation`.
    pub fn autotask_url(&self) -> String {
        self.server_url("autotask").unwrap_or_default()
    }

    /// The zone's API URL as discovery advertises it (`.../zone1/ATServicesRest/`).
    pub fn autotask_zone_url(&self) -> String {
        format!("{}/{}/ATServicesRest/", self.autotask_url(), self.autotask.zone())
    }

    /// Move the database to another zone: the old zone's paths answer 401 and discovery
    /// advertises the new one.
    pub fn set_autotask_zone(&self, zone: &str) {
        self.autotask.set_zone(zone);
    }

    /// Hold every Autotask request this long inside the service, so that concurrent ones
    /// overlap (and a fourth on one endpoint meets the thread limit).
    pub fn set_autotask_hold(&self, hold: Duration) {
        self.autotask.set_hold(hold);
    }

    /// Make Autotask answer 403 to every request on `entity` (e.g. `Companies`), as a
    /// security level without that permission does.
    pub fn deny_autotask_entity(&self, entity: &str) {
        self.autotask.deny(entity);
    }

    /// Make Autotask answer every ContractServices query with no records (no error), as a
    /// restricted security level does.
    pub fn set_autotask_hide_contract_services(&self, hide: bool) {
        self.autotask.set_hide_services(hide);
    }

    /// Make Autotask's `nextPageUrl` point at another host name for the same server.
    pub fn set_autotask_foreign_next_page(&self, foreign: bool) {
        self.autotask.set_foreign_next(foreign);
    }

    /// The database's hourly request threshold, and how many requests other integrations
    /// have made this hour.
    pub fn set_autotask_threshold(&self, limit: u64, used_by_others: u64) {
        self.autotask.set_threshold(limit, used_by_others);
    }

    /// Post `contract`'s periods before `until` (an admin approving and posting them).
    pub fn set_autotask_posted_until(&self, contract: i64, until: chrono::NaiveDate) {
        self.autotask.set_posted_until(contract, until);
    }

    /// Post the periods of `contract` before `until` the moment its next adjustment arrives
    /// (someone posting during a run, after its reads).
    pub fn autotask_post_on_write(&self, contract: i64, until: chrono::NaiveDate) {
        self.autotask.post_on_write(contract, until);
    }

    /// Move a contract's start date (a contract that starts mid-month).
    pub fn autotask_set_contract_start(&self, contract: i64, start: chrono::NaiveDate) {
        self.autotask.set_contract_start(contract, start);
    }

    /// The units of a contract's service in force on `date` (None: no such contract service).
    pub fn autotask_units_at(&self, contract: i64, service: i64, date: chrono::NaiveDate) -> Option<i64> {
        self.autotask.units_at(contract, service, date)
    }

    /// Every ContractServiceAdjustment received: (contract service id, effective date, change).
    pub fn autotask_adjustments(&self) -> Vec<(i64, chrono::NaiveDate, i64)> {
        self.autotask.adjustments()
    }

    /// Change a contract service's units from `date`, as someone working in Autotask would.
    pub fn adjust_autotask_by_hand(
        &self,
        contract: i64,
        service: i64,
        date: chrono::NaiveDate,
        change: i64,
    ) -> bool {
        self.autotask.adjust_by_hand(contract, service, date, change)
    }

    /// Like [`Sandbox::config_toml_for`], with an `[autotask]` section instead of `[connectwise]`.
    pub fn autotask_config_toml_for(&self, vendors: &[&str]) -> String {
        let cw = self.config_toml_for(vendors);
        let rest = cw.find("\n[vendors.").or_else(|| cw.find("\n[sync]")).map_or("", |i| &cw[i..]);
        format!(
            "[autotask]\nusername = {}\nsecret = {}\nintegration_code = {}\ndiscovery_url = {}\nrequests_per_hour = 10000\n{rest}",
            toml_string(&self.credentials.at_username),
            toml_string(&self.credentials.at_secret),
            toml_string(&self.credentials.at_integration_code),
            toml_string(&format!("{}/atservicesrest/", self.autotask_url())),
        )
    }

    /// The fake Halo's origin; the Resource Server is `{origin}/api`, the Authorisation
    /// Server `{origin}/auth`.
    pub fn halopsa_url(&self) -> String {
        self.server_url("halopsa").unwrap_or_default()
    }

    /// Like [`Sandbox::config_toml_for`], with a `[halopsa]` section instead of `[connectwise]`.
    /// The authorisation server is left to `authinfo`; the rate is the sandbox's, not hosted
    /// Halo's (the fake still answers 429 past 300 requests in 5 minutes).
    pub fn halopsa_config_toml_for(&self, vendors: &[&str]) -> String {
        let cw = self.config_toml_for(vendors);
        let rest = cw.find("\n[vendors.").or_else(|| cw.find("\n[sync]")).map_or("", |i| &cw[i..]);
        format!(
            "[halopsa]\nresource_url = {}\nclient_id = {}\nclient_secret = {}\nrequests_per_minute = 1000\n{rest}",
            toml_string(&format!("{}/api", self.halopsa_url())),
            toml_string(&self.credentials.halo_client_id),
            toml_string(&self.credentials.halo_client_secret),
        )
    }

    /// The lines of a Halo recurring invoice as the fake holds them now.
    pub fn halo_invoice_lines(&self, invoice: i64) -> Vec<Value> {
        self.halo.invoice_lines(invoice)
    }

    /// Edit a Halo recurring invoice line as someone in Halo would (`fields` set on it).
    pub fn edit_halo_line(&self, invoice: i64, line: i64, fields: Value) -> bool {
        self.halo.edit_line(invoice, line, &fields)
    }

    /// Halo creates the invoice due from recurring invoice `invoice`: the next creation date
    /// moves on a month and pending pro-rata quantities fold into their lines.
    pub fn create_halo_invoice(&self, invoice: i64) -> bool {
        self.halo.create_invoice(invoice)
    }

    /// What Sophos's `whoami` says the credentials belong to (`partner` by default).
    pub fn set_sophos_id_type(&self, id_type: &str) {
        self.sophos.set_id_type(id_type);
    }

    /// How many tokens the fake Sophos ID has issued.
    pub fn sophos_tokens_issued(&self) -> u64 {
        self.sophos.tokens_issued()
    }

    /// Tokens the fake NinjaOne issues from now on last this long.
    pub fn set_ninjaone_token_lifetime(&self, lifetime: Duration) {
        self.ninjaone.set_token_lifetime(lifetime);
    }

    /// Tokens the fake NinjaOne issues from now on expire after this many requests.
    pub fn set_ninjaone_token_uses(&self, uses: Option<u32>) {
        self.ninjaone.set_token_uses(uses);
    }

    /// The fake Datto RMM's `nextPageUrl` points at `host` (another server) from now on.
    pub fn set_datto_foreign_next_page(&self, host: Option<String>) {
        self.datto.set_foreign_next_page(host);
    }

    /// How many tokens the fake Datto RMM has issued.
    pub fn datto_tokens_issued(&self) -> u64 {
        self.datto.tokens_issued()
    }

    /// Change one field of one SentinelOne site (by id); false when there is no such site.
    pub fn set_sentinelone_site(&self, id: &str, field: &str, value: Value) -> bool {
        self.sentinelone.set_site(id, field, value)
    }

    /// How many tokens the fake NinjaOne has issued.
    pub fn ninjaone_tokens_issued(&self) -> u64 {
        self.ninjaone.tokens_issued()
    }

    /// Change one field of one NinjaOne device (by id); false when there is no such device.
    pub fn set_ninjaone_device(&self, id: i64, field: &str, value: Value) -> bool {
        self.ninjaone.set_device(id, field, value)
    }

    /// How long Halo's tokens last from now on (`expires_in` says so too).
    pub fn set_halo_token_lifetime(&self, lifetime: Duration) {
        self.halo.set_token_lifetime(lifetime);
    }

    /// Every Halo token issued so far stops working.
    pub fn revoke_halo_tokens(&self) {
        self.halo.revoke_tokens();
    }

    /// How many tokens Halo has issued.
    pub fn halo_tokens_issued(&self) -> u64 {
        self.halo.tokens_issued()
    }

    /// The scopes the Halo application was granted (`all` by default).
    pub fn set_halo_scopes(&self, scopes: &[&str]) {
        self.halo.set_granted_scopes(scopes);
    }

    /// The Halo agent's role may not use `entity` (`Client`, `RecurringInvoice`, `Item`...).
    pub fn deny_halo_role(&self, entity: &str) {
        self.halo.deny_role(entity);
    }

    /// Halo's rolling limit (hosted: 300 per 5 minutes); beyond it, 429 without Retry-After.
    pub fn set_halo_rate_limit(&self, requests: usize, window: Duration) {
        self.halo.set_rate_limit(requests, window);
    }

    /// The next time recurring invoice `invoice` is read by itself (recon's read right before
    /// a write), someone edits its line `line` first (`fields` set on it).
    pub fn edit_halo_line_on_next_read(&self, invoice: i64, line: i64, fields: Value) {
        self.halo.edit_on_next_read(invoice, line, fields);
    }

    /// Every Halo token is revoked after this many more API requests (a token Halo ends
    /// early: the client must get a new one on the 401).
    pub fn revoke_halo_tokens_after(&self, requests: usize) {
        self.halo.revoke_tokens_after(requests);
    }

    /// Halo's lists say one more record than they serve.
    pub fn set_halo_short_read(&self, short: bool) {
        self.halo.set_short_read(short);
    }

    /// Tokens the fake Pax8 and Sherweb issue from now on last this long.
    pub fn set_distributor_token_lifetime(&self, lifetime: Duration) {
        self.distributors.set_token_lifetime(lifetime);
    }

    /// How many tokens the fake Pax8 and Sherweb have issued.
    pub fn distributor_tokens_issued(&self) -> u64 {
        self.distributors.tokens_issued()
    }

    /// Set a field of one Pax8 subscription (`quantity`, `status`, `partnerCost`, ...).
    pub fn set_pax8_subscription(&self, id: &str, field: &str, value: Value) -> bool {
        self.distributors.set_pax8_subscription(id, field, value)
    }

    /// Add a Pax8 subscription record, as Pax8 would send it.
    pub fn push_pax8_subscription(&self, record: Value) {
        self.distributors.push_pax8_subscription(record);
    }

    /// Make an HTTP vendor answer an empty account list (false for unknown or file vendors).
    pub fn clear_vendor_accounts(&self, vendor: &str) -> bool {
        self.vendors.clear(vendor)
    }

    /// Edit a ConnectWise record at runtime: `kind` is `agreement`, `addition` or `catalog`;
    /// each field is set (a `null` removes it). False when there is no such record.
    pub fn update_connectwise(&self, kind: &str, id: i64, fields: Value) -> bool {
        self.connectwise.update(kind, id, &fields)
    }

    /// Add an addition to ConnectWise (as someone else would); returns its id.
    pub fn insert_connectwise_addition(&self, record: Value) -> i64 {
        self.connectwise.insert_addition(record)
    }

    /// Append a raw record to an HTTP vendor's account list, as the vendor would send it
    /// (e.g. a second record with an id already listed). False for unknown or file vendors.
    pub fn push_vendor_record(&self, vendor: &str, record: Value) -> bool {
        self.vendors.push(vendor, record)
    }

    /// The raw account records an HTTP vendor serves now.
    pub fn vendor_records(&self, vendor: &str) -> Vec<Value> {
        self.vendors.records(vendor)
    }

    /// Make NordLayer's usage call for one organization answer 404 (its usage unreadable).
    pub fn drop_nordlayer_usage(&self, identifier: &str) -> bool {
        self.vendors.drop_nordlayer_usage(identifier)
    }

    /// Replace the faults in force on every server (`faults.servers` still selects which),
    /// e.g. to break a vendor after a clean `connect`.
    pub fn set_faults(&self, faults: Faults) {
        for (_, server) in &self.servers {
            server.set_faults(faults.clone());
        }
    }

    /// Hold, unacted on, every write whose path or body contains `only` (any write: "") that reaches
    /// `server` (`autotask`, `halopsa`, `connectwise`, a vendor) from now on, until
    /// `open_gate`.
    pub fn close_gate(&self, server: &str, only: &str) {
        self.server(server).into_iter().for_each(|s| s.close_gate(only));
    }

    /// How many writes `server`'s closed gate holds (received, not acted on).
    pub fn held_writes(&self, server: &str) -> usize {
        self.server(server).map_or(0, RunningServer::held_writes)
    }

    /// Open `server`'s gate: its held writes are acted on (`act`: they land, late) or dropped
    /// unanswered (they never reached the service).
    pub fn open_gate(&self, server: &str, act: bool) {
        self.server(server).into_iter().for_each(|s| s.open_gate(act));
    }

    /// Change the rate limit of one server whose faults apply to it, keeping its window.
    pub fn set_rate_limit(&self, server: &str, per_minute: Option<u32>) {
        self.server(server).into_iter().for_each(|s| s.set_rate_limit(per_minute));
    }

    /// `base_url` (or `api_url` for SaaS Alerts) of an HTTP vendor; `None` for file vendors.
    pub fn vendor_url(&self, vendor: &str) -> Option<String> {
        if HTTP_VENDORS.contains(&vendor)
            || DISTRIBUTORS.contains(&vendor)
            || DEVICE_VENDORS.contains(&vendor)
        {
            self.server_url(vendor)
        } else {
            None
        }
    }

    /// Where the NordPass usage export was written.
    pub fn nordpass_csv_path(&self) -> PathBuf {
        lock(&self.files).nordpass.path.clone()
    }

    /// Where the generic CSV vendor's file was written.
    pub fn backup_csv_path(&self) -> PathBuf {
        lock(&self.files).backup.path.clone()
    }

    /// A complete recon config pointing at this sandbox, every vendor configured, no `[sync]`.
    pub fn config_toml(&self) -> String {
        self.config_toml_for(&ALL_VENDORS)
    }

    /// Like [`Sandbox::config_toml`] with only the named vendor sections (unknown names are ignored).
    pub fn config_toml_for(&self, vendors: &[&str]) -> String {
        let mut out = format!(
            "[connectwise]\nsite = {}\ncompany_id = {}\npublic_key = {}\nprivate_key = {}\nclient_id = {}\n",
            toml_string(&self.connectwise_site()),
            toml_string(&self.credentials.cw_company_id),
            toml_string(&self.credentials.cw_public_key),
            toml_string(&self.credentials.cw_private_key),
            toml_string(&self.credentials.cw_client_id),
        );
        let keys = &self.credentials;
        for name in
            ALL_VENDORS.iter().chain(&DISTRIBUTORS).chain(&DEVICE_VENDORS).filter(|n| vendors.contains(n))
        {
            let url = |n: &str| toml_string(&self.server_url(n).unwrap_or_default());
            let section = match *name {
                "nodeware" => {
                    format!("api_key = {}\nbase_url = {}\n", toml_string(&keys.nodeware_key), url(name))
                }
                "huntress" => format!(
                    "api_key = {}\napi_secret = {}\nbase_url = {}\n",
                    toml_string(&keys.huntress_key),
                    toml_string(&keys.huntress_secret),
                    url(name)
                ),
                "saas-alerts" => {
                    format!("api_key = {}\napi_url = {}\n", toml_string(&keys.saas_alerts_key), url(name))
                }
                "nordlayer" => {
                    format!("api_key = {}\nbase_url = {}\n", toml_string(&keys.nordlayer_key), url(name))
                }
                "nordpass" => {
                    format!("usage_csv = {}\n", toml_string(&self.nordpass_csv_path().to_string_lossy()))
                }
                "pax8" => format!(
                    "client_id = {}\nclient_secret = {}\ntoken_url = {}\nbase_url = {}\n",
                    toml_string(&keys.pax8_client_id),
                    toml_string(&keys.pax8_client_secret),
                    toml_string(&format!("{}/oauth/token", self.server_url(name).unwrap_or_default())),
                    toml_string(&format!("{}/v1", self.server_url(name).unwrap_or_default())),
                ),
                "sherweb" => format!(
                    "client_id = {}\nclient_secret = {}\nsubscription_key = {}\ntoken_url = {}\nbase_url = {}\n",
                    toml_string(&keys.sherweb_client_id),
                    toml_string(&keys.sherweb_client_secret),
                    toml_string(&keys.sherweb_subscription_key),
                    toml_string(&format!(
                        "{}/auth/oidc/connect/token",
                        self.server_url(name).unwrap_or_default()
                    )),
                    url(name),
                ),
                "sophos" => format!(
                    "client_id = {}\nclient_secret = {}\ntoken_url = {}\nbase_url = {}\n",
                    toml_string(&keys.sophos_client_id),
                    toml_string(&keys.sophos_client_secret),
                    toml_string(&format!(
                        "{}/api/v2/oauth2/token",
                        self.server_url(name).unwrap_or_default()
                    )),
                    url(name),
                ),
                "ninjaone" => format!(
                    "client_id = {}\nclient_secret = {}\nbase_url = {}\n",
                    toml_string(&keys.ninjaone_client_id),
                    toml_string(&keys.ninjaone_client_secret),
                    url(name),
                ),
                "datto-rmm" => format!(
                    "api_key = {}\napi_secret = {}\nbase_url = {}\n",
                    toml_string(&keys.datto_api_key),
                    toml_string(&keys.datto_api_secret),
                    url(name),
                ),
                "sentinelone" => {
                    format!(
                        "api_token = {}\nbase_url = {}\n",
                        toml_string(&keys.sentinelone_token),
                        url(name)
                    )
                }
                _ => format!(
                    "type = \"csv\"\nfile = {}\n",
                    toml_string(&self.backup_csv_path().to_string_lossy())
                ),
            };
            out.push_str(&format!("\n[vendors.{name}]\n{section}"));
        }
        out.push_str(SYNC_PUSH_EVERYTHING);
        out
    }

    /// Every request served so far, in order, across all servers.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    /// The current state of every agreement addition (each includes `agreementId`).
    pub fn connectwise_additions(&self) -> Vec<Value> {
        self.connectwise.additions()
    }

    /// Change a vendor record at runtime so the next sync sees different usage.
    ///
    /// `field` is the wire name: `agents_count` (huntress), `asset_totals/internal` or
    /// `internal` (nodeware), `billingUsers` (saas-alerts), `members`/`servers`
    /// (nordlayer usage), a column name such as `Seats` (nordpass, by `Organization ID`) or
    /// `quantity` (backup, by `account_id`; the CSV file is rewritten). Returns false when
    /// the vendor, account or field is unknown.
    pub fn set_vendor_quantity(&self, vendor: &str, account_id: &str, field: &str, value: Value) -> bool {
        let file_value = || match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match vendor {
            "nordpass" => lock(&self.files).nordpass.set(account_id, field, &file_value()),
            "backup" | "csv" => lock(&self.files).backup.set(account_id, field, &file_value()),
            _ => self.vendors.set(vendor, account_id, field, value),
        }
    }
}

impl CsvFile {
    fn create(dir: &Path, name: &str, text: &str, id_column: &str) -> io::Result<CsvFile> {
        let bad = |e: csv::Error| {
            io::Error::new(io::ErrorKind::InvalidData, format!("sandbox fixture {name}: {e}"))
        };
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().map_err(bad)?.iter().map(str::to_string).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            rows.push(record.map_err(bad)?.iter().map(str::to_string).collect());
        }
        let id_column = headers.iter().position(|h| h == id_column).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("sandbox fixture {name}: no {id_column} column"),
            )
        })?;
        let file = CsvFile { path: dir.join(name), headers, rows, id_column };
        file.write()?;
        Ok(file)
    }

    fn set(&mut self, account_id: &str, column: &str, value: &str) -> bool {
        let Some(column) = self.headers.iter().position(|h| h.eq_ignore_ascii_case(column)) else {
            return false;
        };
        let mut changed = false;
        for row in self.rows.iter_mut().filter(|r| r.get(self.id_column).is_some_and(|id| id == account_id)) {
            if let Some(cell) = row.get_mut(column) {
                *cell = value.to_string();
                changed = true;
            }
        }
        changed && self.write().is_ok()
    }

    fn write(&self) -> io::Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let to_io = |e: csv::Error| io::Error::other(e.to_string());
        writer.write_record(&self.headers).map_err(to_io)?;
        for row in &self.rows {
            writer.write_record(row).map_err(to_io)?;
        }
        let bytes = writer.into_inner().map_err(|e| io::Error::other(e.to_string()))?;
        std::fs::write(&self.path, bytes)
    }
}

/// A TOML basic string (paths on Windows contain backslashes).
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
