//! The TOML config: the PSA's section and each vendor's (read by their own folders through
//! the registries), the `[sync]` policy, HTTP, audit and notify settings. Parsed in two
//! steps: serde reads the raw file (so malformed TOML and unknown keys are reported with
//! their line by the toml crate), then `validate` lowers it into fully built settings,
//! resolving `<key>_env` indirections and checking URLs (with `config_file::Validator`).

use crate::config_file::{ConfigError, PLACEHOLDER, Validator, locate, section_label, toml_error};
use crate::http::{HttpSettings, is_loopback};
use crate::policy::{Decision, SyncPolicy};
use crate::psa::PsaKind;
use crate::psa::registry::PsaSettings;
use crate::report::notify::{NotifyEvent, NotifyFormat, NotifySettings};
use crate::vendors::VendorConfig;
use crate::vendors::registry::{Section, VendorKind};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// The one PSA section (`None` when the file has none: commands that need it say so).
    pub psa: Option<PsaConfig>,
    pub vendors: BTreeMap<String, VendorConfig>,
    pub sync: SyncPolicy,
    pub http: HttpSettings,
    pub database_path: Option<PathBuf>,
    /// `[notify]`: where a run's summary is posted, and when.
    pub notify: Option<NotifySettings>,
    /// `[audit]`: how a month's audit judges a gap.
    pub audit: AuditSettings,
    /// Problems worth telling the user that do not stop the run (e.g. file permissions).
    pub warnings: Vec<String>,
}

/// The PSA a config bills through, and its validated section.
#[derive(Debug, Clone)]
pub struct PsaConfig {
    pub kind: PsaKind,
    pub settings: Arc<dyn PsaSettings>,
}

/// The top-level sections besides the PSAs'.
const SECTIONS: [&str; 6] = ["vendors", "sync", "http", "database", "notify", "audit"];

/// `[audit]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// A gap worth no more than this (the PSA's currency, per line) is no gap.
    pub tolerance: Decimal,
    /// Post the audit to `[notify]`'s webhook when its leak is above this amount.
    pub notify_above: Option<Decimal>,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings { tolerance: crate::invoice::CENT, notify_above: None }
    }
}

// ---- raw file shape ------------------------------------------------------------------

/// Not `deny_unknown_fields`: the PSA sections are each PSA's to read (`PsaKind`), so
/// `parse` checks the top-level names itself.
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    vendors: BTreeMap<String, RawVendor>,
    sync: Option<RawSync>,
    http: Option<RawHttp>,
    database: Option<RawDatabase>,
    notify: Option<RawNotify>,
    audit: Option<RawAudit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    tolerance: Option<f64>,
    notify_above: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    webhook_url: Option<String>,
    webhook_url_env: Option<String>,
    format: Option<String>,
    on: Option<Vec<String>>,
}

/// What every vendor section may hold; the rest of it is the vendor's own to read
/// (`Registration::settings`). Not `deny_unknown_fields`: `validate` checks the keys
/// written in the section against its type, so a typo is answered with that vendor's keys.
#[derive(Deserialize, Default)]
struct RawVendor {
    #[serde(rename = "type")]
    kind: Option<String>,
    requests_per_minute: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    increases: Option<Decision>,
    decreases: Option<Decision>,
    max_change_percent: Option<MaxChange>,
    max_failed_accounts_percent: Option<u32>,
    max_change_amount: Option<MaxAmount>,
    outside_changes: Option<Decision>,
    vendors: Option<BTreeMap<String, RawSyncVendor>>,
    cost_tolerance_percent: Option<f64>,
    min_margin_percent: Option<u32>,
    update_costs: Option<bool>,
}

/// `[sync.vendors.NAME]`: the policy keys one vendor may override.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSyncVendor {
    increases: Option<Decision>,
    decreases: Option<Decision>,
    max_change_percent: Option<MaxChange>,
    max_change_amount: Option<MaxAmount>,
}

/// `max_change_amount = 500` (the PSA's currency, a line, a month), or `false` for no limit.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaxAmount {
    Amount(f64),
    Enabled(bool),
}

/// `max_change_percent = 50`, or `false` for no limit.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaxChange {
    Percent(u32),
    Enabled(bool),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    workers: Option<usize>,
    connect_timeout_seconds: Option<u64>,
    timeout_seconds: Option<u64>,
    max_attempts: Option<u32>,
    max_response_mb: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    path: Option<PathBuf>,
}

// ---- loading -------------------------------------------------------------------------

impl Config {
    /// Read and validate the config file, resolving `*_env` keys from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "config file not found (create one with `recon init`, or pass --config)".to_string()
                }
                _ => format!("cannot read the config file: {e}"),
            },
        })?;
        let mut config = Config::parse(&text, path, &|name| std::env::var(name).ok())?;
        if let Some(w) = permission_warning(path) {
            config.warnings.push(w);
        }
        Ok(config)
    }

    /// Parse config text. `env` looks up environment variables (injected so tests need not
    /// touch the process environment).
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        // Two PSA sections is said first: what either section lacks is beside the point. And
        // a top-level name nobody reads is an error, as inside every section.
        if let Ok(document) = toml::from_str::<toml::Table>(text) {
            let present: Vec<&str> =
                PsaKind::keys().into_iter().filter(|k| document.contains_key(*k)).collect();
            if let [first, second, ..] = present.as_slice() {
                return Err(ConfigError {
                    path: path.to_path_buf(),
                    line: locate(text, &[second], None),
                    message: format!(
                        "the config has both [{first}] and [{second}]: recon bills through one PSA; keep one section"
                    ),
                });
            }
            let known: Vec<&str> = PsaKind::keys().into_iter().chain(SECTIONS).collect();
            if let Some(unknown) = document.keys().find(|k| !known.contains(&k.as_str())) {
                let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                return Err(ConfigError {
                    path: path.to_path_buf(),
                    line: locate(text, &[unknown], None).or_else(|| locate(text, &[], Some(unknown))),
                    message: format!("unknown section `{unknown}`, expected one of {}", expected.join(", ")),
                });
            }
        }
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let left = placeholders(text);
        if let Some((first, _)) = left.first() {
            let listed: Vec<String> =
                left.iter().map(|(line, what)| format!("line {line}: {what}")).collect();
            return Err(ConfigError {
                path: path.to_path_buf(),
                line: Some(*first),
                message: format!(
                    "{} value(s) are still the examples from `recon init`; put the real ones in: {}",
                    left.len(),
                    listed.join("; ")
                ),
            });
        }
        Validator::new(text, path, env).validate(raw)
    }

    pub fn vendor(&self, name: &str) -> Option<&VendorConfig> {
        self.vendors.get(name)
    }

    /// The one PSA the config names (validation refuses two).
    pub fn psa(&self) -> Result<&PsaConfig, ConfigError> {
        self.psa.as_ref().ok_or_else(|| {
            let sections: Vec<String> = PsaKind::keys().iter().map(|k| format!("[{k}]")).collect();
            ConfigError {
                path: self.path.clone(),
                line: None,
                message: format!(
                    "no PSA section: add one of {} (recon init --psa {} writes one)",
                    sections.join(", "),
                    PsaKind::keys().join("|")
                ),
            }
        })
    }
}

/// The generic sections (and the registered PSA and vendor sections, each read by its owner).
impl Validator<'_> {
    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut psa = None;
        for &kind in crate::PSAS {
            if let Some(settings) = (kind.0.settings)(self)? {
                psa = Some(PsaConfig { kind, settings });
            }
        }
        // The keys each vendor section holds, as written (the typed view cannot tell a key
        // that is absent from one that is set).
        let document: toml::Table = toml::from_str(self.text).unwrap_or_default();
        let mut vendors = BTreeMap::new();
        for (name, section) in raw.vendors {
            let keys: Vec<String> = document
                .get("vendors")
                .and_then(|v| v.get(&name))
                .and_then(|t| t.as_table())
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            let vendor = self.vendor(&name, section, &keys)?;
            vendors.insert(name, vendor);
        }
        let sync = match raw.sync {
            None => SyncPolicy::default(),
            Some(s) => {
                let default = SyncPolicy::default();
                let max_change_percent = match &s.max_change_percent {
                    None => default.max_change_percent,
                    Some(m) => self.percent_limit(&["sync"], m)?,
                };
                let max_change_amount = match &s.max_change_amount {
                    None => default.max_change_amount,
                    Some(m) => self.amount_limit(&["sync"], m)?,
                };
                let mut vendors = BTreeMap::new();
                for (name, v) in s.vendors.iter().flatten() {
                    let section = ["sync", "vendors", name.as_str()];
                    vendors.insert(
                        name.clone(),
                        crate::policy::VendorPolicy {
                            increases: v.increases,
                            decreases: v.decreases,
                            max_change_percent: v
                                .max_change_percent
                                .as_ref()
                                .map(|m| self.percent_limit(&section, m))
                                .transpose()?,
                            max_change_amount: v
                                .max_change_amount
                                .as_ref()
                                .map(|m| self.amount_limit(&section, m))
                                .transpose()?,
                        },
                    );
                }
                let max_failed_accounts_percent =
                    s.max_failed_accounts_percent.unwrap_or(default.max_failed_accounts_percent);
                if max_failed_accounts_percent > 100 {
                    return Err(self.error(
                        &["sync"],
                        Some("max_failed_accounts_percent"),
                        format!(
                            "[sync] max_failed_accounts_percent = {max_failed_accounts_percent}: give a percentage from 0 to 100"
                        ),
                    ));
                }
                let tolerance = match s.cost_tolerance_percent {
                    None => default.costs.tolerance_percent,
                    Some(t) if (0.0..=100.0).contains(&t) => {
                        Decimal::try_from(t).unwrap_or(Decimal::ONE).round_dp(2)
                    }
                    Some(t) => {
                        return Err(self.error(
                            &["sync"],
                            Some("cost_tolerance_percent"),
                            format!("[sync] cost_tolerance_percent = {t}: give a percentage from 0 to 100"),
                        ));
                    }
                };
                if let Some(m) = s.min_margin_percent.filter(|m| *m > 100) {
                    return Err(self.error(
                        &["sync"],
                        Some("min_margin_percent"),
                        format!("[sync] min_margin_percent = {m}: give a percentage from 0 to 100"),
                    ));
                }
                SyncPolicy {
                    costs: crate::policy::CostRules {
                        tolerance_percent: tolerance,
                        min_margin_percent: s.min_margin_percent,
                        update_costs: s.update_costs.unwrap_or(false),
                    },
                    increases: s.increases.unwrap_or(default.increases),
                    decreases: s.decreases.unwrap_or(default.decreases),
                    max_change_percent,
                    max_failed_accounts_percent,
                    max_change_amount,
                    outside_changes: s.outside_changes.unwrap_or(default.outside_changes),
                    vendors,
                }
            }
        };
        let http = match raw.http {
            None => HttpSettings::default(),
            Some(h) => self.http(h)?,
        };
        Ok(Config {
            path: self.path.to_path_buf(),
            psa,
            vendors,
            sync,
            http,
            database_path: raw.database.and_then(|d| d.path),
            notify: raw.notify.map(|n| self.notify(n)).transpose()?,
            audit: raw.audit.map(|a| self.audit(a)).transpose()?.unwrap_or_default(),
            warnings: Vec::new(),
        })
    }

    fn http(&self, h: RawHttp) -> Result<HttpSettings, ConfigError> {
        let d = HttpSettings::default();
        let s = HttpSettings {
            workers: h.workers.unwrap_or(d.workers),
            connect_timeout_secs: h.connect_timeout_seconds.unwrap_or(d.connect_timeout_secs),
            timeout_secs: h.timeout_seconds.unwrap_or(d.timeout_secs),
            max_attempts: h.max_attempts.unwrap_or(d.max_attempts),
            max_response_bytes: h.max_response_mb.map_or(d.max_response_bytes, |mb| mb * 1024 * 1024),
        };
        let checks = [
            ("workers", s.workers == 0 || s.workers > 64, "must be between 1 and 64"),
            ("timeout_seconds", s.timeout_secs == 0, "must be at least 1"),
            ("connect_timeout_seconds", s.connect_timeout_secs == 0, "must be at least 1"),
            ("max_attempts", s.max_attempts == 0 || s.max_attempts > 10, "must be between 1 and 10"),
            ("max_response_mb", s.max_response_bytes == 0, "must be at least 1"),
        ];
        for (key, bad, why) in checks {
            if bad {
                return Err(self.error(&["http"], Some(key), format!("[http] {key} {why}")));
            }
        }
        Ok(s)
    }

    fn audit(&self, a: RawAudit) -> Result<AuditSettings, ConfigError> {
        let amount = |key: &str, value: f64| {
            Decimal::try_from(value).ok().filter(|d| *d >= Decimal::ZERO).map(|d| d.round_dp(2)).ok_or_else(
                || {
                    self.error(
                        &["audit"],
                        Some(key),
                        format!("[audit] {key} = {value}: give an amount of zero or more (e.g. 0.01)"),
                    )
                },
            )
        };
        let d = AuditSettings::default();
        Ok(AuditSettings {
            tolerance: a.tolerance.map(|t| amount("tolerance", t)).transpose()?.unwrap_or(d.tolerance),
            notify_above: a.notify_above.map(|t| amount("notify_above", t)).transpose()?,
        })
    }

    fn notify(&self, n: RawNotify) -> Result<NotifySettings, ConfigError> {
        let section = ["notify"];
        let url = self.secret(&section, "webhook_url", n.webhook_url, n.webhook_url_env)?;
        // The URL is a secret: no message here quotes it.
        let parsed = Url::parse(url.expose()).map_err(|e| {
            self.error(&section, Some("webhook_url"), format!("[notify] webhook_url is not a URL ({e})"))
        })?;
        let plain_ok = parsed.scheme() == "http" && is_loopback(&parsed);
        if parsed.scheme() != "https" && !plain_ok {
            return Err(self.error(
                &section,
                Some("webhook_url"),
                "[notify] webhook_url must be an https URL (http only for loopback hosts)".to_string(),
            ));
        }
        let format = match n.format.as_deref() {
            None => NotifyFormat::Json,
            Some(text) => NotifyFormat::parse(text).ok_or_else(|| {
                self.error(
                    &section,
                    Some("format"),
                    format!("[notify] format = {text:?}: expected {}", words(NotifyFormat::ALL)),
                )
            })?,
        };
        let on = match n.on {
            None => vec![NotifyEvent::Held, NotifyEvent::Failed],
            Some(list) => list
                .iter()
                .map(|text| {
                    NotifyEvent::parse(text).ok_or_else(|| {
                        self.error(
                            &section,
                            Some("on"),
                            format!(
                                "[notify] on: {text:?} is not an event; expected any of {}",
                                words(NotifyEvent::ALL)
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(NotifySettings { url, format, on })
    }

    fn vendor(&self, name: &str, raw: RawVendor, keys: &[String]) -> Result<VendorConfig, ConfigError> {
        let section = ["vendors", name];
        let kind_text = raw.kind.clone().unwrap_or_else(|| name.to_string());
        let kind = VendorKind::find(&kind_text).ok_or_else(|| {
            let known = VendorKind::keys().join(", ");
            let key = raw.kind.as_ref().map(|_| "type");
            let message = match raw.kind {
                Some(_) => format!("[vendors.{name}] type = {kind_text:?} is not a vendor recon knows ({known})"),
                None => format!(
                    "[vendors.{name}] is not a vendor recon knows ({known}); for any other vendor set type = \"csv\""
                ),
            };
            self.error(&section, key, message)
        })?;
        for key in keys {
            if !kind.allowed_keys().contains(&key.as_str()) {
                return Err(self.error(
                    &section,
                    Some(key),
                    format!(
                        "[vendors.{name}] key `{key}` is not used by a {kind} vendor (it takes: {})",
                        kind.allowed_keys().join(", ")
                    ),
                ));
            }
        }
        let source = (kind.0.settings)(&Section { validator: self, name })?;
        if raw.requests_per_minute == Some(0) {
            return Err(self.error(
                &section,
                Some("requests_per_minute"),
                format!("[vendors.{name}] requests_per_minute must be at least 1"),
            ));
        }
        Ok(VendorConfig {
            name: name.to_string(),
            kind,
            source: source.into(),
            requests_per_minute: raw.requests_per_minute.or(kind.0.requests_per_minute),
        })
    }

    /// `max_change_percent`: a percentage, or `false` for no limit.
    fn percent_limit(&self, section: &[&str], value: &MaxChange) -> Result<Option<u32>, ConfigError> {
        match value {
            MaxChange::Percent(p) => Ok(Some(*p)),
            MaxChange::Enabled(false) => Ok(None),
            MaxChange::Enabled(true) => Err(self.error(
                section,
                Some("max_change_percent"),
                format!(
                    "{} max_change_percent = true: give a percentage (e.g. 50), or false for no limit",
                    section_label(section)
                ),
            )),
        }
    }

    /// `max_change_amount`: an amount of zero or more, or `false` for no limit.
    fn amount_limit(&self, section: &[&str], value: &MaxAmount) -> Result<Option<Decimal>, ConfigError> {
        let bad = |why: &str| {
            self.error(
                section,
                Some("max_change_amount"),
                format!(
                    "{} max_change_amount {why}: give an amount (e.g. 500), or false for no limit",
                    section_label(section)
                ),
            )
        };
        match value {
            MaxAmount::Amount(a) if *a >= 0.0 => {
                Decimal::try_from(*a).map(|d| Some(d.round_dp(2))).map_err(|_| bad("is not a usable amount"))
            }
            MaxAmount::Amount(_) => Err(bad("is negative")),
            MaxAmount::Enabled(false) => Ok(None),
            MaxAmount::Enabled(true) => Err(bad("= true")),
        }
    }
}

/// The values `recon init` writes as examples and that are still there, each with its line:
/// every `REPLACE-ME`, and each PSA's own examples (`Registration::examples`). Commented-out
/// sections are not read (TOML drops comments).
fn placeholders(text: &str) -> Vec<(usize, String)> {
    let Ok(document) = toml::from_str::<toml::Table>(text) else { return Vec::new() };
    let mut found = Vec::new();
    let walk = |section: &[&str], table: &toml::Table, found: &mut Vec<(usize, String)>| {
        for (key, value) in table {
            let Some(text_value) = value.as_str() else { continue };
            let psa_example = crate::PSAS.iter().any(|p| {
                section == [p.key()] && p.0.examples.iter().any(|(k, v)| k == key && *v == text_value)
            });
            let example = text_value.trim() == PLACEHOLDER || psa_example;
            if example {
                let line = locate(text, section, Some(key)).unwrap_or(0);
                found.push((line, format!("{} {key} = {text_value:?}", section_label(section))));
            }
        }
    };
    for key in PsaKind::keys() {
        if let Some(table) = document.get(key).and_then(|v| v.as_table()) {
            walk(&[key], table, &mut found);
        }
    }
    if let Some(vendors) = document.get("vendors").and_then(|v| v.as_table()) {
        for (name, section) in vendors {
            if let Some(table) = section.as_table() {
                walk(&["vendors", name], table, &mut found);
            }
        }
    }
    if let Some(notify) = document.get("notify").and_then(|v| v.as_table()) {
        walk(&["notify"], notify, &mut found);
    }
    found.sort();
    found
}

/// `"a", "b" or "c"`: the words an enum key takes, for an error.
fn words<T: fmt::Display>(all: &[T]) -> String {
    let quoted: Vec<String> = all.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} holds API keys but is readable by group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    let _ = path;
    None
}

/// `$XDG_CONFIG_HOME/recon/config.toml`, else `~/.config/recon/config.toml`.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    xdg_dir(env, "XDG_CONFIG_HOME", ".config").map(|d| d.join("recon").join("config.toml"))
}

/// `$XDG_DATA_HOME/recon/recon.db`, else `~/.local/share/recon/recon.db`.
pub fn default_db_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    xdg_dir(env, "XDG_DATA_HOME", ".local/share").map(|d| d.join("recon").join("recon.db"))
}

fn xdg_dir(env: &dyn Fn(&str) -> Option<String>, var: &str, fallback: &str) -> Option<PathBuf> {
    match env(var).filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => env("HOME").filter(|h| !h.is_empty()).map(|home| PathBuf::from(home).join(fallback)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_config_is_a_valid_recon_config() {
        let sandbox = recon_sandbox::Sandbox::start().unwrap();
        let config = Config::parse(&sandbox.config_toml(), Path::new("sandbox.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        for name in recon_sandbox::ALL_VENDORS {
            assert!(config.vendor(name).is_some(), "{name}");
        }
    }

    const GOOD: &str = r#"
[connectwise]
site = "https://api-na.myconnectwise.net"
company_id = "acme"
public_key = "pub"
private_key_env = "CW_PRIVATE"
client_id = "5a4db0c5-1111-4000-8000-000000000001"

[vendors.nodeware]
api_key = "nw-key"

[vendors.huntress]
api_key = "hk"
api_secret = "hs"
page_size = 100

[vendors.backup]
type = "csv"
file = "backup.csv"

[sync]
decreases = "review"
max_change_percent = 50
"#;

    fn env(name: &str) -> Option<String> {
        (name == "CW_PRIVATE").then(|| "private-from-env".to_string())
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/recon/config.toml"), &env)
    }

    /// The PSA section's settings, as the PSA's own type.
    fn psa_settings<T: 'static>(c: &Config) -> &T {
        c.psa().unwrap().settings.as_any().downcast_ref().unwrap()
    }

    #[test]
    fn reads_a_full_config() {
        let c = parse(GOOD).unwrap();
        let cw: &crate::connectwise::ConnectWiseSettings = psa_settings(&c);
        assert_eq!(cw.private_key.expose(), "private-from-env");
        assert_eq!(cw.bill_customer, crate::model::BillCustomer::Billable);
        assert_eq!(c.vendors.len(), 3);
        assert_eq!(c.vendor("backup").unwrap().kind, VendorKind::find("csv").unwrap());
        let source = |name: &str| c.vendor(name).unwrap().source.as_any();
        let csv: &crate::vendors::csv::Settings = source("backup").downcast_ref().unwrap();
        assert_eq!(csv.file, Path::new("/etc/recon/backup.csv"));
        let nodeware: &crate::vendors::nodeware::Settings = source("nodeware").downcast_ref().unwrap();
        assert_eq!(nodeware.base_url.as_str(), "https://api.nodeware.com/");
        assert_eq!(nodeware.auth_scheme, "Bearer");
        assert_eq!(c.sync.decreases, Decision::Review);
        assert_eq!(c.sync.increases, Decision::Apply);
        assert_eq!(c.sync.max_change_percent, Some(50));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = parse(GOOD).unwrap();
        let debug = format!("{c:?}");
        for secret in ["private-from-env", "nw-key", "\"hs\"", "\"pub\""] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
    }

    /// Each bad config names the line and what is wrong.
    #[test]
    fn bad_configs_name_line_and_key() {
        let cases: &[(&str, Option<usize>, &str)] = &[
            ("[connectwise\nsite = 1", Some(1), "unclosed table"),
            ("[vendors.nodeware]\napi_key = \"k\"\napi_kee = \"x\"\n", Some(3), "api_kee"),
            ("[sync]\ndecreases = \"maybe\"\n", Some(2), "maybe"),
            ("[bogus]\nx = 1\n", Some(1), "bogus"),
            (
                "[vendors.nodeware]\napi_key = \"k\"\napi_secret = \"s\"\n",
                Some(3),
                "`api_secret` is not used by a nodeware vendor",
            ),
            ("[vendors.acme]\napi_key = \"k\"\n", Some(1), "is not a vendor recon knows"),
            ("[vendors.x]\ntype = \"nodewar\"\napi_key = \"k\"\n", Some(2), "nodewar"),
            ("[vendors.nodeware]\nbase_url = \"https://x\"\n", Some(1), "missing `api_key`"),
            ("[vendors.nodeware]\napi_key = \"k\"\nbase_url = \"http://example.com\"\n", Some(3), "http://"),
            ("[vendors.nodeware]\napi_key_env = \"NOPE\"\n", Some(2), "NOPE, which is not set"),
            ("[vendors.nodeware]\napi_key = \"k\"\napi_key_env = \"X\"\n", Some(2), "both"),
            (
                "[vendors.huntress]\napi_key = \"k\"\napi_secret = \"s\"\npage_size = 9000\n",
                Some(4),
                "page_size",
            ),
            ("[http]\nworkers = 0\n", Some(2), "workers"),
            (
                "[vendors.nodeware]\napi_kye = \"k\"\n",
                Some(2),
                "it takes: type, requests_per_minute, api_key,",
            ),
            (
                "[vendors.nodeware]\napi_key = \"REPLACE-ME\"\n",
                Some(2),
                "still the examples from `recon init`; put the real ones in: line 2: [vendors.nodeware] api_key",
            ),
            ("[vendors.backup]\ntype = \"csv\"\n", Some(1), "missing `file`"),
            (
                "[sync]\ndecreases = \"apply\"\n\n[http]\nworkers = 2\n\n[sync]\nmax_change_percent = 50\n",
                Some(7),
                "[sync] appears twice (first at line 1); keep one",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, *line, "{text:?} -> {err}");
            assert!(err.to_string().contains(needle), "{text:?} -> {err}");
            assert!(err.to_string().starts_with("/etc/recon/config.toml:"), "{err}");
        }
    }

    #[test]
    fn the_sync_policy_is_safe_by_default_and_the_limit_can_be_turned_off() {
        let c = parse("").unwrap();
        assert_eq!(c.sync, SyncPolicy::default());
        assert_eq!((c.sync.decreases, c.sync.max_change_percent), (Decision::Review, Some(50)));
        let c = parse("[sync]\ndecreases = \"apply\"\nmax_change_percent = false\n").unwrap();
        assert_eq!((c.sync.decreases, c.sync.max_change_percent), (Decision::Apply, None));
        let c = parse("[sync]\nmax_change_percent = 20\n").unwrap();
        assert_eq!(c.sync.max_change_percent, Some(20));
        let err = parse("[sync]\nmax_change_percent = true\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert_eq!(c.sync.max_failed_accounts_percent, 5);
        let c = parse("[sync]\nmax_failed_accounts_percent = 0\n").unwrap();
        assert_eq!(c.sync.max_failed_accounts_percent, 0);
        let err = parse("[sync]\nincreases = \"apply\"\nmax_failed_accounts_percent = 101\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().contains("from 0 to 100"), "{err}");
        let c = parse(
            "[sync]\nmax_change_amount = 500\noutside_changes = \"apply\"\n\n[sync.vendors.huntress]\ndecreases = \"apply\"\nmax_change_amount = false\n",
        )
        .unwrap();
        assert_eq!(c.sync.max_change_amount, Some(Decimal::from(500)));
        assert_eq!(c.sync.outside_changes, Decision::Apply);
        let huntress = c.sync.for_vendor("huntress");
        assert_eq!((huntress.decreases, huntress.max_change_amount), (Decision::Apply, None));
        let err = parse("[sync]\n\n[sync.vendors.huntress]\nmax_change_amount = -5\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.to_string().contains("[sync.vendors.huntress] max_change_amount is negative"), "{err}");
        let err = parse("[sync.vendors.huntress]\nmax_failed_accounts_percent = 9\n").unwrap_err();
        assert!(err.to_string().contains("max_failed_accounts_percent"), "{err}");
    }

    /// The file `recon init` writes is valid; only its placeholders stop it.
    #[test]
    fn the_starter_config_needs_only_its_placeholders_filled() {
        let starter = crate::commands::init::starter(crate::PSAS[0]);
        let err = parse(&starter).unwrap_err();
        // Every example value at once, each with its line: the keys, the company id, the client id.
        for what in [
            "line 10: [connectwise] company_id = \"yourcompany\"",
            "line 12: [connectwise] public_key = \"REPLACE-ME\"",
            "line 13: [connectwise] private_key = \"REPLACE-ME\"",
            "line 15: [connectwise] client_id = \"00000000-0000-0000-0000-000000000000\"",
        ] {
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
        assert!(err.to_string().contains("4 value(s) are still the examples"), "{err}");
        assert_eq!(err.line, Some(10));
        let filled = parse(
            &starter
                .replace(PLACEHOLDER, "a-real-key")
                .replace("\"yourcompany\"", "\"acme\"")
                .replace("00000000-0000-0000-0000-000000000000", "5a4db0c5-1111-4000-8000-000000000001"),
        )
        .unwrap();
        assert_eq!(psa_settings::<crate::connectwise::ConnectWiseSettings>(&filled).company_id, "acme");
        assert_eq!(filled.sync, SyncPolicy::default(), "the starter shows the defaults");
    }

    #[test]
    fn the_autotask_starter_is_one_psa_section_that_needs_only_its_placeholders_filled() {
        let starter = crate::commands::init::starter(PsaKind::find("autotask").unwrap());
        let err = parse(&starter).unwrap_err().to_string();
        for what in [
            "[autotask] username = \"REPLACE-ME\"",
            "[autotask] secret = \"REPLACE-ME\"",
            "[autotask] integration_code = \"REPLACE-ME\"",
        ] {
            assert!(err.contains(what), "{what}: {err}");
        }
        let filled = parse(&starter.replace(PLACEHOLDER, "a-real-value")).unwrap();
        let at: &crate::autotask::AutotaskSettings = psa_settings(&filled);
        assert_eq!(
            (at.username.as_str(), at.requests_per_hour),
            ("a-real-value", crate::autotask::DEFAULT_REQUESTS_PER_HOUR)
        );
        assert!(
            at.zone_url.is_none()
                && at.discovery_url.as_str().starts_with("https://webservices2.autotask.net/")
        );
        assert_eq!(filled.psa().unwrap().kind.key(), "autotask");

        let at = "[autotask]\nusername = \"u\"\nsecret = \"s\"\nintegration_code = \"c\"\n";
        let cw = "[connectwise]\nsite = \"https://x.example\"\ncompany_id = \"a\"\npublic_key = \"p\"\nprivate_key = \"q\"\nclient_id = \"c\"\n";
        let both = parse(&format!("{cw}{at}")).unwrap_err();
        assert!(both.to_string().contains("both [connectwise] and [autotask]"), "{both}");
        assert_eq!(both.line, Some(7), "the [autotask] header");
        // Said first, even when the other section is incomplete.
        let partial = parse(&format!("{at}[connectwise]\nsite = \"https://x.example\"\n")).unwrap_err();
        assert!(partial.to_string().contains("both [connectwise] and [autotask]"), "{partial}");
        for (extra, says) in [
            ("requests_per_hour = 0\n", "requests_per_hour = 0"),
            ("requests_per_hour = 10001\n", "1 to 10000"),
            ("zone_url = \"http://webservices5.autotask.net/\"\n", "uses http://"),
            ("zone = \"x\"\n", "unknown field `zone`"),
        ] {
            let err = parse(&format!("{at}{extra}")).unwrap_err();
            assert!(err.to_string().contains(says), "{extra}: {err}");
            assert!(err.line.is_some(), "{extra}: {err} names its line");
        }
        assert!(parse("[sync]\n").unwrap().psa().unwrap_err().to_string().contains("no PSA section"));
    }

    #[test]
    fn the_halopsa_starter_needs_its_tenant_url_and_application_and_defaults_to_hosted_limits() {
        let starter = crate::commands::init::starter(PsaKind::find("halopsa").unwrap());
        assert!(!starter.contains("\n[connectwise]"), "one PSA section");
        let err = parse(&starter).unwrap_err().to_string();
        for what in [
            "[halopsa] resource_url = \"https://YOURTENANT.halopsa.com/api\"",
            "[halopsa] client_id = \"REPLACE-ME\"",
            "[halopsa] client_secret = \"REPLACE-ME\"",
        ] {
            assert!(err.contains(what), "{what}: {err}");
        }
        let filled =
            parse(&starter.replace(PLACEHOLDER, "a-real-value").replace("YOURTENANT", "acme")).unwrap();
        let halo: &crate::halopsa::HaloSettings = psa_settings(&filled);
        assert_eq!(halo.resource_url.as_str(), "https://acme.halopsa.com/api/");
        assert_eq!((halo.scope.as_str(), halo.requests_per_minute), ("all", 55));
        assert_eq!(halo.rate_window, std::time::Duration::from_secs(300));
        assert!(halo.auth_url.is_none() && halo.tenant.is_none(), "found with authinfo");
        let cw = "[connectwise]\nsite = \"https://x.example\"\ncompany_id = \"a\"\npublic_key = \"p\"\nprivate_key = \"q\"\nclient_id = \"c\"\n";
        let both =
            parse(&format!("{cw}[halopsa]\nresource_url = \"https://a.halopsa.com/api\"\n")).unwrap_err();
        assert!(both.to_string().contains("both [connectwise] and [halopsa]"), "{both}");
        let halo = "[halopsa]\nresource_url = \"https://a.halopsa.com/api\"\nclient_id = \"i\"\nclient_secret = \"s\"\n";
        for (extra, says) in [
            ("requests_per_minute = 0\n", "requests_per_minute = 0"),
            ("scope = \" \"\n", "scope is empty"),
            ("tenant = \"Not set\"\n", ""),
            ("auth_url = \"http://a.halopsa.com/auth\"\n", "uses http://"),
        ] {
            let result = parse(&format!("{halo}{extra}"));
            if says.is_empty() {
                let c = result.unwrap();
                assert!(
                    psa_settings::<crate::halopsa::HaloSettings>(&c).tenant.is_none(),
                    "on-premise: no tenant"
                );
                continue;
            }
            let err = result.unwrap_err();
            assert!(err.to_string().contains(says), "{extra}: {err}");
            assert!(err.line.is_some(), "{extra}: {err} names its line");
        }
    }

    #[test]
    fn the_notify_section_reads_its_url_from_the_environment_and_names_what_it_allows() {
        let env = |name: &str| (name == "HOOK").then(|| "https://hooks.slack.com/services/T/B/x".to_string());
        let config = Config::parse(
            "[notify]\nwebhook_url_env = \"HOOK\"\nformat = \"slack\"\n",
            Path::new("c.toml"),
            &env,
        )
        .unwrap();
        let notify = config.notify.unwrap();
        assert_eq!(notify.url.expose(), "https://hooks.slack.com/services/T/B/x");
        assert_eq!(notify.format, NotifyFormat::Slack);
        assert_eq!(
            notify.on,
            [NotifyEvent::Held, NotifyEvent::Failed],
            "the default: when a human is needed"
        );
        let err = parse("[notify]\nwebhook_url = \"https://h.example/x\"\nformat = \"email\"\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(
            err.to_string().contains(r#"format = "email": expected "json", "slack" or "teams""#),
            "{err}"
        );
        let err = parse("[notify]\nformat = \"json\"\n").unwrap_err();
        assert!(err.to_string().contains("missing `webhook_url`"), "{err}");
        let err = parse("[notify]\nwebhook_url = \"not a url\"\n").unwrap_err();
        assert!(err.to_string().contains("not a URL") && !err.to_string().contains("not a url"), "{err}");
    }

    #[test]
    fn a_wrong_type_an_unknown_word_and_a_duplicate_name_the_key_and_what_it_takes() {
        for (text, line, want) in [
            (
                "[sync]\nmax_change_percent = \"fifty\"\n",
                2,
                r#"[sync] max_change_percent = "fifty": expected a whole percent or false"#,
            ),
            (
                "[sync]\nmax_change_amount = \"500\"  # dollars\n",
                2,
                r#"[sync] max_change_amount = "500": expected an amount (a number) or false"#,
            ),
            (
                "[sync]\ndecreases = \"later\"\n",
                2,
                r#"[sync] decreases = "later": expected `apply` or `review`"#,
            ),
            (
                "[sync]\ndecreases = \"apply\"\ndecreases = \"review\"\n",
                3,
                "[sync] decreases is set twice; keep one",
            ),
            ("[http]\nworkers = \"8\"\n", 2, r#"[http] workers = "8": expected a whole number"#),
            (
                "[vendors.huntress]\napi_key = \"k\"\napi_secret = \"s\"\npage_size = \"500\"\n",
                4,
                r#"[vendors.huntress] page_size = "500": expected a whole number"#,
            ),
            (
                "[vendors.backup]\ntype = \"csv\"\nfile = \"b.csv\"\nexclude_statuses = \"trial\"\n",
                4,
                r#"[vendors.backup] exclude_statuses = "trial": expected"#,
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, Some(line), "{text}: {err}");
            assert!(err.message.contains(want), "{text}: {err}");
        }
    }

    /// The commented vendor sections of the starter, uncommented, are accepted as written:
    /// its comments name only keys each vendor takes.
    #[test]
    fn the_starters_vendor_examples_are_keys_each_vendor_accepts() {
        let starter = crate::commands::init::starter(crate::PSAS[0]);
        let mut text = String::new();
        let mut in_vendor = false;
        for line in starter.lines() {
            if line.starts_with("# [vendors.")
                || line.starts_with("# [notify]")
                || line.starts_with("# [audit]")
            {
                in_vendor = true;
            } else if line.trim().is_empty() {
                in_vendor = false;
            }
            let key_line = line.strip_prefix("# ").filter(|l| l.starts_with('[') || l.contains(" = "));
            match key_line {
                Some(l) if in_vendor => text.push_str(l),
                _ => text.push_str(line),
            }
            text.push('\n');
        }
        let text = text
            .replace(PLACEHOLDER, "a-real-key")
            .replace("\"yourcompany\"", "\"acme\"")
            .replace("00000000-0000-0000-0000-000000000000", "5a4db0c5-1111-4000-8000-000000000001")
            .replace("webhook_url_env = \"RECON_WEBHOOK\"", "webhook_url = \"https://hooks.example.com/x\"");
        let config = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        for vendor in [
            "nodeware",
            "huntress",
            "saas-alerts",
            "nordlayer",
            "pax8",
            "sherweb",
            "sophos",
            "ninjaone",
            "datto-rmm",
            "sentinelone",
            "nordpass",
            "backup",
        ] {
            assert!(config.vendor(vendor).is_some(), "{vendor}");
        }
        assert!(config.notify.is_some());
        assert_eq!(config.audit.notify_above, Some(Decimal::from(100)));
    }

    #[test]
    fn http_allowed_only_for_loopback() {
        for (site, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:1", true),
            ("http://[::1]:1", true),
            ("http://10.0.0.1", false),
            ("https://cw.example.com", true),
            ("ftp://cw.example.com", false),
        ] {
            let text = format!(
                "[connectwise]\nsite = \"{site}\"\ncompany_id = \"a\"\npublic_key = \"p\"\nprivate_key = \"q\"\nclient_id = \"c\"\n"
            );
            assert_eq!(parse(&text).is_ok(), ok, "{site}");
        }
    }

    #[test]
    fn cloud_hosts_get_the_api_prefix() {
        let text = "[connectwise]\nsite = \"na.myconnectwise.net\"\ncompany_id = \"a\"\npublic_key = \"p\"\nprivate_key = \"q\"\nclient_id = \"c\"\ncodebase = \"v2025_1\"\n";
        let c = parse(text).unwrap();
        let cw: &crate::connectwise::ConnectWiseSettings = psa_settings(&c);
        assert_eq!(cw.site.as_str(), "https://api-na.myconnectwise.net/");
        assert_eq!(cw.codebase.as_deref(), Some("v2025_1/"));
    }

    #[test]
    fn missing_connectwise_section_is_reported_when_needed() {
        let c = parse("[vendors.nodeware]\napi_key = \"k\"\n").unwrap();
        let err = c.psa().unwrap_err().to_string();
        assert!(err.contains("no PSA section: add one of [connectwise], [autotask]"), "{err}");
    }

    #[test]
    fn default_paths_follow_xdg() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(default_config_path(&env).unwrap(), PathBuf::from("/home/u/.config/recon/config.toml"));
        assert_eq!(default_db_path(&env).unwrap(), PathBuf::from("/home/u/.local/share/recon/recon.db"));
        let xdg = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/x/c".to_string()),
            "XDG_DATA_HOME" => Some("/x/d".to_string()),
            _ => None,
        };
        assert_eq!(default_config_path(&xdg).unwrap(), PathBuf::from("/x/c/recon/config.toml"));
        assert_eq!(default_db_path(&xdg).unwrap(), PathBuf::from("/x/d/recon/recon.db"));
    }

    #[cfg(unix)]
    #[test]
    fn warns_when_others_can_read_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = Config::load(&path).unwrap();
        assert!(c.warnings[0].contains("chmod 600"), "{:?}", c.warnings);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(&path).unwrap().warnings.is_empty());
    }
}
