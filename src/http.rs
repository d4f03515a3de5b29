//! The one HTTP path every client uses: user agent, timeouts, a response size cap, typed
//! errors that name the service, method and URL (never a secret: keys travel only in
//! headers marked sensitive), retries with backoff and `Retry-After` for requests that are
//! safe to repeat, and a per-host rate limiter shared by all worker threads.

use reqwest::Method;
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// Loopback hosts may use plain http (the sandbox, an SSH tunnel).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How the one HTTP path behaves (`[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    pub workers: usize,
    pub connect_timeout_secs: u64,
    pub timeout_secs: u64,
    pub max_attempts: u32,
    pub max_response_bytes: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            workers: 8,
            connect_timeout_secs: 10,
            timeout_secs: 60,
            max_attempts: 4,
            max_response_bytes: 32 * 1024 * 1024,
        }
    }
}

pub const USER_AGENT: &str = concat!("recon/", env!("CARGO_PKG_VERSION"));

/// The longest `Retry-After` recon waits for; a longer one fails the request clearly.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{service}: {method} {url}: {reason}")]
    Transport { service: String, method: Method, url: String, reason: String },
    #[error("{service}: {method} {url} answered {status}{}", detail_suffix(.detail))]
    Status {
        service: String,
        method: Method,
        url: String,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "{service}: {method} {url}: response larger than the {limit_mb} MB limit ([http] max_response_mb)"
    )]
    TooLarge { service: String, method: Method, url: String, limit_mb: u64 },
    #[error("{service}: {url}: unexpected response at `{path}`: {message}")]
    Decode { service: String, url: String, path: String, message: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() { String::new() } else { format!(": {detail}") }
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, and writes that set an absolute value (PATCH quantity = 12).
    Safe,
    /// Creates: only repeated when the server surely did not act (429, connection refused).
    /// The caller makes them safe by looking up state before trying again.
    Unsafe,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub repeat: Repeat,
}

impl Request {
    pub fn get(service: &str, url: Url) -> Request {
        Request {
            service: service.to_string(),
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: None,
            repeat: Repeat::Safe,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    /// A header that carries a credential: never logged, stripped by reqwest on redirects.
    pub fn secret_header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    pub fn json_body(mut self, method: Method, body: &serde_json::Value, repeat: Repeat) -> Request {
        self.method = method;
        self.body = Some(body.to_string().into_bytes());
        self.repeat = repeat;
        self.headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self, service: &str) -> Result<T, HttpError> {
        decode_json(service, &self.url, &self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Decode JSON, naming the path of the field that did not fit (`organizations[3].id`).
pub fn decode_json<T: DeserializeOwned>(service: &str, url: &Url, body: &[u8]) -> Result<T, HttpError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let looks_like_html = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
        let message = if looks_like_html {
            "expected JSON but got an HTML page (a proxy, a login page or a wrong base_url?)".to_string()
        } else {
            inner.to_string()
        };
        HttpError::Decode { service: service.to_string(), url: display_url(url), path, message }
    })
}

/// Counters for the `-v` summary of a run (how many requests, retries and 429s it took).
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
}

/// One host's adaptive rate (`rate::RateController`), shared by every worker, and what it
/// met, for the run record.
#[derive(Debug)]
struct PacedHost {
    service: String,
    controller: Mutex<crate::rate::RateController>,
    throttled: AtomicU64,
}

impl PacedHost {
    fn controller(&self) -> std::sync::MutexGuard<'_, crate::rate::RateController> {
        match self.controller.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Sleep until this request's slot. A 429 that arrives while it waits (another worker's)
    /// pauses it too: it takes a new slot after the pause instead of meeting a 429 itself.
    fn wait(&self) {
        loop {
            let slot = self.controller().reserve(Instant::now());
            let now = Instant::now();
            if slot > now {
                std::thread::sleep(slot - now);
            }
            if self.controller().paused_until(Instant::now()).is_none() {
                return;
            }
        }
    }
}

/// A request that keeps meeting 429s gives up after this many (each waited out).
const MAX_THROTTLED: u32 = 40;

pub struct Http {
    client: Client,
    settings: HttpSettings,
    limiters: Mutex<HashMap<String, Arc<PacedHost>>>,
    stats: HttpStats,
    /// Hosts that answered a 2xx with an HTML page: said once per host, not per request.
    html_hosts: Mutex<std::collections::HashSet<String>>,
    /// Where the requests of a service with an hourly budget are counted: in the database
    /// across processes (`with_hour_log`), else in this process alone.
    hour_log: Arc<dyn HourLog>,
}

/// The requests sent to a service in the last hour by every recon on one database: a budget
/// per rolling hour (Autotask's `requests_per_hour`) holds across processes only if each
/// request is counted where the next process sees it.
pub trait HourLog: Send + Sync + std::fmt::Debug {
    /// Count one request to `service` leaving at `now` if fewer than `limit` left in the hour
    /// before; else count nothing and answer the times of those that did, oldest first.
    fn take(
        &self,
        service: &str,
        limit: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Vec<chrono::DateTime<chrono::Utc>>>, String>;
    /// The times of the requests sent to `service` in the hour before `now`, oldest first.
    fn sent(
        &self,
        service: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<chrono::DateTime<chrono::Utc>>, String>;
}

/// The requests of this process alone: the log of a command run before the database exists.
#[derive(Debug, Default)]
pub struct ProcessHourLog {
    sent: Mutex<HashMap<String, std::collections::VecDeque<chrono::DateTime<chrono::Utc>>>>,
}

impl HourLog for ProcessHourLog {
    fn take(
        &self,
        service: &str,
        limit: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Vec<chrono::DateTime<chrono::Utc>>>, String> {
        let mut all = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let sent = all.entry(service.to_string()).or_default();
        while sent.front().is_some_and(|t| *t <= now - chrono::Duration::hours(1)) {
            sent.pop_front();
        }
        if sent.len() < limit as usize {
            sent.push_back(now);
            return Ok(None);
        }
        Ok(Some(sent.iter().copied().collect()))
    }

    fn sent(
        &self,
        service: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<chrono::DateTime<chrono::Utc>>, String> {
        let all = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let sent = all.get(service).into_iter().flatten();
        Ok(sent.copied().filter(|t| *t > now - chrono::Duration::hours(1)).collect())
    }
}

/// When `needed` more requests fit a budget of `limit` per rolling hour, given the times
/// `sent` (oldest first) of those sent in the hour before `now`: now if they fit, else when
/// enough of the oldest are an hour old; `None` when `needed` exceeds the whole budget.
pub fn free_at(
    sent: &[chrono::DateTime<chrono::Utc>],
    limit: u32,
    needed: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let limit = u64::from(limit);
    if needed > limit {
        return None;
    }
    let over = (sent.len() as u64 + needed).saturating_sub(limit);
    if over == 0 {
        return Some(now);
    }
    sent.get(over as usize - 1).map(|t| *t + chrono::Duration::hours(1))
}

impl Http {
    pub fn new(settings: HttpSettings) -> Result<Http, HttpError> {
        let client = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .timeout(Duration::from_secs(settings.timeout_secs))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Follow a redirect only within the origin (scheme, host and port) of the first
                // URL: reqwest strips `Authorization` on a cross-origin hop, but not the other
                // headers that carry keys (`api_key`, `clientId`), and an https -> http hop
                // would send them in clear.
                let same_origin = attempt.previous().first().map(Url::origin) == Some(attempt.url().origin());
                if !same_origin {
                    let to =
                        format!("{}://{}", attempt.url().scheme(), attempt.url().host_str().unwrap_or(""));
                    attempt.error(format!(
                        "refused a redirect to {to}: recon never sends credentials to another host"
                    ))
                } else if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| HttpError::Transport {
                service: "http".into(),
                method: Method::GET,
                url: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Http {
            client,
            settings,
            limiters: Mutex::new(HashMap::new()),
            stats: HttpStats::default(),
            html_hosts: Mutex::new(std::collections::HashSet::new()),
            hour_log: Arc::new(ProcessHourLog::default()),
        })
    }

    /// Count the requests of services with an hourly budget in `log` (the database).
    pub fn with_hour_log(mut self, log: Arc<dyn HourLog>) -> Http {
        self.hour_log = log;
        self
    }

    pub fn hour_log(&self) -> &Arc<dyn HourLog> {
        &self.hour_log
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Pace requests to the host of `url` adaptively, at most `per_minute`, shared by every
    /// caller. A host already paced at that ceiling keeps what its controller learnt.
    pub fn limit_host(&self, service: &str, url: &Url, per_minute: u32) {
        self.limit_host_waiting(service, url, per_minute, None);
    }

    /// `limit_host`, for a host whose 429s may lack `Retry-After` and whose window is long:
    /// such a 429 pauses every worker `wait` (doubling once within an episode).
    pub fn limit_host_waiting(&self, service: &str, url: &Url, per_minute: u32, wait: Option<Duration>) {
        let key = host_key(url);
        let mut limiters = match self.limiters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let same =
            limiters.get(&key).is_some_and(|l| l.controller().ceiling() == f64::from(per_minute.max(1)));
        if !same {
            limiters.insert(
                key,
                Arc::new(PacedHost {
                    service: service.to_string(),
                    controller: Mutex::new(match wait {
                        Some(wait) => crate::rate::RateController::new(per_minute, Instant::now())
                            .with_default_wait(wait),
                        None => crate::rate::RateController::new(per_minute, Instant::now()),
                    }),
                    throttled: AtomicU64::new(0),
                }),
            );
        }
    }

    /// Each paced host's rate: for `-v`, the run record and `history RUN`.
    pub fn rates(&self) -> Vec<crate::rate::HostRate> {
        let limiters = match self.limiters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out: Vec<crate::rate::HostRate> = limiters
            .values()
            .map(|l| {
                let c = l.controller();
                crate::rate::HostRate {
                    service: l.service.clone(),
                    ceiling: c.ceiling().round() as u32,
                    settled: c.rate().round() as u32,
                    lowest: c.lowest().round() as u32,
                    throttled: l.throttled.load(Ordering::Relaxed),
                }
            })
            .collect();
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }

    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.stats.requests.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            throttled: self.stats.throttled.load(Ordering::Relaxed),
        }
    }

    fn limiter(&self, url: &Url) -> Option<Arc<PacedHost>> {
        let limiters = match self.limiters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        limiters.get(&host_key(url)).cloned()
    }

    /// Send a request, retrying where that is safe, and return a 2xx response or an error.
    pub fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let limiter = self.limiter(&request.url);
        let mut attempt: u32 = 1;
        let mut throttled: u32 = 0;
        loop {
            if let Some(limiter) = &limiter {
                limiter.wait();
            }
            let started = Instant::now();
            let outcome = self.send_once(request);
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            match &outcome {
                Ok(r) => tracing::debug!(
                    "{} {} {} -> {} in {:?}",
                    request.service,
                    request.method,
                    display_url(&request.url),
                    r.status,
                    started.elapsed()
                ),
                Err(e) => tracing::debug!("{e} after {:?}", started.elapsed()),
            }
            // The host's controller learns from every answer: a 429 cuts its rate, anything
            // else ends an episode of 429s. No answer at all says nothing about the rate.
            if let Some(limiter) = &limiter {
                match &outcome {
                    Err(Attempt::Failed(HttpError::Status { status: 429, retry_after, .. })) => {
                        limiter.throttled.fetch_add(1, Ordering::Relaxed);
                        limiter.controller().throttled(Instant::now(), *retry_after);
                    }
                    Err(Attempt::NotSent(_) | Attempt::MaybeSent(_)) => {}
                    _ => limiter.controller().succeeded(Instant::now()),
                }
            }
            let error = match outcome {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            // A 429 means the server did not act: the request is sent again (any request,
            // a create too) and the try is not counted against max_attempts, so none is lost
            // to throttling. A paced host's next slot already waits out Retry-After.
            if let Attempt::Failed(HttpError::Status { status: 429, retry_after, .. }) = &error {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                throttled += 1;
                let too_long = retry_after.is_some_and(|w| w > MAX_RETRY_AFTER);
                if throttled < MAX_THROTTLED && !too_long {
                    let wait = match (&limiter, retry_after) {
                        (Some(_), _) => Duration::ZERO,
                        (None, Some(wait)) => *wait,
                        (None, None) => backoff(throttled),
                    };
                    tracing::info!(
                        "{error}; sending again in {:.1}s (429 number {throttled})",
                        wait.as_secs_f64()
                    );
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(wait);
                    continue;
                }
                return Err(error.into());
            }
            let Some(wait) = self.retry_wait(request, &error, attempt) else {
                return Err(match error {
                    Attempt::Malformed(HttpError::Decode { service, url, path, message }) if attempt > 1 => {
                        let message =
                            format!("{message} (the answer was malformed on all {attempt} attempts)");
                        HttpError::Decode { service, url, path, message }
                    }
                    other => other.into(),
                });
            };
            tracing::info!(
                "{error}; retrying in {:.1}s (attempt {} of {})",
                wait.as_secs_f64(),
                attempt + 1,
                self.settings.max_attempts
            );
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// How long to wait before trying again, or None when the error is final.
    fn retry_wait(&self, request: &Request, error: &Attempt, attempt: u32) -> Option<Duration> {
        if attempt >= self.settings.max_attempts {
            return None;
        }
        let backoff = backoff(attempt);
        match error {
            Attempt::Failed(HttpError::Status { status, .. })
                if matches!(status, 500 | 502 | 503 | 504) && request.repeat == Repeat::Safe =>
            {
                Some(backoff)
            }
            // A read answered 200 with a body cut short or an HTML page is usually a proxy
            // or a dropped connection: ask again, like a 5xx.
            Attempt::Malformed(_) if request.method == Method::GET => Some(backoff),
            Attempt::NotSent(_) => Some(backoff),
            Attempt::MaybeSent(_) if request.repeat == Repeat::Safe => Some(backoff),
            _ => None,
        }
    }

    /// A 2xx answered with an HTML page is a proxy or a sign-in page in front of the API:
    /// warned once per host, with what came back.
    fn note_html(&self, request: &Request, body: &[u8]) {
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
        if !text.trim_start().starts_with('<') {
            return;
        }
        let host = host_key(&request.url);
        let first = match self.html_hosts.lock() {
            Ok(mut seen) => seen.insert(host.clone()),
            Err(poisoned) => poisoned.into_inner().insert(host.clone()),
        };
        if first {
            let title = text
                .split_once("<title>")
                .and_then(|(_, rest)| rest.split_once("</title>"))
                .map(|(t, _)| format!(" titled {:?}", t.trim()))
                .unwrap_or_default();
            tracing::warn!(
                "{}: a proxy or sign-in page answered instead of {} (an HTML page{title}, not JSON); \
                 recon asks again where that is safe; if it goes on, check the network between this machine and {}",
                request.url.host_str().unwrap_or("the host"),
                request.service,
                request.service
            );
        }
    }

    fn send_once(&self, request: &Request) -> Result<Response, Attempt> {
        let mut builder = self.client.request(request.method.clone(), request.url.clone());
        builder = builder.headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let transport = |e: reqwest::Error| HttpError::Transport {
            service: request.service.clone(),
            method: request.method.clone(),
            url: display_url(&request.url),
            reason: describe_reqwest_error(&e),
        };
        let response = builder.send().map_err(|e| {
            if e.is_connect() {
                Attempt::NotSent(transport(e))
            } else if e.is_redirect() {
                // A refused redirect is final: asking again gets the same redirect.
                Attempt::Failed(transport(e))
            } else {
                Attempt::MaybeSent(transport(e))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let limit = self.settings.max_response_bytes;
        let mut body = Vec::new();
        response.take(limit + 1).read_to_end(&mut body).map_err(|e| {
            Attempt::MaybeSent(HttpError::Transport {
                service: request.service.clone(),
                method: request.method.clone(),
                url: display_url(&request.url),
                reason: format!("reading the response failed: {e}"),
            })
        })?;
        if body.len() as u64 > limit {
            return Err(Attempt::Failed(HttpError::TooLarge {
                service: request.service.clone(),
                method: request.method.clone(),
                url: display_url(&request.url),
                limit_mb: limit / (1024 * 1024),
            }));
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Failed(HttpError::Status {
                service: request.service.clone(),
                method: request.method.clone(),
                url: display_url(&request.url),
                status,
                detail: error_detail(&body),
                retry_after: headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
            }));
        }
        self.note_html(request, &body);
        // Every GET recon sends expects JSON: a 2xx body that is not JSON at all (cut short,
        // an HTML sign-in page) is malformed, and retried. A body that is JSON of the wrong
        // shape is the caller's to judge: asking again gets the same answer.
        if request.method == Method::GET
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body)
        {
            let malformed = decode_json::<serde::de::IgnoredAny>(&request.service, &url, &body)
                .err()
                .unwrap_or_else(|| HttpError::Decode {
                    service: request.service.clone(),
                    url: display_url(&url),
                    path: ".".to_string(),
                    message: e.to_string(),
                });
            return Err(Attempt::Malformed(malformed));
        }
        Ok(Response { status, headers, body, url })
    }
}

/// What one attempt came to; tells retry logic whether the server may have acted.
enum Attempt {
    /// The connection was never made: the server did nothing.
    NotSent(HttpError),
    /// Timed out or reset mid-way: the server may have acted.
    MaybeSent(HttpError),
    /// The server answered.
    Failed(HttpError),
    /// The server answered 2xx to a read, with a body that is not JSON.
    Malformed(HttpError),
}

impl From<Attempt> for HttpError {
    fn from(a: Attempt) -> HttpError {
        match a {
            Attempt::NotSent(e) | Attempt::MaybeSent(e) | Attempt::Failed(e) | Attempt::Malformed(e) => e,
        }
    }
}

impl std::ops::Deref for Attempt {
    type Target = HttpError;
    fn deref(&self) -> &HttpError {
        match self {
            Attempt::NotSent(e) | Attempt::MaybeSent(e) | Attempt::Failed(e) | Attempt::Malformed(e) => e,
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&**self, f)
    }
}

fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

/// The URL as shown in errors and logs: no user info (a URL never carries a key in recon,
/// but a user could paste one into base_url).
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at 20 s.
fn backoff(attempt: u32) -> Duration {
    let base_ms = 500u64.saturating_mul(1 << attempt.min(6).saturating_sub(1)).min(20_000);
    Duration::from_millis(base_ms / 2 + fastrand::u64(0..=base_ms / 2))
}

/// `Retry-After` is either seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A short, single-line summary of an error body: the `message` of a JSON error if there is
/// one, else the start of the text. Bodies never carry our keys.
fn error_detail(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        // A validation answer names each refused field: say which and why, in plain words.
        let fields: Vec<String> = value
            .get("errors")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let message = e.get("message").and_then(|m| m.as_str()).or_else(|| e.as_str())?;
                Some(match e.get("field").and_then(|f| f.as_str()) {
                    Some(field) => format!("`{field}`: {message}"),
                    None => message.to_string(),
                })
            })
            .collect();
        if !fields.is_empty() {
            return truncate(&fields.join("; "), 400);
        }
        // ConnectWise `message`; Halo `errorMessage`, .NET `Message`, OAuth `error_description`.
        for key in ["message", "errorMessage", "Message", "error_description", "detail", "error"] {
            if let Some(text) = value.get(key).and_then(|v| v.as_str()) {
                return truncate(text, 200);
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('<') {
        return "an HTML page".to_string();
    }
    truncate(text.split_whitespace().collect::<Vec<_>>().join(" ").as_str(), 200)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(max).collect::<String>())
    }
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    // reqwest's own message repeats the URL; keep only its innermost cause.
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut cause = None;
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(c) => format!("{kind} ({c})"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_at_is_when_enough_of_the_oldest_requests_are_an_hour_old() {
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap().to_utc();
        let at = |minutes: i64| t0 + chrono::Duration::minutes(minutes);
        let sent = [at(0), at(10), at(20), at(30)];
        let now = at(40);
        let cases = [
            ("fits now", &sent[..], 6, 2, Some(now)),
            ("nothing sent", &[][..], 6, 6, Some(now)),
            ("one over: when the oldest turns an hour old", &sent, 5, 2, Some(at(60))),
            ("three over: when the third oldest does", &sent, 4, 3, Some(at(80))),
            ("more than the whole budget: never", &sent, 4, 5, None),
        ];
        for (name, sent, limit, needed, want) in cases {
            assert_eq!(free_at(sent, limit, needed, now), want, "{name}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90), "{d:?}");
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            let cap = 500u64 * (1 << (attempt.min(6) - 1));
            assert!(d.as_millis() as u64 <= cap.min(20_000), "{attempt}: {d:?}");
            assert!(d.as_millis() as u64 >= cap.min(20_000) / 2, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn error_detail_prefers_the_json_message() {
        assert_eq!(
            error_detail(br#"{"code":"Unauthorized","message":"UserNotAuthenticated"}"#),
            "UserNotAuthenticated"
        );
        assert_eq!(error_detail(b"<html><body>502 Bad Gateway</body></html>"), "an HTML page");
        assert_eq!(error_detail(b"plain\n text"), "plain text");
        let refused = br#"{"code":"InvalidObject","message":"agreementAddition object is invalid","errors":[{"code":"InvalidField","message":"Since this period has already been invoiced.","resource":"agreementAddition","field":"effectiveDate"}]}"#;
        assert_eq!(error_detail(refused), "`effectiveDate`: Since this period has already been invoiced.");
        assert_eq!(error_detail(br#"{"errors":["Contract not found"]}"#), "Contract not found");
        // Halo's shapes: {resultCode, errorMessage}, .NET {ClassName, Message}, OAuth errors.
        assert_eq!(
            error_detail(br#"{"resultCode":5,"errorMessage":"Invoice is locked"}"#),
            "Invoice is locked"
        );
        assert_eq!(error_detail(br#"{"ClassName":"System.Exception","Message":"No access"}"#), "No access");
        assert_eq!(
            error_detail(br#"{"error":"invalid_client","error_description":"The client secret is wrong"}"#),
            "The client secret is wrong"
        );
    }

    #[test]
    fn decode_errors_name_the_field_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Org {
            id: u64,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Page {
            organizations: Vec<Org>,
        }
        let url = Url::parse("https://api.example.com/v1/organizations").unwrap();
        let err =
            decode_json::<Page>("huntress", &url, br#"{"organizations":[{"id":1},{"id":"x"}]}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("organizations[1].id"), "{text}");
        assert!(text.starts_with("huntress: https://api.example.com/v1/organizations"), "{text}");
        let err = decode_json::<Page>("huntress", &url, b"<!DOCTYPE html><html>").unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
    }

    #[test]
    fn display_url_drops_user_info() {
        let url = Url::parse("https://user:pass@api.example.com/x?page=2").unwrap();
        assert_eq!(display_url(&url), "https://api.example.com/x?page=2");
    }

    /// A loopback server answering a fixed script, one answer per request (the last one
    /// repeats), recording each request's method and headers.
    struct Scripted {
        url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
        _thread: std::thread::JoinHandle<()>,
    }

    type Answer = (u16, Vec<(&'static str, String)>, String);
    /// A request's method and its headers (names lower-cased).
    type Seen = (String, HashMap<String, String>);

    fn scripted(script: Vec<Answer>) -> Scripted {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while let Ok(Some(request)) = server.recv_timeout(Duration::from_secs(20)) {
                let headers = request
                    .headers()
                    .iter()
                    .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.to_string()))
                    .collect();
                log.lock().unwrap().push((request.method().as_str().to_string(), headers));
                let (status, extra, body) = script[n.min(script.len() - 1)].clone();
                n += 1;
                let mut response = tiny_http::Response::from_string(body).with_status_code(status);
                for (k, v) in extra {
                    response.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
                }
                let _ = request.respond(response);
            }
        });
        Scripted { url, seen, _thread: thread }
    }

    impl Scripted {
        fn count(&self) -> usize {
            self.seen.lock().unwrap().len()
        }
    }

    fn http(max_attempts: u32) -> Http {
        Http::new(HttpSettings { max_attempts, timeout_secs: 1, ..HttpSettings::default() }).unwrap()
    }

    fn ok() -> Answer {
        (200, vec![], "[]".to_string())
    }

    fn status(code: u16) -> Answer {
        (code, vec![], r#"{"message":"no"}"#.to_string())
    }

    fn post(url: &str, repeat: Repeat) -> Request {
        Request::get("test", Url::parse(url).unwrap()).json_body(Method::POST, &serde_json::json!({}), repeat)
    }

    #[test]
    fn sends_the_user_agent() {
        let server = scripted(vec![ok()]);
        http(1).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap();
        let seen = server.seen.lock().unwrap();
        assert_eq!(seen[0].1.get("user-agent").map(String::as_str), Some(USER_AGENT));
        assert!(USER_AGENT.starts_with("recon/"));
    }

    #[test]
    fn throttling_is_retried_after_retry_after_for_reads_and_writes() {
        let throttled = (429, vec![("Retry-After", "0".to_string())], String::new());
        let server = scripted(vec![throttled.clone(), throttled, ok()]);
        let http = http(4);
        http.send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap();
        assert_eq!(server.count(), 3);
        assert_eq!(http.stats().throttled, 2);
        // A 429 means the server did not act, so even a create is sent again.
        let date = httpdate::fmt_http_date(SystemTime::now());
        let server = scripted(vec![(429, vec![("Retry-After", date)], String::new()), ok()]);
        http.send(&post(&server.url, Repeat::Unsafe)).unwrap();
        assert_eq!(server.count(), 2);
    }

    #[test]
    fn a_retry_after_beyond_the_limit_fails_at_once() {
        let server = scripted(vec![(429, vec![("Retry-After", "3600".to_string())], String::new())]);
        let started = Instant::now();
        let err = http(4).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap_err();
        assert_eq!(err.status(), Some(429));
        assert_eq!(server.count(), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn attempts_are_bounded() {
        let server = scripted(vec![status(503)]);
        let err = http(3).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert_eq!(server.count(), 3);
        // 429s do not use attempts, but a server that never stops saying 429 is given up on.
        let server = scripted(vec![(429, vec![("Retry-After", "0".to_string())], String::new())]);
        let err = http(3).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap_err();
        assert_eq!(err.status(), Some(429));
        assert_eq!(server.count(), MAX_THROTTLED as usize);
    }

    #[test]
    fn server_errors_are_retried_for_safe_requests_only() {
        let server = scripted(vec![status(503), ok()]);
        http(3).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap();
        assert_eq!(server.count(), 2);
        let server = scripted(vec![status(503), ok()]);
        let err = http(3).send(&post(&server.url, Repeat::Unsafe)).unwrap_err();
        assert_eq!((err.status(), server.count()), (Some(503), 1), "a create may have happened");
    }

    #[test]
    fn client_errors_are_never_retried() {
        for code in [400, 401, 403, 404, 409] {
            let server = scripted(vec![status(code), ok()]);
            let err = http(4).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap_err();
            assert_eq!((err.status(), server.count()), (Some(code), 1), "{code}");
            assert!(err.to_string().contains(&format!("answered {code}: no")), "{err}");
        }
    }

    #[test]
    fn redirects_stay_within_the_origin() {
        let elsewhere = scripted(vec![ok()]);
        let server = scripted(vec![(302, vec![("Location", format!("{}/x", elsewhere.url))], String::new())]);
        let request = Request::get("test", Url::parse(&server.url).unwrap()).secret_header("api_key", "k");
        let err = http(4).send(&request).unwrap_err();
        assert!(err.to_string().contains("refused a redirect"), "{err}");
        assert_eq!((server.count(), elsewhere.count()), (1, 0), "not retried, not followed");
        // Within the same origin a redirect is followed (Django's APPEND_SLASH).
        let server = scripted(vec![(301, vec![("Location", "/x/".to_string())], String::new()), ok()]);
        http(1).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap();
        assert_eq!(server.count(), 2);
    }

    #[test]
    fn a_response_over_the_cap_fails_clearly() {
        let server = scripted(vec![(200, vec![], " ".repeat(2 * 1024 * 1024) + "[]")]);
        let http =
            Http::new(HttpSettings { max_response_bytes: 1024 * 1024, ..HttpSettings::default() }).unwrap();
        let err = http.send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap_err();
        assert!(err.to_string().contains("larger than the 1 MB limit ([http] max_response_mb)"), "{err}");
        assert_eq!(server.count(), 1);
    }

    fn nodeware_request(sandbox: &recon_sandbox::Sandbox, method: Method) -> Request {
        let url =
            Url::parse(&format!("{}/api/v4/customers/", sandbox.vendor_url("nodeware").unwrap())).unwrap();
        let mut request = Request::get("nodeware", url)
            .secret_header("authorization", &format!("Bearer {}", recon_sandbox::NODEWARE_KEY));
        request.method = method;
        request
    }

    fn faulty(faults: recon_sandbox::Faults) -> recon_sandbox::Sandbox {
        let faults = recon_sandbox::Faults { servers: vec!["nodeware".into()], ..faults };
        recon_sandbox::Sandbox::start_with(recon_sandbox::SandboxOptions {
            faults,
            ..recon_sandbox::SandboxOptions::default()
        })
        .unwrap()
    }

    fn nodeware_count(sandbox: &recon_sandbox::Sandbox) -> usize {
        sandbox.requests().iter().filter(|r| r.server == "nodeware").count()
    }

    #[test]
    fn resets_are_retried_for_safe_requests_only() {
        let sandbox = faulty(recon_sandbox::Faults { reset_fraction: 1.0, seed: 3, ..Default::default() });
        let err = http(2).send(&nodeware_request(&sandbox, Method::GET)).unwrap_err();
        assert!(matches!(err, HttpError::Transport { .. }), "{err}");
        assert_eq!(nodeware_count(&sandbox), 2);
        // The server may have acted on the lost request: a create is not sent again.
        let mut post = nodeware_request(&sandbox, Method::POST);
        post.repeat = Repeat::Unsafe;
        assert!(http(3).send(&post).is_err());
        assert_eq!(nodeware_count(&sandbox), 3);
    }

    #[test]
    fn a_slow_answer_times_out_and_is_retried() {
        let sandbox = faulty(recon_sandbox::Faults {
            slow_fraction: 1.0,
            slow_delay: Duration::from_millis(1500),
            ..Default::default()
        });
        let started = Instant::now();
        let err = http(2).send(&nodeware_request(&sandbox, Method::GET)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert_eq!(nodeware_count(&sandbox), 2);
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }

    #[test]
    fn truncated_and_html_reads_are_retried_and_the_error_says_so() {
        for faults in [
            recon_sandbox::Faults { truncate_fraction: 1.0, ..Default::default() },
            recon_sandbox::Faults { html_fraction: 1.0, ..Default::default() },
        ] {
            let sandbox = faulty(faults);
            let request = nodeware_request(&sandbox, Method::GET);
            let err = http(3).send(&request).unwrap_err();
            assert!(matches!(err, HttpError::Decode { .. }), "{err}");
            assert!(err.to_string().contains("malformed on all 3 attempts"), "{err}");
            assert_eq!(nodeware_count(&sandbox), 3);
        }
    }

    #[test]
    fn a_malformed_read_that_then_answers_succeeds() {
        let cut = (200, vec![], r#"[{"id": 1, "na"#.to_string());
        let html = (200, vec![], "<!DOCTYPE html><html>Sign in</html>".to_string());
        let server = scripted(vec![cut, html, (200, vec![], r#"[{"id": 1}]"#.to_string())]);
        let response = http(4).send(&Request::get("test", Url::parse(&server.url).unwrap())).unwrap();
        assert_eq!(response.body, br#"[{"id": 1}]"#);
        assert_eq!(server.count(), 3);
    }

    #[test]
    fn a_malformed_answer_to_a_write_is_not_a_reason_to_send_it_again() {
        let server = scripted(vec![(200, vec![], "<html>".to_string())]);
        let response = http(4).send(&post(&server.url, Repeat::Safe)).unwrap();
        assert_eq!(response.body, b"<html>", "the caller settles it; the write is not repeated");
        assert_eq!(server.count(), 1);
    }

    #[test]
    fn a_paced_host_spaces_requests_and_a_429_is_sent_again_without_using_an_attempt() {
        let server = scripted(vec![
            (429, vec![("Retry-After", "1".to_string())], "{}".to_string()),
            (429, vec![("Retry-After", "1".to_string())], "{}".to_string()),
            (200, vec![], "[]".to_string()),
        ]);
        let http = http(2); // two attempts: the 429s must not use them up
        let url = Url::parse(&server.url).unwrap();
        http.limit_host("test", &url, 600);
        let start = Instant::now();
        let response = http.send(&Request::get("test", url.clone())).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(server.count(), 3, "sent again after each 429");
        assert!(
            start.elapsed() >= Duration::from_millis(1900),
            "waited out Retry-After twice: {:?}",
            start.elapsed()
        );
        let rates = http.rates();
        assert_eq!(rates.len(), 1);
        assert_eq!((rates[0].ceiling, rates[0].throttled), (600, 2));
        assert_eq!(rates[0].settled, 432, "540 cut once (0.8): one episode, since no success came between");
    }
}
