//! The generic CSV vendor (`type = "csv"`), for any vendor without an API: a header row with
//! `account`, `service`, `quantity` and an optional `account_id`. Also the shared reader the
//! NordPass adapter uses for its usage export.
//!
//! A file with a bad row is not imported at all: every bad row (a negative, fractional or
//! non-numeric quantity, an empty name, a shifted column) is reported with its line number
//! (the header is line 1) and nothing from the file is used, because a half-imported file
//! would silently turn the rows left out into "no usage". An empty quantity cell is not bad
//! but unknown: that account's line for that service is skipped, never planned as 0. Rows
//! that share an id follow the rules every adapter follows (`FileAccounts`).

use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, Count, VendorError};
use crate::config_file::ConfigError;
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// `[vendors.<name>]` with `type = "csv"`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: std::path::PathBuf,
    pub statuses: Statuses,
}

pub static REGISTRATION: Registration = Registration {
    key: "csv",
    capabilities: Capabilities::FILE,
    keys: &["file", "status_column", "exclude_statuses"],
    requests_per_minute: None,
    settings,
    starter: "\
# Any vendor without an API: a CSV with columns account, service, quantity[, account_id].
# [vendors.backup]
# type = \"csv\"
# file = \"backup-usage.csv\"                   # relative paths are relative to this file
# status_column = \"status\"                    # rows whose status is listed below are not billed
# exclude_statuses = []                       # e.g. [\"trial\", \"internal\"]
",
};

#[derive(Deserialize)]
struct RawSettings {
    file: Option<std::path::PathBuf>,
    status_column: Option<String>,
    exclude_statuses: Option<Vec<String>>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    Ok(Box::new(Settings {
        file: section.file("file", raw.file)?,
        statuses: Statuses {
            column: raw.status_column.unwrap_or_else(|| "status".into()),
            exclude: raw.exclude_statuses.unwrap_or_default(),
        },
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&url::Url> {
        None
    }

    fn fetch(
        &self,
        vendor: &str,
        _http: &crate::http::Http,
        _current: crate::period::Period,
    ) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, &self.file, &self.statuses)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Free seats: rows whose status column holds one of `exclude` (compared without case) are
/// not billed, and are named in the plan's notes. A file without the column bills every row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statuses {
    pub column: String,
    pub exclude: Vec<String>,
}

impl Statuses {
    /// The excluded status of a row, if it has one.
    pub(super) fn excluded<'r>(&self, table: &Table, row: &'r Row) -> Option<&'r str> {
        let column = table.column(&self.column)?;
        let status = row.get(column);
        self.exclude.iter().any(|e| e.trim().eq_ignore_ascii_case(status)).then_some(status)
    }
}

const ACCOUNT: &str = "account";
const SERVICE: &str = "service";
const QUANTITY: &str = "quantity";
const ACCOUNT_ID: &str = "account_id";

/// A parsed file: trimmed headers and the data rows with their 1-based line numbers.
pub(super) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

pub(super) struct Row {
    pub line: u64,
    pub fields: Vec<String>,
}

impl Table {
    /// The index of a column by header name, compared case-insensitively after trimming.
    pub fn column(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.headers.iter().position(|h| h.eq_ignore_ascii_case(name))
    }

    /// The index of each required column, or one problem (on line 1) naming those missing.
    pub fn require(&self, names: &[&str]) -> Result<Vec<usize>, String> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| self.column(n).is_none()).collect();
        if missing.is_empty() {
            return Ok(names.iter().filter_map(|n| self.column(n)).collect());
        }
        let list = |names: &[&str]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        Err(format!(
            "line 1: missing column{} {} (the header has: {})",
            if missing.len() == 1 { "" } else { "s" },
            list(&missing),
            list(&self.headers.iter().map(String::as_str).collect::<Vec<_>>()),
        ))
    }
}

impl Row {
    /// A trimmed cell; empty when the row is shorter than the header.
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", |f| f.trim())
    }

    /// The row as a JSON object, header -> cell, with its line number (the raw record).
    pub fn to_json(&self, headers: &[String]) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("line".to_string(), serde_json::Value::from(self.line));
        for (i, header) in headers.iter().enumerate() {
            object.insert(header.clone(), serde_json::Value::String(self.get(i).to_string()));
        }
        serde_json::Value::Object(object)
    }
}

/// Read a CSV file: UTF-8 with or without a BOM, comma or semicolon delimited (whichever
/// the header line holds more of, outside quotes). A row whose field count differs from the
/// header's is a problem: usually an unquoted delimiter inside a name, which shifts columns.
pub(super) fn read_table(vendor: &str, path: &Path) -> Result<(Table, Vec<String>), VendorError> {
    let bytes = std::fs::read(path).map_err(|e| VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    parse_table(&bytes).map_err(|problems| bad_file(vendor, path, problems))
}

/// The parsing half of `read_table`: the table and the row problems found so far, or the
/// problems that leave no table at all (not UTF-8, no header).
pub(super) fn parse_table(bytes: &[u8]) -> Result<(Table, Vec<String>), Vec<String>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        vec![format!("line {line}: not UTF-8 text (save the file as UTF-8 CSV)")]
    })?;
    let header_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if header_line.trim().is_empty() {
        return Err(vec!["the file is empty: expected a header row".to_string()]);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(header_line))
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|f| f.trim().to_string()).collect(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue; // a line of bare delimiters, as spreadsheets leave behind
                }
                if record.len() != headers.len() {
                    let hint = if record.len() > headers.len() {
                        " (an unquoted delimiter inside a value?)"
                    } else {
                        " (a missing value?)"
                    };
                    problems.push(format!(
                        "line {line}: {} fields but the header has {}{hint}",
                        record.len(),
                        headers.len()
                    ));
                    continue;
                }
                rows.push(Row { line, fields: record.iter().map(str::to_string).collect() });
            }
            Err(e) => {
                let line = e.position().map_or_else(|| "?".to_string(), |p| p.line().to_string());
                problems.push(format!("line {line}: {e}"));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) {
                    break; // an I/O-level error: the reader cannot go on
                }
            }
        }
    }
    Ok((Table { headers, rows }, problems))
}

/// `;` when the header line holds more semicolons than commas outside quotes, else `,`.
fn detect_delimiter(header_line: &str) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for c in header_line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// A whole number of zero or more, written as plain digits.
pub(super) fn parse_quantity(column: &str, text: &str) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("`{column}` is empty"));
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse::<u32>().map_err(|_| format!("`{column}` {text} is too large"));
    }
    let why = match text.replace(',', ".").parse::<f64>() {
        Ok(n) if n < 0.0 => "is negative",
        Ok(n) if n.fract() != 0.0 => "is fractional",
        Ok(_) => "must be written as a plain whole number",
        Err(_) => "is not a number",
    };
    Err(format!("`{column}` {text:?} {why}: quantities are whole numbers of zero or more"))
}

/// The file's error, its problems in line order (header problems and row problems are
/// found in different passes).
pub(super) fn bad_file(vendor: &str, path: &Path, mut problems: Vec<String>) -> VendorError {
    problems.sort_by_key(|p| line_of(p));
    VendorError::BadFile { vendor: vendor.to_string(), path: path.display().to_string(), problems }
}

/// The line a problem names (`line 12: ...`); 0 for a problem of the whole file.
fn line_of(problem: &str) -> u64 {
    problem
        .strip_prefix("line ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One data row of a file vendor, read into the shared terms.
pub(super) struct FileRow {
    pub line: u64,
    pub name: String,
    pub service: String,
    /// The excluded status that makes the row free (not billed), if any.
    pub unbilled: Option<String>,
    /// An empty cell is `Missing`: unknown, never zero.
    pub count: Count,
    /// The row as header -> cell, with its line number.
    pub json: serde_json::Value,
}

/// Accounts built from a file's rows, shared by the file vendors: one account per id with
/// its rows as its raw record. The rules of `unique_records` hold for rows too: a row that
/// repeats another exactly counts once, with a note; an id whose rows disagree (two names,
/// or two quantities for one service) is ambiguous and none of its rows is used.
#[derive(Default)]
pub(super) struct FileAccounts {
    order: Vec<String>,
    rows: HashMap<String, Vec<FileRow>>,
}

impl FileAccounts {
    pub(super) fn add(&mut self, id: &str, row: FileRow) {
        let rows = self.rows.entry(id.to_string()).or_default();
        if rows.is_empty() {
            self.order.push(id.to_string());
        }
        rows.push(row);
    }

    pub(super) fn finish(mut self, builder: &mut Builder) {
        for id in std::mem::take(&mut self.order) {
            let Some(all_rows) = self.rows.remove(&id) else { continue };
            let first_name = all_rows[0].name.clone();
            for r in all_rows.iter().filter(|r| r.unbilled.is_some()) {
                builder.note(format!(
                    "line {}: {:?} ({}) is {} and not billed (exclude_statuses)",
                    r.line,
                    r.name,
                    r.service,
                    r.unbilled.as_deref().unwrap_or("")
                ));
            }
            let raw_rows: Vec<serde_json::Value> = all_rows.iter().map(|r| r.json.clone()).collect();
            let rows: Vec<FileRow> = all_rows.into_iter().filter(|r| r.unbilled.is_none()).collect();
            let conflicts = rows.iter().any(|r| r.name != first_name)
                || rows.iter().enumerate().any(|(i, r)| {
                    rows[..i].iter().any(|earlier| earlier.service == r.service && earlier.count != r.count)
                });
            if conflicts {
                let described = rows.iter().map(|r| r.json.to_string()).collect();
                builder.ambiguous(&id, &first_name, described);
                continue;
            }
            let mut counts: Vec<(String, Count)> = Vec::new();
            let mut first_line: HashMap<&str, u64> = HashMap::new();
            for r in &rows {
                match first_line.get(r.service.as_str()) {
                    Some(line) => builder.note(format!(
                        "line {} repeats line {line} ({first_name:?}, {}); counted once",
                        r.line, r.service
                    )),
                    None => {
                        first_line.insert(&r.service, r.line);
                        counts.push((r.service.clone(), r.count.clone()));
                    }
                }
            }
            let raw = serde_json::json!({ "rows": raw_rows });
            let account = VendorAccount { id: id.clone(), name: first_name, status: None, raw };
            builder.account(account, counts.iter().map(|(s, c)| (s.as_str(), c.clone())).collect());
        }
    }
}

/// A quantity cell: empty is unknown (`Missing`), anything else must be a whole number.
pub(super) fn parse_count(column: &str, text: &str) -> Result<Count, String> {
    if text.trim().is_empty() {
        return Ok(Count::Missing(column.to_string()));
    }
    parse_quantity(column, text).map(Count::Known)
}

pub fn fetch(vendor: &str, file: &Path, statuses: &Statuses) -> Result<VendorSnapshot, VendorError> {
    let (table, problems) = read_table(vendor, file)?;
    snapshot(&table, statuses, problems).map_err(|problems| bad_file(vendor, file, problems))
}

/// Build the snapshot from a parsed table, or every problem found in it.
fn snapshot(
    table: &Table,
    statuses: &Statuses,
    mut problems: Vec<String>,
) -> Result<VendorSnapshot, Vec<String>> {
    let columns = match table.require(&[ACCOUNT, SERVICE, QUANTITY]) {
        Ok(c) => c,
        Err(missing) => {
            problems.insert(0, missing);
            return Err(problems);
        }
    };
    let (account_col, service_col, quantity_col) = (columns[0], columns[1], columns[2]);
    let id_col = table.column(ACCOUNT_ID);

    let mut accounts = FileAccounts::default();
    let mut services: Vec<VendorService> = Vec::new();
    for row in &table.rows {
        let line = row.line;
        let account = row.get(account_col);
        let service = row.get(service_col);
        let mut bad = Vec::new();
        if account.is_empty() {
            bad.push("`account` is empty".to_string());
        }
        if service.is_empty() {
            bad.push("`service` is empty".to_string());
        }
        let count = parse_count(QUANTITY, row.get(quantity_col)).map_err(|e| bad.push(e)).ok();
        let (Some(count), true) = (count, bad.is_empty()) else {
            problems.push(format!("line {line}: {}", bad.join("; ")));
            continue;
        };
        let id = id_col.map(|c| row.get(c)).filter(|id| !id.is_empty()).unwrap_or(account);
        if !services.iter().any(|s| s.key == service) {
            services.push(VendorService { key: service.to_string(), name: service.to_string() });
        }
        let json = row.to_json(&table.headers);
        let unbilled = statuses.excluded(table, row).map(str::to_string);
        let (name, service) = (account.to_string(), service.to_string());
        accounts.add(id, FileRow { line, name, service, unbilled, count, json });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut builder = Builder::new(services);
    accounts.finish(&mut builder);
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VendorSnapshot, Vec<String>> {
        let (table, problems) = parse_table(text.as_bytes())?;
        snapshot(&table, &Statuses::default(), problems).map_err(|p| match bad_file("v", Path::new("f"), p) {
            VendorError::BadFile { problems, .. } => problems,
            other => vec![other.to_string()],
        })
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(s) => panic!("expected problems, got {s:?}"),
            Err(p) => p,
        }
    }

    #[test]
    fn good_files_in_every_dialect_read_the_same() {
        let want = |s: &VendorSnapshot| {
            let usage: Vec<(&str, &str, u32)> =
                s.usage.iter().map(|u| (u.account_id.as_str(), u.service_key.as_str(), u.quantity)).collect();
            assert_eq!(usage, vec![("bk-1", "seats", 14), ("bk-2", "seats", 9), ("bk-2", "storage", 0)]);
            let names: Vec<&str> = s.accounts.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, vec!["Acme Dental", "Keystone Tool & Die, Inc."]);
            let services: Vec<(&str, &str)> =
                s.services.iter().map(|v| (v.key.as_str(), v.name.as_str())).collect();
            assert_eq!(services, vec![("seats", "seats"), ("storage", "storage")]);
        };
        let files = [
            "account,service,quantity,account_id\nAcme Dental,seats,14,bk-1\n\"Keystone Tool & Die, Inc.\",seats,9,bk-2\n\"Keystone Tool & Die, Inc.\",storage,0,bk-2\n",
            "\u{FEFF}account,service,quantity,account_id\r\nAcme Dental,seats,14,bk-1\r\n\"Keystone Tool & Die, Inc.\",seats,9,bk-2\r\n\"Keystone Tool & Die, Inc.\",storage,0,bk-2\r\n",
            "Account;Service;Quantity;Account_ID\nAcme Dental;seats;14;bk-1\nKeystone Tool & Die, Inc.;seats;9;bk-2\nKeystone Tool & Die, Inc.;storage;0;bk-2\n",
            "\u{FEFF} ACCOUNT ; service;quantity ;account_id\n Acme Dental ;seats; 14;bk-1\n\nKeystone Tool & Die, Inc.;seats;+9;bk-2\nKeystone Tool & Die, Inc.;storage;0;bk-2\n;;;\n",
            "quantity,account_id,service,account,notes\n14,bk-1,seats,Acme Dental,x\n9,bk-2,seats,\"Keystone Tool & Die, Inc.\",\n0,bk-2,storage,\"Keystone Tool & Die, Inc.\",\n",
        ];
        for text in files {
            match parse(text) {
                Ok(s) => want(&s),
                Err(p) => panic!("{text:?}: {p:?}"),
            }
        }
    }

    #[test]
    fn without_account_id_the_name_is_the_id() {
        let s = parse("account,service,quantity\nAcme,seats,3\nAcme,backup,2\n").unwrap();
        assert_eq!(s.accounts.len(), 1);
        assert_eq!(s.accounts[0].id, "Acme");
        assert_eq!(s.accounts[0].raw["rows"].as_array().unwrap().len(), 2);
        assert_eq!(s.accounts[0].raw["rows"][1]["line"], 3);
        assert_eq!(s.usage.len(), 2);
    }

    #[test]
    fn a_header_only_file_has_no_accounts() {
        let s = parse("account,service,quantity\n").unwrap();
        assert!(s.accounts.is_empty() && s.usage.is_empty());
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = "account,service,quantity,account_id\n\
                    Acme,seats,14,a1\n\
                    Beta,seats,-3,b1\n\
                    Gamma,seats,2.5,g1\n\
                    Delta,seats,ten,d1\n\
                    ,seats,4,e1\n\
                    Foxtrot,,4,f1\n\
                    Hotel,seats,x,h1\n\
                    India,seats\n\
                    Juliet, Inc.,seats,3,j1\n\
                    Kilo,seats,99999999999,k1\n\
                    Lima,seats,2,a1\n\
                    Mike,seats,\"2,5\",m1\n";
        let p = problems(text);
        let expect = [
            (3, "negative"),
            (4, "fractional"),
            (5, "not a number"),
            (6, "`account` is empty"),
            (7, "`service` is empty"),
            (8, "not a number"),
            (9, "2 fields but the header has 4"),
            (10, "5 fields but the header has 4"),
            (11, "too large"),
            (13, "fractional"),
        ];
        assert_eq!(p.len(), expect.len(), "{p:#?}");
        for (got, (line, needle)) in p.iter().zip(expect) {
            assert!(got.starts_with(&format!("line {line}: ")) && got.contains(needle), "{got}");
        }
    }

    #[test]
    fn rows_sharing_an_id_count_once_when_identical_and_are_ambiguous_when_they_differ() {
        let s = parse(
            "account,service,quantity,account_id\n\
             Acme,seats,14,a1\n\
             Acme,backup,1,a1\n\
             Acme,seats,14,a1\n\
             Beta,seats,3,b1\n\
             Beta,seats,4,b1\n\
             Gamma,seats,2,g1\n\
             Stark,seats,2,g1\n\
             Delta,seats,,d1\n",
        )
        .unwrap();
        let usage: Vec<(&str, &str, u32)> =
            s.usage.iter().map(|u| (u.account_id.as_str(), u.service_key.as_str(), u.quantity)).collect();
        assert_eq!(usage, [("a1", "seats", 14), ("a1", "backup", 1)]);
        assert_eq!(s.notes, ["line 4 repeats line 2 (\"Acme\", seats); counted once"]);
        let accounts: Vec<&str> = s.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(accounts, ["a1", "d1"], "ambiguous ids are not accounts");
        let problems: Vec<String> = s.problems.iter().map(crate::output::wording::problem_text).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("id \"b1\" is shared by 2 records that differ"), "{}", problems[0]);
        assert!(problems[0].contains("\"line\":5") && problems[0].contains("\"line\":6"), "{}", problems[0]);
        assert!(problems[1].starts_with("id \"g1\" is shared by 2 records"), "{}", problems[1]);
        assert!(problems[1].contains("\"Stark\""), "{}", problems[1]);
        assert_eq!(
            problems[2],
            "account \"Delta\" (d1): `quantity` is missing or null, so its usage is unknown"
        );
    }

    #[test]
    fn missing_columns_are_named() {
        let p = problems("account;qty\nAcme;3\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("line 1: missing columns `service`, `quantity`"), "{}", p[0]);
        assert!(p[0].contains("`account`, `qty`"), "{}", p[0]);
    }

    #[test]
    fn empty_and_non_utf8_files_are_rejected() {
        assert_eq!(problems("")[0], "the file is empty: expected a header row");
        assert_eq!(problems("\u{FEFF}\n\n")[0], "the file is empty: expected a header row");
        let latin1 = b"account,service,quantity\nAcme,seats,1\nCaf\xe9,seats,2\n";
        let p = parse_table(latin1).err().unwrap();
        assert!(p[0].starts_with("line 3: not UTF-8"), "{p:?}");
    }

    #[test]
    fn line_numbers_count_quoted_line_breaks() {
        let p = problems("account,service,quantity\n\"Acme\nDental\",seats,1\nBeta,seats,x\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("line 4: "), "{p:?}");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("q", " 7 "), Ok(7));
        assert_eq!(parse_quantity("q", "0"), Ok(0));
        assert_eq!(parse_quantity("q", "007"), Ok(7));
        for (text, needle) in [
            ("-1", "negative"),
            ("1.5", "fractional"),
            ("1,5", "fractional"),
            ("3.0", "plain whole number"),
            ("1e3", "plain whole number"),
            ("abc", "not a number"),
            ("", "empty"),
            ("4294967296", "too large"),
        ] {
            let e = parse_quantity("q", text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn the_error_lists_problems_and_caps_the_list() {
        let problems: Vec<String> = (2..=30).map(|l| format!("line {l}: bad")).collect();
        let e = bad_file("backup", Path::new("/x/backup.csv"), problems);
        let text = e.to_string();
        assert!(text.starts_with("backup: /x/backup.csv: 29 problems; nothing was imported"), "{text}");
        assert!(text.contains("line 21: bad") && !text.contains("line 22: bad"), "{text}");
        assert!(text.contains("and 9 more"), "{text}");
    }
}
