//! Halo's JSON, as recon reads it. Only the fields recon uses; the recurring invoice's lines
//! are also kept whole (`serde_json::Value`) so a re-post sends every field back as read.

use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `GET /authinfo`: where the authorisation server is, and the tenant.
#[derive(Debug, Deserialize)]
pub struct AuthInfo {
    pub auth_url: Option<String>,
    pub tenant_id: Option<String>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct Token {
    pub access_token: String,
    pub expires_in: Option<u64>,
}

/// A client (`Area`).
#[derive(Debug, Deserialize)]
pub struct Client {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub inactive: Option<bool>,
}

impl From<Client> for PsaCompany {
    fn from(c: Client) -> PsaCompany {
        PsaCompany {
            identifier: c.reference.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| c.id.to_string()),
            name: c.name.unwrap_or_default(),
            id: c.id,
        }
    }
}

/// A recurring invoice (`InvoiceHeader`), its lines read as they are.
#[derive(Debug, Deserialize)]
pub struct Invoice {
    pub id: i64,
    #[serde(default)]
    pub client_id: Option<i64>,
    #[serde(default)]
    pub contract_id: Option<i64>,
    #[serde(default)]
    pub contract_ref: Option<String>,
    #[serde(default, deserialize_with = "halo_date")]
    pub startdate: Option<NaiveDate>,
    #[serde(default, deserialize_with = "halo_date")]
    pub enddate: Option<NaiveDate>,
    #[serde(default, deserialize_with = "halo_date")]
    pub nextcreationdate: Option<NaiveDate>,
    #[serde(default)]
    pub lines: Option<Vec<Value>>,
}

impl Invoice {
    /// In force on `today`: started, and not ended.
    pub fn is_active(&self, today: NaiveDate) -> bool {
        self.startdate.is_none_or(|d| d <= today) && self.enddate.is_none_or(|d| d >= today)
    }

    pub fn container(&self) -> Option<BillingContainer> {
        // Its id is shown beside the name wherever it is listed.
        let name = match (&self.contract_ref, self.contract_id) {
            (Some(r), _) if !r.trim().is_empty() => format!("{} recurring invoice", r.trim()),
            (_, Some(c)) if c > 0 => format!("Contract {c} recurring invoice"),
            _ => "Recurring invoice".to_string(),
        };
        Some(BillingContainer {
            id: self.id,
            name,
            company_id: self.client_id?,
            type_name: Some("Recurring invoice".to_string()),
            parent_id: None,
            number: self.contract_ref.clone().filter(|r| !r.trim().is_empty()),
            aliases: self.contract_id.filter(|c| *c > 0).map(|c| c.to_string()).into_iter().collect(),
        })
    }

    /// Halo invoices by its own schedule and does its own pro-rata: a change applies from the
    /// next invoice it generates, and a new line may start on the period's first day.
    pub fn terms(&self) -> BillingTerms {
        BillingTerms {
            container_id: self.id,
            bill_start_date: self.startdate,
            next_invoice_date: self.nextcreationdate,
            prorate: true,
            currency: None,
            open_from: None,
        }
    }
}

/// A recurring invoice line (`InvoiceDetail`): the fields billing depends on.
#[derive(Debug, Deserialize)]
pub struct Line {
    pub id: i64,
    #[serde(default, rename = "_itemid")]
    pub item_id: Option<i64>,
    #[serde(default)]
    pub item_code: Option<String>,
    #[serde(default, deserialize_with = "decimal")]
    pub qty_order: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub unit_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub unit_cost: Option<Decimal>,
    #[serde(default)]
    pub isinactive: Option<bool>,
    #[serde(default, deserialize_with = "halo_date")]
    pub startdate: Option<NaiveDate>,
    #[serde(default, deserialize_with = "halo_date")]
    pub enddate: Option<NaiveDate>,
    /// 0 (or absent): the quantity is set by hand. Anything else: Halo computes it.
    #[serde(default)]
    pub recurring_invoice_quantity_type: Option<i64>,
    /// A pro-rata waiting for the next invoice: Halo bills it there and then adds
    /// `prorata_quantity` to `qty_order` (for a line whose quantity is set by hand).
    #[serde(default)]
    pub prorata_next_invoice: Option<bool>,
    #[serde(default, deserialize_with = "decimal")]
    pub prorata_quantity: Option<Decimal>,
}

impl Line {
    /// The units Halo adds to `qty_order` when it next invoices: recon judges a line by
    /// `qty_order` plus these, the quantity it has from then on, so Halo's own fold of a
    /// pro-rata after invoicing never reads as a change made outside recon, and a quantity
    /// recon sets is never billed twice (once in `qty_order`, once in the pro-rata).
    pub fn pending_pro_rata(&self) -> Decimal {
        match (self.prorata_next_invoice, self.prorata_quantity) {
            (Some(true), Some(q)) => q,
            _ => Decimal::ZERO,
        }
    }

    pub fn into_model(self, invoice_id: i64) -> BillingLine {
        let pro_rata = self.pending_pro_rata().normalize();
        BillingLine {
            id: self.id,
            agreement_id: invoice_id,
            product_id: self.item_id.filter(|id| *id > 0),
            product_identifier: self.item_code.filter(|c| !c.trim().is_empty()),
            // A line without a quantity bills none; Halo stores 0.0 then.
            quantity: (self.qty_order.unwrap_or_default() + pro_rata).normalize(),
            less_included: Decimal::ZERO,
            unit_price: self.unit_price,
            unit_cost: self.unit_cost,
            bill_customer: None,
            effective_date: self.startdate,
            cancelled_date: self.enddate,
            schedule: Vec::new(),
            inactive: self.isinactive.unwrap_or(false),
            computed: self.recurring_invoice_quantity_type.is_some_and(|t| t != 0),
            pro_rata,
        }
    }
}

/// A product (`Item`).
#[derive(Debug, Deserialize)]
pub struct Item {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "decimal")]
    pub baseprice: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal")]
    pub costprice: Option<Decimal>,
    #[serde(default)]
    pub inactive: Option<bool>,
}

impl Item {
    /// Whether `reference` names it: its id, its name or its code (ignoring case).
    pub fn is_named(&self, reference: &str) -> bool {
        let text = reference.trim();
        let same = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case(text));
        text.parse::<i64>().is_ok_and(|id| id == self.id) || same(&self.name) || same(&self.code)
    }
}

impl From<&Item> for CatalogProduct {
    fn from(i: &Item) -> CatalogProduct {
        let name = i.name.clone().unwrap_or_else(|| format!("item {}", i.id));
        let shown = |v: &Option<String>| v.clone().filter(|t| !t.trim().is_empty());
        CatalogProduct {
            id: i.id,
            description: shown(&i.description).or_else(|| shown(&i.code)).unwrap_or_else(|| name.clone()),
            identifier: name,
            inactive: i.inactive.unwrap_or(false),
            price: i.baseprice,
            cost: i.costprice,
        }
    }
}

/// A Halo date (`2026-01-01T00:00:00`); Halo writes "no date" as a date in 1900 or earlier.
fn halo_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()).filter(|d| {
        use chrono::Datelike;
        d.year() > 1901
    }))
}

/// A number as Halo writes it (a double), read exactly as written: `12.0` is 12.
fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let value: Option<Value> = Option::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .to_string()
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{n} is not a decimal: {e}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<Decimal>()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a number: {e}"))),
        Some(other) => Err(serde::de::Error::custom(format!("expected a number, found {other}"))),
    }
}

/// What a re-post must not overwrite: every line's id and the fields billing depends on.
/// Two reads of one invoice that differ here mean someone changed it in between.
pub fn fingerprint(lines: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| {
            let field = |k: &str| l.get(k).map_or_else(String::new, Value::to_string);
            [
                "id",
                "_itemid",
                "qty_order",
                "unit_price",
                "unit_cost",
                "isinactive",
                "startdate",
                "enddate",
                "recurring_invoice_quantity_type",
                "prorata_next_invoice",
                "prorata_quantity",
            ]
            .iter()
            .map(|k| format!("{k}={}", field(k)))
            .collect::<Vec<_>>()
            .join(",")
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_halo_doubles_exactly_and_its_computed_quantity_type() {
        let line: Line = serde_json::from_value(serde_json::json!({
            "id": 7, "ihid": 41, "_itemid": 501, "item_code": "NODEWARE-VMS", "qty_order": 12.0,
            "unit_price": 4.5, "unit_cost": 2.25, "isinactive": false,
            "startdate": "2026-01-01T00:00:00", "enddate": "1900-01-01T00:00:00",
            "recurring_invoice_quantity_type": 0
        }))
        .unwrap();
        let model = line.into_model(41);
        assert_eq!(model.quantity, Decimal::from(12));
        assert_eq!(model.unit_price, Some(Decimal::new(45, 1)));
        assert_eq!(model.cancelled_date, None, "1900 is Halo's no-date");
        assert_eq!(model.effective_date, NaiveDate::from_ymd_opt(2026, 1, 1));
        assert!(!model.computed && !model.inactive);
        let computed: Line = serde_json::from_value(
            serde_json::json!({"id": 8, "qty_order": 0.0, "recurring_invoice_quantity_type": 2}),
        )
        .unwrap();
        assert!(computed.into_model(41).computed);
    }

    #[test]
    fn a_pending_pro_rata_counts_in_the_quantity_only_while_it_waits_for_the_invoice() {
        let read = |v: serde_json::Value| serde_json::from_value::<Line>(v).unwrap().into_model(41);
        let cases = [
            (
                "waiting",
                serde_json::json!({"id": 1, "qty_order": 10.0, "prorata_next_invoice": true, "prorata_quantity": 2.0}),
                12,
                2,
            ),
            (
                "folded by Halo",
                serde_json::json!({"id": 1, "qty_order": 12.0, "prorata_next_invoice": false, "prorata_quantity": 0.0}),
                12,
                0,
            ),
            (
                "not for the next invoice",
                serde_json::json!({"id": 1, "qty_order": 10.0, "prorata_next_invoice": false, "prorata_quantity": 2.0}),
                10,
                0,
            ),
            ("no pro-rata fields", serde_json::json!({"id": 1, "qty_order": 10.0}), 10, 0),
        ];
        for (name, json, quantity, pro_rata) in cases {
            let line = read(json);
            assert_eq!(
                (line.quantity, line.pro_rata),
                (Decimal::from(quantity), Decimal::from(pro_rata)),
                "{name}"
            );
        }
    }

    #[test]
    fn the_fingerprint_sees_a_changed_quantity_but_not_the_order_of_lines() {
        let a = serde_json::json!({"id": 1, "qty_order": 3.0, "note": "x"});
        let b = serde_json::json!({"id": 2, "qty_order": 5.0});
        assert_eq!(fingerprint(&[a.clone(), b.clone()]), fingerprint(&[b.clone(), a.clone()]));
        let changed = serde_json::json!({"id": 2, "qty_order": 6.0});
        assert_ne!(fingerprint(&[a.clone(), b]), fingerprint(&[a.clone(), changed]));
        assert_ne!(
            fingerprint(std::slice::from_ref(&a)),
            fingerprint(&[a.clone(), serde_json::json!({"id": 3})])
        );
    }
}
