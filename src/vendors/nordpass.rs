//! NordPass: the Provider API's paths are not public, so recon reads the MSP Admin Panel's
//! Usage data export (documented: CSV for the previous and current month). Columns by
//! header name, defaults assumed `Organization`, `Organization ID`, `Plan`, `Seats`, all
//! configurable. Services `business` and `enterprise` by plan; quantity = seats. Rows are
//! checked like the generic CSV vendor's: any bad row rejects the whole file, an empty
//! seat count is unknown, and rows sharing an organization ID follow `FileAccounts`.

use super::csv::{FileAccounts, FileRow, Statuses, Table, bad_file, parse_count, read_table};
use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, VendorError};
use crate::config_file::ConfigError;
use crate::model::{VendorService, VendorSnapshot};
use serde::Deserialize;
use std::path::Path;

/// `[vendors.nordpass]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub usage_csv: std::path::PathBuf,
    pub columns: Columns,
    pub statuses: Statuses,
}

pub static REGISTRATION: Registration = Registration {
    key: "nordpass",
    capabilities: Capabilities::FILE,
    keys: &[
        "usage_csv",
        "organization_column",
        "organization_id_column",
        "plan_column",
        "seats_column",
        "status_column",
        "exclude_statuses",
    ],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.nordpass]
# usage_csv = \"/path/to/nordpass-usage.csv\"   # MSP Admin Panel > Usage data > export
# organization_column = \"Organization\"
# organization_id_column = \"Organization ID\"
# plan_column = \"Plan\"
# seats_column = \"Seats\"
# status_column = \"Type\"                      # assumed: the organization's licence type
# exclude_statuses = [\"Trial\", \"NFR\"]         # free seats NordPass does not bill: not billed
",
};

#[derive(Deserialize)]
struct RawSettings {
    usage_csv: Option<std::path::PathBuf>,
    organization_column: Option<String>,
    organization_id_column: Option<String>,
    plan_column: Option<String>,
    seats_column: Option<String>,
    status_column: Option<String>,
    exclude_statuses: Option<Vec<String>>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    Ok(Box::new(Settings {
        usage_csv: section.file("usage_csv", raw.usage_csv)?,
        columns: Columns {
            organization: raw.organization_column.unwrap_or_else(|| "Organization".into()),
            organization_id: raw.organization_id_column.unwrap_or_else(|| "Organization ID".into()),
            plan: raw.plan_column.unwrap_or_else(|| "Plan".into()),
            seats: raw.seats_column.unwrap_or_else(|| "Seats".into()),
        },
        statuses: Statuses {
            column: raw.status_column.unwrap_or_else(|| STATUS_COLUMN.into()),
            exclude: raw
                .exclude_statuses
                .unwrap_or_else(|| EXCLUDED_STATUSES.iter().map(|s| s.to_string()).collect()),
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
        fetch(vendor, &self.usage_csv, &self.columns, &self.statuses)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The export's licence-type column (assumed; configurable with `status_column`).
pub const STATUS_COLUMN: &str = "Type";
/// NordPass does not bill trial or NFR (not for resale) organizations, so neither does recon.
pub const EXCLUDED_STATUSES: [&str; 2] = ["Trial", "NFR"];

/// The export's column names (assumed defaults, all configurable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub organization: String,
    pub organization_id: String,
    pub plan: String,
    pub seats: String,
}

/// (service key, display name); the key is also the plan name, compared case-insensitively.
const SERVICES: [(&str, &str); 2] =
    [("business", "NordPass Business"), ("enterprise", "NordPass Enterprise")];

pub fn fetch(
    vendor: &str,
    usage_csv: &Path,
    columns: &Columns,
    statuses: &Statuses,
) -> Result<VendorSnapshot, VendorError> {
    let (table, problems) = read_table(vendor, usage_csv)?;
    snapshot(&table, columns, statuses, problems).map_err(|problems| bad_file(vendor, usage_csv, problems))
}

/// The service key for a plan as the export writes it, if it is one recon knows.
fn service_for_plan(plan: &str) -> Option<&'static str> {
    let plan = plan.trim();
    SERVICES.iter().map(|(key, _)| *key).find(|key| key.eq_ignore_ascii_case(plan))
}

fn snapshot(
    table: &Table,
    columns: &Columns,
    statuses: &Statuses,
    mut problems: Vec<String>,
) -> Result<VendorSnapshot, Vec<String>> {
    let names =
        [&columns.organization, &columns.organization_id, &columns.plan, &columns.seats].map(String::as_str);
    let indexes = match table.require(&names) {
        Ok(i) => i,
        Err(missing) => {
            problems.insert(0, format!("{missing}; set the [vendors.<name>] *_column keys if yours differ"));
            return Err(problems);
        }
    };
    let (org_col, id_col, plan_col, seats_col) = (indexes[0], indexes[1], indexes[2], indexes[3]);

    let mut accounts = FileAccounts::default();
    for row in &table.rows {
        let line = row.line;
        let (name, id, plan) = (row.get(org_col), row.get(id_col), row.get(plan_col));
        let mut bad = Vec::new();
        if name.is_empty() {
            bad.push(format!("`{}` is empty", columns.organization));
        }
        if id.is_empty() {
            bad.push(format!("`{}` is empty", columns.organization_id));
        }
        let service = service_for_plan(plan);
        if service.is_none() {
            bad.push(format!("`{}` {plan:?} is neither Business nor Enterprise", columns.plan));
        }
        let seats = parse_count(&columns.seats, row.get(seats_col)).map_err(|e| bad.push(e)).ok();
        let (Some(service), Some(count), true) = (service, seats, bad.is_empty()) else {
            problems.push(format!("line {line}: {}", bad.join("; ")));
            continue;
        };
        let json = row.to_json(&table.headers);
        let unbilled = statuses.excluded(table, row).map(str::to_string);
        accounts.add(
            id,
            FileRow { line, name: name.to_string(), service: service.to_string(), unbilled, count, json },
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut builder = Builder::new(
        SERVICES
            .iter()
            .map(|(key, name)| VendorService { key: key.to_string(), name: name.to_string() })
            .collect(),
    );
    accounts.finish(&mut builder);
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::csv::parse_table;

    fn defaults() -> Columns {
        Columns {
            organization: "Organization".into(),
            organization_id: "Organization ID".into(),
            plan: "Plan".into(),
            seats: "Seats".into(),
        }
    }

    fn parse(text: &str, columns: &Columns) -> Result<VendorSnapshot, Vec<String>> {
        let (table, problems) = parse_table(text.as_bytes())?;
        let statuses =
            Statuses { column: STATUS_COLUMN.into(), exclude: EXCLUDED_STATUSES.map(String::from).to_vec() };
        snapshot(&table, columns, &statuses, problems).map_err(|p| match bad_file("v", Path::new("f"), p) {
            VendorError::BadFile { problems, .. } => problems,
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn plans_map_to_services_case_insensitively() {
        let cases = [
            ("Business", Some("business")),
            ("business", Some("business")),
            (" ENTERPRISE ", Some("enterprise")),
            ("Enterprise", Some("enterprise")),
            ("Teams", None),
            ("Business Plus", None),
            ("", None),
        ];
        for (plan, want) in cases {
            assert_eq!(service_for_plan(plan), want, "{plan:?}");
        }
    }

    #[test]
    fn the_export_reads_into_accounts_and_seats() {
        let text = "\u{FEFF}Organization,Organization ID,Plan,Seats\n\
                    Acme Dental,id-1,Business,14\n\
                    Smith & Whitfield Attorneys,id-2,enterprise,20\n\
                    Acme Dental,id-1,Enterprise,2\n";
        let s = parse(text, &defaults()).unwrap();
        let usage: Vec<(&str, &str, u32)> =
            s.usage.iter().map(|u| (u.account_id.as_str(), u.service_key.as_str(), u.quantity)).collect();
        assert_eq!(
            usage,
            vec![("id-1", "business", 14), ("id-1", "enterprise", 2), ("id-2", "enterprise", 20)]
        );
        assert_eq!(s.accounts.len(), 2);
        assert_eq!(s.accounts[0].name, "Acme Dental");
        assert_eq!(s.accounts[0].raw["rows"][0]["Plan"], "Business");
        let services: Vec<&str> = s.services.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(services, vec!["NordPass Business", "NordPass Enterprise"]);
    }

    #[test]
    fn configured_column_names_are_used() {
        let columns = Columns {
            organization: "Company".into(),
            organization_id: "Company UUID".into(),
            plan: "Subscription".into(),
            seats: "Billable seats".into(),
        };
        let text = "Company;Company UUID;Subscription;Billable seats;Pending\nAcme;u-1;Business;7;1\n";
        let s = parse(text, &columns).unwrap();
        assert_eq!((s.usage[0].account_id.as_str(), s.usage[0].quantity), ("u-1", 7));
        let p = parse(text, &defaults()).unwrap_err();
        assert!(p[0].starts_with("line 1: missing columns `Organization`, `Organization ID`"), "{p:?}");
    }

    #[test]
    fn bad_rows_are_named_by_line_and_nothing_is_imported() {
        let text = "Organization,Organization ID,Plan,Seats\n\
                    Acme,id-1,Business,14\n\
                    Beta,id-2,Teams,3\n\
                    Gamma,id-3,Business,-1\n\
                    ,id-4,Business,1\n\
                    Echo,,Enterprise,2.5\n";
        let p = parse(text, &defaults()).unwrap_err();
        let expect = [
            (3, "\"Teams\" is neither Business nor Enterprise"),
            (4, "negative"),
            (5, "`Organization` is empty"),
            (6, "`Organization ID` is empty; `Seats` \"2.5\" is fractional"),
        ];
        assert_eq!(p.len(), expect.len(), "{p:#?}");
        for (got, (line, needle)) in p.iter().zip(expect) {
            assert!(got.starts_with(&format!("line {line}: ")) && got.contains(needle), "{got}");
        }
    }

    #[test]
    fn an_empty_seat_count_is_unknown_and_a_renamed_id_is_ambiguous() {
        let text = "Organization,Organization ID,Plan,Seats\n\
                    Acme,id-1,Business,14\n\
                    Beta,id-2,Business,\n\
                    Acme Dental,id-1,Enterprise,2\n\
                    Gamma,id-3,Business,5\n\
                    Gamma,id-3,business,5\n";
        let s = parse(text, &defaults()).unwrap();
        let usage: Vec<(&str, u32)> = s.usage.iter().map(|u| (u.account_id.as_str(), u.quantity)).collect();
        assert_eq!(usage, [("id-3", 5)], "nothing from id-1 (two names) or id-2 (no count)");
        let problems: Vec<String> = s.problems.iter().map(crate::output::wording::problem_text).collect();
        assert!(problems[0].starts_with("id \"id-1\" is shared by 2 records"), "{problems:?}");
        assert!(problems[0].contains("Acme Dental"), "{problems:?}");
        assert_eq!(
            problems[1],
            "account \"Beta\" (id-2): `Seats` is missing or null, so its usage is unknown"
        );
        assert_eq!(s.notes, ["line 6 repeats line 5 (\"Gamma\", business); counted once"]);
    }

    #[test]
    fn trial_and_nfr_organizations_are_not_billed() {
        let text = "Organization,Organization ID,Plan,Seats,Type\n\
                    Acme,id-1,Business,14,Standard\n\
                    Beta,id-2,Business,9,trial\n\
                    Gamma,id-3,Enterprise,4,NFR\n";
        let s = parse(text, &defaults()).unwrap();
        let usage: Vec<(&str, u32)> = s.usage.iter().map(|u| (u.account_id.as_str(), u.quantity)).collect();
        assert_eq!(usage, [("id-1", 14)], "free seats are not billed");
        assert_eq!(s.accounts.len(), 3, "but the organizations are listed, never 'vanished'");
        assert_eq!(
            s.notes,
            [
                "line 3: \"Beta\" (business) is trial and not billed (exclude_statuses)",
                "line 4: \"Gamma\" (enterprise) is NFR and not billed (exclude_statuses)",
            ]
        );
        assert!(s.problems.is_empty());
    }
}
