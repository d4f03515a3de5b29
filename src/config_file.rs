//! The config file as text: each section read from it as its owner's type, each problem
//! located at its file and line. The PSA folders and the vendor modules read their own
//! sections with a [`Validator`]; `config.rs` reads the generic sections and holds the
//! registries, so this module imports neither.

use crate::http::is_loopback;
use crate::secret::Secret;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use url::Url;

/// A config problem, located in the file where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What `recon init` writes where a key goes (see config.example.toml).
pub const PLACEHOLDER: &str = "REPLACE-ME";

/// Lowers the raw file into settings; each PSA's folder reads its own section with it.
pub struct Validator<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Validator<'a> {
    pub fn new(text: &'a str, path: &'a Path, env: &'a dyn Fn(&str) -> Option<String>) -> Validator<'a> {
        Validator { text, path, env }
    }

    pub fn error(&self, section: &[&str], key: Option<&str>, message: String) -> ConfigError {
        ConfigError { path: self.path.to_path_buf(), line: locate(self.text, section, key), message }
    }

    /// `<key> = "value"` or `<key>_env = "VAR"`: exactly one of them.
    pub fn secret(
        &self,
        section: &[&str],
        key: &str,
        value: Option<String>,
        env_var: Option<String>,
    ) -> Result<Secret, ConfigError> {
        let label = section_label(section);
        match (value, env_var) {
            (Some(_), Some(_)) => Err(self.error(
                section,
                Some(key),
                format!("{label} sets both `{key}` and `{key}_env`; keep one"),
            )),
            (None, None) => Err(self.error(
                section,
                None,
                format!("{label} is missing `{key}` (or `{key}_env = \"VARIABLE\"` to read it from the environment)"),
            )),
            (Some(v), None) if v.trim() == PLACEHOLDER => Err(self.error(
                section,
                Some(key),
                format!("{label} `{key}` is still {PLACEHOLDER} from `recon init`: put the real value in"),
            )),
            (Some(v), None) if v.trim().is_empty() => {
                Err(self.error(section, Some(key), format!("{label} `{key}` is empty")))
            }
            (Some(v), None) => Ok(Secret::new(v)),
            (None, Some(var)) => match (self.env)(&var) {
                Some(v) if !v.trim().is_empty() => Ok(Secret::new(v)),
                _ => Err(self.error(
                    section,
                    Some(&format!("{key}_env")),
                    format!("{label} `{key}_env` names the environment variable {var}, which is not set or empty"),
                )),
            },
        }
    }

    pub fn url(&self, section: &[&str], key: &str, text: &str) -> Result<Url, ConfigError> {
        let label = section_label(section);
        let with_scheme = if text.contains("://") { text.to_string() } else { format!("https://{text}") };
        let url = Url::parse(&with_scheme).map_err(|e| {
            self.error(section, Some(key), format!("{label} {key} = {text:?} is not a URL: {e}"))
        })?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback(&url) => Ok(url),
            "http" => Err(self.error(
                section,
                Some(key),
                format!("{label} {key} = {text:?} uses http://; recon sends API keys only over https (http is allowed for loopback hosts)"),
            )),
            other => Err(self.error(section, Some(key), format!("{label} {key}: unsupported scheme {other:?}"))),
        }
    }

    /// The top-level table `key` of the file as `T`, or `None` when there is none. Read from
    /// the text itself, so a wrong or unknown key inside it is reported at its line.
    pub fn section<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        self.section_at(&[key])
    }

    /// The table at `path` (`["vendors", "pax8"]`) as `T`, like [`Validator::section`].
    pub fn section_at<T: serde::de::DeserializeOwned>(
        &self,
        path: &[&str],
    ) -> Result<Option<T>, ConfigError> {
        let read = toml::Deserializer::parse(self.text).and_then(|d| {
            serde::de::DeserializeSeed::deserialize(OneSection::<T> { path, found: PhantomData }, d)
        });
        read.map_err(|e| toml_error(self.path, self.text, &e))
    }

    pub fn file(&self, section: &[&str], key: &str, path: Option<PathBuf>) -> Result<PathBuf, ConfigError> {
        let label = section_label(section);
        let path = path
            .ok_or_else(|| self.error(section, None, format!("{label} is missing `{key}` (a file path)")))?;
        // Relative paths are relative to the config file, so cron's working directory does not matter.
        Ok(match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        })
    }
}

/// Deserializes only the table at `path` of a document, skipping the rest.
struct OneSection<'k, T> {
    path: &'k [&'k str],
    found: PhantomData<T>,
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::DeserializeSeed<'de> for OneSection<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for OneSection<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a table with an optional [{}]", self.path.join("."))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(name) = map.next_key::<String>()? {
            match self.path {
                [key] if name == *key => found = Some(map.next_value::<T>()?),
                [key, rest @ ..] if name == *key => {
                    found = map.next_value_seed(OneSection::<T> { path: rest, found: PhantomData })?
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

pub(crate) fn section_label(section: &[&str]) -> String {
    format!("[{}]", section.join("."))
}

/// A TOML or serde error in `text` as a problem at its line, in a person's words.
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|span| line_of_offset(text, span.start));
    ConfigError {
        path: path.to_path_buf(),
        line,
        message: serde_message(text, line, &first_line(e.message())),
    }
}

/// A serde or TOML message in a person's words, naming the key at `line` and its section:
/// `[sync] max_change_percent = "fifty": expected a whole percent or false`.
fn serde_message(text: &str, line: Option<usize>, message: &str) -> String {
    let Some(line) = line else { return message.to_string() };
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.get(line.saturating_sub(1)) else { return message.to_string() };
    // A table opened twice (a `[sync]` appended below the starter's own): say where the first is.
    if message == "duplicate key"
        && let Some(table) = header(at)
    {
        let label = format!("[{}]", table.join("."));
        let first = lines[..line - 1].iter().position(|l| header(l).as_ref() == Some(&table));
        return match first {
            Some(i) => {
                format!("{label} appears twice (first at line {}); keep one, with every key in it", i + 1)
            }
            None => format!("{label} appears twice; keep one"),
        };
    }
    let section = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string());
    let Some((key, value)) = at.split_once('=') else { return message.to_string() };
    let (key, value) = (key.trim(), value.split('#').next().unwrap_or("").trim());
    if key.is_empty() || key.starts_with('[') {
        return message.to_string();
    }
    let label = match section {
        Some(section) => format!("[{section}] {key}"),
        None => key.to_string(),
    };
    let plain = if message == "duplicate key" {
        return format!("{label} is set twice; keep one");
    } else if message.contains("untagged enum MaxChange") {
        "expected a whole percent or false".to_string()
    } else if message.contains("untagged enum MaxAmount") {
        "expected an amount (a number) or false".to_string()
    } else if let Some(expected) =
        message.strip_prefix("unknown variant ").and_then(|m| m.split_once(", expected "))
    {
        format!("expected {}", expected.1)
    } else if message.starts_with("invalid type:") {
        let expected = message.rsplit_once(", expected ").map_or("", |(_, e)| e);
        let expected = match expected {
            "usize" | "u32" | "u64" | "u16" | "u8" => "a whole number",
            "i64" | "i32" => "a whole number",
            "f64" => "a number",
            "a boolean" | "bool" => "true or false",
            "a string" => "text in quotes",
            other => other,
        };
        format!("expected {expected}")
    } else {
        return format!("{label}: {message}");
    };
    format!("{label} = {value}: {plain}")
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The table a `[a.b]` header line opens, as its parts; `None` for any other line.
fn header(line: &str) -> Option<Vec<String>> {
    let trimmed = line.trim();
    if !trimmed.starts_with('[') || trimmed.starts_with("[[") {
        return None;
    }
    let inner = trimmed.trim_start_matches('[').split(']').next().unwrap_or("");
    Some(inner.split('.').map(|p| p.trim().trim_matches('"').to_string()).collect())
}

/// The 1-based line of `key` inside the table `[section]`, or of the table header when
/// `key` is None. Simple on purpose: it reads the file as lines, as a person would.
pub(crate) fn locate(text: &str, section: &[&str], key: Option<&str>) -> Option<usize> {
    let mut current: Vec<String> = Vec::new();
    let mut header_line = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(table) = header(line) {
            current = table;
            if current == section {
                header_line = Some(index + 1);
            }
            continue;
        }
        if current != section {
            continue;
        }
        if let Some(key) = key {
            let name = trimmed.split('=').next().unwrap_or("").trim().trim_matches('"');
            if trimmed.contains('=') && name == key {
                return Some(index + 1);
            }
        }
    }
    header_line
}
