//! After a real sync: a short message to a webhook (`[notify]`) when the run needs a human
//! (held lines, failures) or pushed something. The URL is a secret (a Slack or Teams webhook
//! URL is its own credential): it is never printed, logged or stored, and errors name only
//! its host. A message that cannot be delivered is a warning; it never changes what was
//! pushed or the exit code.

use super::Report;
use crate::plan::{ChangeState, RunResult};
use crate::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

crate::text_enum! {
    /// The body the webhook expects.
    pub enum NotifyFormat {
        /// recon's own JSON (README "Notifications"), for a script or an automation tool.
        Json = "json",
        /// A Slack incoming webhook: `{"text": ...}`.
        Slack = "slack",
        /// A Microsoft Teams Workflows webhook: a message with one Adaptive Card.
        Teams = "teams",
    }
}

crate::text_enum! {
    /// What about a run is worth a message.
    pub enum NotifyEvent {
        /// The run left changes held for review.
        Held = "held",
        /// A vendor, an account, a read or a write failed.
        Failed = "failed",
        /// The run pushed at least one change.
        Applied = "applied",
    }
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub url: Secret,
    pub format: NotifyFormat,
    pub on: Vec<NotifyEvent>,
}

/// The events of a finished real run, in `NotifyEvent` order.
pub fn events(r: &Report) -> Vec<NotifyEvent> {
    if r.run.dry_run {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !r.waiting().is_empty() {
        out.push(NotifyEvent::Held);
    }
    if matches!(r.run.result, Some(RunResult::Partial | RunResult::Failed | RunResult::Interrupted)) {
        out.push(NotifyEvent::Failed);
    }
    if r.changes.iter().any(|c| c.state == ChangeState::Applied) {
        out.push(NotifyEvent::Applied);
    }
    out
}

/// The summary in one paragraph, for people.
pub fn summary(r: &Report, report_path: Option<&str>) -> String {
    let c = r.counts();
    let t = r.headline();
    let mut text = format!(
        "recon run {} for {} ({}, {}): {} added, {} updated, {} unchanged, {} held, {} skipped; net monthly revenue {}.",
        r.run.id,
        r.run.period,
        r.kind_text(),
        r.run.result.map_or("unfinished", |res| res.as_str()),
        c.add,
        c.update,
        c.unchanged,
        c.held,
        c.skipped,
        r.amount(t.net, true, "-"),
    );
    let waiting = r.waiting().len();
    if waiting > 0 {
        text.push_str(&format!(
            " {} for review (net {}): run `recon review`.",
            if waiting == 1 { "1 change waits".to_string() } else { format!("{waiting} changes wait") },
            r.amount(r.planned.held_net, true, "-")
        ));
    }
    if !r.details.failed_vendors.is_empty() {
        let names: Vec<&str> = r.details.failed_vendors.keys().map(String::as_str).collect();
        text.push_str(&format!(" Failed vendors: {}.", names.join(", ")));
    }
    let failed_writes = r.failed_writes().len();
    if failed_writes > 0 {
        text.push_str(&format!(" {} failed.", crate::output::wording::plural(failed_writes, "write")));
    }
    if let Some(path) = report_path {
        text.push_str(&format!(" Report: {path}"));
    }
    text
}

/// The body to post in `format`.
pub fn message(r: &Report, format: NotifyFormat, events: &[NotifyEvent], report_path: Option<&str>) -> Value {
    let text = summary(r, report_path);
    let c = r.counts();
    match format {
        NotifyFormat::Json => json!({
            "recon_version": env!("CARGO_PKG_VERSION"),
            "events": events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "text": text,
            "run_id": r.run.id,
            "period": r.run.period.to_string(),
            "kind": r.kind_text(),
            "result": r.run.result.map(|res| res.as_str()),
            "counts": c,
            "currency": r.currency(),
            "net": crate::plan::NetAmount(r.headline().net),
            "held": r.waiting().len(),
            "held_net": crate::plan::NetAmount(r.planned.held_net),
            "failed_vendors": r.details.failed_vendors,
            "failed_writes": r.failed_writes().len(),
            "report": report_path,
        }),
        NotifyFormat::Slack => json!({ "text": slack_escape(&text) }),
        NotifyFormat::Teams => {
            let mut facts = vec![
                json!({"title": "Period", "value": r.run.period.to_string()}),
                json!({"title": "Result", "value": r.run.result.map_or("unfinished", |res| res.as_str())}),
                json!({"title": "Net monthly revenue", "value": r.amount(r.headline().net, true, "-")}),
                json!({"title": "Held for review", "value": c.held.to_string()}),
            ];
            if !r.details.failed_vendors.is_empty() {
                let names: Vec<&str> = r.details.failed_vendors.keys().map(String::as_str).collect();
                facts.push(json!({"title": "Failed vendors", "value": names.join(", ")}));
            }
            if let Some(path) = report_path {
                facts.push(json!({"title": "Report", "value": path}));
            }
            teams_card(&format!("recon: {} run {}", r.run.period, r.run.id), &text, Some(facts))
        }
    }
}

/// The body that tells of a month's audit whose leak is above `[audit] notify_above`.
pub fn audit_message(
    format: NotifyFormat,
    text: &str,
    period: crate::period::Period,
    t: &crate::audit::Totals,
) -> Value {
    match format {
        NotifyFormat::Json => json!({
            "recon_version": env!("CARGO_PKG_VERSION"),
            "events": ["audit_leak"],
            "text": text,
            "period": period.to_string(),
            "totals": t,
        }),
        NotifyFormat::Slack => json!({ "text": slack_escape(text) }),
        NotifyFormat::Teams => teams_card(&format!("recon: audit of {period}"), text, None),
    }
}

/// A Teams message: an Adaptive Card with a title, the text and, when given, facts.
fn teams_card(title: &str, text: &str, facts: Option<Vec<Value>>) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": title}),
        json!({"type": "TextBlock", "wrap": true, "text": text}),
    ];
    if let Some(facts) = facts {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// Slack reads `&`, `<` and `>` as markup: a customer named `<!channel>` must stay text.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Post `body` to the webhook. The error says what went wrong and the URL's host only.
/// Sent at most twice, and again only when it surely did not arrive (no connection, 429, 503).
pub fn post(settings: &NotifySettings, body: &Value, connect_timeout: Duration) -> Result<(), String> {
    let url =
        url::Url::parse(settings.url.expose()).map_err(|_| "the webhook URL is not a URL".to_string())?;
    let host = url.host_str().unwrap_or("?").to_string();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("recon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the HTTP client could not start: {}", e.without_url()))?;
    let mut last = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        match client.post(url.clone()).json(body).send() {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status().as_u16();
                last = format!("the webhook at {host} answered {status}");
                if !matches!(status, 429 | 503) {
                    break;
                }
            }
            Err(e) => {
                let connect = e.is_connect();
                last = format!("the webhook at {host} could not be reached: {}", e.without_url());
                if !connect {
                    break;
                }
            }
        }
    }
    Err(last)
}
