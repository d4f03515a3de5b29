//! The vendors recon knows: one `Registration` each, in `VENDORS`, as the PSAs are in
//! `psa::registry`. A vendor's module declares its config section (read and validated
//! there), what it can answer and its starter example; nothing outside it names a vendor.

use super::VendorError;
use crate::config_file::{ConfigError, Validator};
use crate::http::Http;
use crate::invoice::MonthRead;
use crate::model::VendorSnapshot;
use crate::period::Period;
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::PathBuf;
use url::Url;

pub use super::VENDORS;

/// What a vendor can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It reads today's counts from a live API. A file vendor reads whatever was exported,
    /// so any `--period` is accepted.
    pub live_counts: bool,
    /// It can say what it invoiced for a past month (month-addressed usage).
    pub months: bool,
    /// Its answers carry what a unit costs the MSP.
    pub costs: bool,
    /// Its answers carry committed terms (a quantity that cannot go down before a date).
    pub commitments: bool,
}

impl Capabilities {
    /// What a vendor with a live API and nothing more answers.
    pub const LIVE: Capabilities =
        Capabilities { live_counts: true, months: false, costs: false, commitments: false };
    /// What a file export answers.
    pub const FILE: Capabilities =
        Capabilities { live_counts: false, months: false, costs: false, commitments: false };

    /// `live counts, invoiced months`: for `recon check`.
    pub fn words(self) -> Vec<&'static str> {
        [
            (self.live_counts, "live counts"),
            (!self.live_counts, "exported file"),
            (self.months, "invoiced months"),
            (self.costs, "costs"),
            (self.commitments, "commitments"),
        ]
        .into_iter()
        .filter_map(|(has, word)| has.then_some(word))
        .collect()
    }
}

/// Reads a vendor's `[vendors.<name>]` section into its source.
pub type ReadSettings = fn(&Section) -> Result<Box<dyn VendorSource>, ConfigError>;

/// What a vendor's module gives the rest of recon.
pub struct Registration {
    /// The `type` of its config section, and the section name that implies it: `nodeware`.
    pub key: &'static str,
    pub capabilities: Capabilities,
    /// The keys its section takes besides `type` (and `requests_per_minute`, for a live API).
    pub keys: &'static [&'static str],
    /// Its documented request budget, used unless the section sets `requests_per_minute`.
    pub requests_per_minute: Option<u32>,
    pub settings: ReadSettings,
    /// The commented example section `recon init` writes (`# [vendors.<name>]` ...).
    pub starter: &'static str,
}

/// A vendor's validated section: enough to read it.
pub trait VendorSource: fmt::Debug + Send + Sync {
    /// The host the request budget applies to; `None` for a file.
    fn api_url(&self) -> Option<&Url>;
    /// Accounts, services and usage now (`current` is the month containing today).
    fn fetch(&self, vendor: &str, http: &Http, current: Period) -> Result<VendorSnapshot, VendorError>;
    /// What it invoiced for `period`: only for vendors whose capabilities say `months`.
    fn fetch_month(&self, vendor: &str, http: &Http, period: Period) -> Result<MonthRead, VendorError> {
        let _ = http;
        Err(VendorError::Unsupported {
            vendor: vendor.to_string(),
            message: format!("it cannot say what it invoiced for {period}"),
        })
    }
    /// The device class sets `map services --class` takes (name, classes; a trailing `*`
    /// matches a prefix): the vendor's own and those its config section names. Empty for a
    /// vendor whose counts have no classes.
    fn class_sets(&self) -> Vec<(String, Vec<String>)> {
        Vec::new()
    }
    /// For tests and vendor-specific code in its own module.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// One registered vendor (a config section's `type` names it).
#[derive(Clone, Copy)]
pub struct VendorKind(pub &'static Registration);

impl VendorKind {
    pub fn key(self) -> &'static str {
        self.0.key
    }

    pub fn capabilities(self) -> Capabilities {
        self.0.capabilities
    }

    /// Whether it is a live API (which reports only usage now), not a file export.
    pub fn is_live(self) -> bool {
        self.0.capabilities.live_counts
    }

    /// Whether it can say what it invoiced for a past month, so a sync or an audit of that
    /// month reads its documents instead of today's counts.
    pub fn answers_months(self) -> bool {
        self.0.capabilities.months
    }

    pub fn find(key: &str) -> Option<VendorKind> {
        VENDORS.iter().copied().find(|v| v.key() == key)
    }

    pub fn keys() -> Vec<&'static str> {
        VENDORS.iter().map(|v| v.key()).collect()
    }

    /// The keys a section of this kind may hold: `type`, the request budget of a live API,
    /// and what the vendor itself takes.
    pub fn allowed_keys(self) -> Vec<&'static str> {
        let mut keys = vec!["type"];
        if self.is_live() {
            keys.push("requests_per_minute");
        }
        keys.extend_from_slice(self.0.keys);
        keys
    }
}

impl PartialEq for VendorKind {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for VendorKind {}

impl fmt::Debug for VendorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl fmt::Display for VendorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The commented example of every registered vendor, in order, a blank line between.
pub fn starters() -> String {
    VENDORS.iter().map(|v| v.0.starter.trim_end()).collect::<Vec<_>>().join("\n\n")
}

/// One `[vendors.<name>]` section being read: what a vendor's `settings` reads its keys
/// with, each error located at its line.
pub struct Section<'a> {
    pub validator: &'a Validator<'a>,
    pub name: &'a str,
}

impl Section<'_> {
    fn path(&self) -> [&str; 2] {
        ["vendors", self.name]
    }

    /// The section as the vendor's own raw type (unknown keys were refused before, so the
    /// type need not deny them): a wrong type is reported at its line.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.validator
            .section_at::<T>(&self.path())?
            .ok_or_else(|| self.error(None, format!("{} could not be read", self.label())))
    }

    pub fn error(&self, key: Option<&str>, message: String) -> ConfigError {
        self.validator.error(&self.path(), key, message)
    }

    /// `[vendors.<name>]`, for messages.
    pub fn label(&self) -> String {
        format!("[vendors.{}]", self.name)
    }

    /// `<key> = "value"` or `<key>_env = "VAR"`: exactly one of them.
    pub fn secret(
        &self,
        key: &str,
        value: Option<String>,
        env_var: Option<String>,
    ) -> Result<Secret, ConfigError> {
        self.validator.secret(&self.path(), key, value, env_var)
    }

    /// An OAuth2 application's id (not a secret, though it may come from the environment)
    /// and its secret.
    pub fn client_credentials(&self, raw: ClientCredentials) -> Result<(String, Secret), ConfigError> {
        let id = self.secret("client_id", raw.client_id, raw.client_id_env)?;
        let secret = self.secret("client_secret", raw.client_secret, raw.client_secret_env)?;
        Ok((id.expose().to_string(), secret))
    }

    /// `value`, else `default`, as an https URL (http only for loopback hosts).
    pub fn url_or(&self, key: &str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
        self.validator.url(&self.path(), key, value.as_deref().unwrap_or(default))
    }

    /// A file path, relative to the config file's folder when relative.
    pub fn file(&self, key: &str, path: Option<PathBuf>) -> Result<PathBuf, ConfigError> {
        self.validator.file(&self.path(), key, path)
    }

    /// `page_size`: `default` when absent, else between 1 and `max`.
    pub fn page_size(&self, value: Option<u32>, default: u32, max: u32) -> Result<u32, ConfigError> {
        match value {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err(self.error(
                Some("page_size"),
                format!("{} page_size = {n}: must be between 1 and {max}", self.label()),
            )),
        }
    }
}

/// The four keys of an OAuth2 client-credentials application, as a vendor's raw type holds
/// them (`client_id` or `client_id_env`, `client_secret` or `client_secret_env`).
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub client_id_env: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
}
