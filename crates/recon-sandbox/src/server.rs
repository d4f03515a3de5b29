//! HTTP plumbing shared by every fake service: a tiny_http server on an OS-assigned
//! loopback port, a small pool of worker threads, fault injection, latency and the request
//! log. Services only turn an [`Exchange`] into a [`Reply`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Faults, RecordedRequest};

/// Requests bigger than this are refused: the sandbox never needs them and a runaway
/// client should not exhaust memory in a test.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// Lock a mutex, recovering the data if a worker panicked while holding it: the sandbox
/// state is plain data, and one failed request must not take every later test down.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request as the services see it.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub method: String,
    /// Percent-decoded path, without the query.
    pub path: String,
    /// Decoded query pairs in their original order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `http://host:port` as the client addressed us, for absolute `Link` URLs.
    pub origin: String,
}

impl Exchange {
    /// Header value by case-insensitive name (HTTP header names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Query parameter by case-insensitive name (ConnectWise accepts `pagesize` as well).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The absolute URL of this request with `name` set to `value` (replaced in place if
    /// present, appended otherwise); every other parameter is kept, as real Link headers do.
    pub fn url_with(&self, name: &str, value: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut replaced = false;
        for (k, v) in &self.query {
            if k.eq_ignore_ascii_case(name) {
                if !replaced {
                    query.append_pair(k, value);
                    replaced = true;
                }
            } else {
                query.append_pair(k, v);
            }
        }
        if !replaced {
            query.append_pair(name, value);
        }
        format!("{}{}?{}", self.origin, encode_path(&self.path), query.finish())
    }
}

/// What a service answers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// A request handler for one fake service.
pub(crate) type Handler = Arc<dyn Fn(&Exchange) -> Reply + Send + Sync>;

/// Builds the body of a throttling answer in the service's own error shape.
pub(crate) type ThrottleBody = fn(retry_after_secs: u64) -> Value;

/// Everything a worker needs; shared by the workers of one server.
struct ServerContext {
    name: String,
    handler: Handler,
    throttle_body: ThrottleBody,
    latency: Duration,
    fault_state: Mutex<FaultState>,
    log: Arc<Mutex<Vec<RecordedRequest>>>,
    addr: SocketAddr,
    gate: Gate,
}

/// Holds writes that arrive while it is closed, before the service acts on them: a test
/// kills recon with a write at a known point (received, not yet acted on), then lets the
/// service act on it (it lands after the client died) or drops it (it never arrived).
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    opened: std::sync::Condvar,
}

#[derive(Default)]
struct GateState {
    closed: bool,
    /// Only writes whose path or body contains this are held (all writes when empty).
    only: String,
    held: usize,
    /// When opened: whether the held writes are acted on (else dropped unanswered).
    act: bool,
}

struct FaultState {
    /// The faults in force for this server (`None` when `Faults::servers` leaves it out).
    faults: Option<Faults>,
    rng: fastrand::Rng,
    /// Times of the requests admitted during the last minute, oldest first.
    window: VecDeque<Instant>,
}

/// A running fake service. Dropping it stops the workers and closes the port.
pub(crate) struct RunningServer {
    server: Arc<tiny_http::Server>,
    context: Arc<ServerContext>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

pub(crate) struct ServerSpec {
    pub name: String,
    pub handler: Handler,
    pub throttle_body: ThrottleBody,
    pub latency: Duration,
    pub faults: Faults,
    pub workers: usize,
}

impl RunningServer {
    pub fn start(spec: ServerSpec, log: Arc<Mutex<Vec<RecordedRequest>>>) -> io::Result<RunningServer> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("sandbox server has no IP address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let context = Arc::new(ServerContext {
            fault_state: Mutex::new(FaultState::new(&spec.name, spec.faults)),
            name: spec.name,
            handler: spec.handler,
            throttle_body: spec.throttle_body,
            latency: spec.latency,
            log,
            addr,
            gate: Gate::default(),
        });
        let mut running =
            RunningServer { server, context: Arc::clone(&context), workers: Vec::new(), stop, addr };
        for i in 0..spec.workers.max(1) {
            let server = Arc::clone(&running.server);
            let stop = Arc::clone(&running.stop);
            let context = Arc::clone(&context);
            let handle = std::thread::Builder::new()
                .name(format!("sandbox-{}-{i}", context.name))
                .spawn(move || worker(&server, &stop, &context))?;
            running.workers.push(handle);
        }
        Ok(running)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Hold every write (POST, PUT, PATCH, DELETE) whose path or body contains `only` that arrives
    /// from now on, unacted on.
    pub fn close_gate(&self, only: &str) {
        let mut gate = lock(&self.context.gate.state);
        gate.closed = true;
        gate.only = only.to_string();
    }

    /// How many writes the closed gate holds.
    pub fn held_writes(&self) -> usize {
        lock(&self.context.gate.state).held
    }

    /// Open the gate: the held writes are acted on (`act`) or dropped unanswered, as if they
    /// never arrived.
    pub fn open_gate(&self, act: bool) {
        let mut gate = lock(&self.context.gate.state);
        gate.closed = false;
        gate.act = act;
        self.context.gate.opened.notify_all();
    }

    /// Replace the faults in force (and restart their random stream and rate window).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.context.fault_state) = FaultState::new(&self.context.name, faults);
    }

    /// Change the admitted requests per rolling window, keeping the window's history (as a
    /// PSA does when another integration starts sharing it).
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        if let Some(faults) = lock(&self.context.fault_state).faults.as_mut() {
            faults.requests_per_minute = per_minute;
        }
    }
}

impl FaultState {
    fn new(server: &str, faults: Faults) -> FaultState {
        let applies = faults.servers.is_empty() || faults.servers.iter().any(|s| s == server);
        FaultState {
            rng: fastrand::Rng::with_seed(faults.seed),
            window: VecDeque::new(),
            faults: applies.then_some(faults),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A worker waiting at a closed gate would never return to be joined.
        self.open_gate(false);
        // Each unblock wakes exactly one thread blocked in recv().
        for _ in &self.workers {
            self.server.unblock();
        }
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(server: &tiny_http::Server, stop: &AtomicBool, context: &ServerContext) {
    loop {
        match server.recv() {
            Ok(request) => serve(context, request),
            // recv fails when unblocked (shutdown) or on a broken accept; only the first ends us.
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(_) => continue,
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

fn serve(context: &ServerContext, mut request: tiny_http::Request) {
    let path_and_query = request.url().to_string();
    let method = request.method().as_str().to_uppercase();
    let (reply, after) = match read_exchange(context, &mut request, &method, &path_and_query) {
        Ok(exchange) if !pass_gate(&context.gate, &exchange) => return,
        Ok(exchange) => match injected_fault(context, &method) {
            Some(Fault::Instead(name, reply)) => (reply, Some((name, Duration::ZERO))),
            Some(fault) => ((context.handler)(&exchange), Some((fault.name(), fault.delay()))),
            None => ((context.handler)(&exchange), None),
        },
        Err(message) => (Reply::json(400, &serde_json::json!({ "message": message })), None),
    };
    if !context.latency.is_zero() {
        std::thread::sleep(context.latency);
    }
    // Recorded before answering so a test that inspects the log right after its call
    // returns always sees the request.
    lock(&context.log).push(RecordedRequest {
        server: context.name.clone(),
        method,
        path_and_query,
        status: reply.status,
        fault: after.map(|(name, _)| name),
        at: Instant::now(),
    });
    let mut body = reply.body.into_bytes();
    match after {
        Some(("slow", delay)) => std::thread::sleep(delay),
        Some(("truncate", _)) => body.truncate(body.len() / 2),
        Some(("server-error-after", _)) => {
            let failed = serde_json::json!({ "code": "ServerError", "message": "Injected sandbox fault after acting" });
            answer_and_close(request, 500, &[], failed.to_string().as_bytes());
            return;
        }
        Some(("reset", _)) => {
            let cut_early = lock(&context.fault_state).rng.bool();
            broken_answer(request, reply.status, &body, cut_early);
            return;
        }
        _ => {}
    }
    answer_and_close(request, reply.status, &reply.headers, &body);
}

/// Wait while the gate is closed; whether the write goes on to the service.
fn pass_gate(gate: &Gate, exchange: &Exchange) -> bool {
    if !["POST", "PUT", "PATCH", "DELETE"].contains(&exchange.method.as_str()) {
        return true;
    }
    let mut state = lock(&gate.state);
    let seen = format!("{} {}", exchange.path, String::from_utf8_lossy(&exchange.body));
    if !state.closed || !seen.contains(state.only.as_str()) {
        return true;
    }
    state.held += 1;
    while state.closed {
        state = gate.opened.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    state.held -= 1;
    state.act
}

/// Write the answer ourselves, with `Connection: close` (tiny_http refuses that header).
///
/// Why: tiny_http 0.12 runs each keep-alive connection on a pooled thread for as long as the
/// client keeps it open, and its pool can lose a wake-up when connections arrive together;
/// a connection then waits in the queue until a thread frees up, which with a client that
/// pools its connections (reqwest) is never, so the request hangs until the client's
/// timeout (seen as 60 s stalls when recon opened eight connections to a fresh server).
/// Closing after each answer frees the thread at once.
fn answer_and_close(request: tiny_http::Request, status: u16, headers: &[(String, String)], body: &[u8]) {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    let mut raw =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        let forbidden = ["content-length", "connection", "transfer-encoding"];
        if forbidden.iter().any(|f| name.eq_ignore_ascii_case(f))
            || name.contains(['\r', '\n'])
            || value.contains(['\r', '\n'])
        {
            continue;
        }
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let mut writer = request.into_writer();
    // The client may have gone away; nothing useful to do about it here.
    let _ =
        writer.write_all(raw.as_bytes()).and_then(|()| writer.write_all(body)).and_then(|()| writer.flush());
}

/// An answer that breaks off: either garbage where the status line should be, or a
/// chunked body whose second chunk header is not a number. Either way the client sees the
/// connection fail after its request was sent, and closes it, as after a reset.
fn broken_answer(request: tiny_http::Request, status: u16, body: &[u8], cut_early: bool) {
    let mut writer = request.into_writer();
    let mut raw = Vec::new();
    if cut_early {
        raw.extend_from_slice(b"\x00\x15\x03 connection reset\r\n\r\n");
    } else {
        let half = &body[..body.len() / 2];
        raw.extend_from_slice(
            format!(
                "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                half.len()
            )
            .as_bytes(),
        );
        raw.extend_from_slice(half);
        raw.extend_from_slice(b"\r\nZZ\r\n");
    }
    let _ = writer.write_all(&raw);
    let _ = writer.flush();
}

fn read_exchange(
    context: &ServerContext,
    request: &mut tiny_http::Request,
    method: &str,
    path_and_query: &str,
) -> Result<Exchange, String> {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES)
        .read_to_end(&mut body)
        .map_err(|e| format!("could not read the request body: {e}"))?;
    let (raw_path, raw_query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let query = url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| context.addr.to_string());
    Ok(Exchange {
        method: method.to_string(),
        path: percent_decode(raw_path),
        query,
        headers,
        body,
        origin: format!("http://{host}"),
    })
}

/// A fault picked for one request.
enum Fault {
    /// Answered instead of the service, which does not act.
    Instead(&'static str, Reply),
    /// The service acts; its answer comes after this delay (beyond the client's timeout).
    Slow(Duration),
    /// The service acts; its answer breaks off.
    Reset,
    /// The service acts; its answer is cut in half.
    Truncate,
    /// The service acts; its answer is replaced by a 500 (a gateway failing on the way back).
    ErrorAfter,
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Instead(name, _) => name,
            Fault::Slow(_) => "slow",
            Fault::Reset => "reset",
            Fault::Truncate => "truncate",
            Fault::ErrorAfter => "server-error-after",
        }
    }

    fn delay(&self) -> Duration {
        match self {
            Fault::Slow(delay) => *delay,
            _ => Duration::ZERO,
        }
    }
}

/// A login page, as a captive proxy or an SSO front door answers in place of the API.
const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><form method=\"post\" action=\"/login\"><input name=\"user\"><input name=\"password\" type=\"password\"></form></body></html>\n";

/// Decide whether this request meets an injected fault. Each kind draws from the seeded
/// stream only when its fraction is set, so adding a kind never changes an older test's draws.
fn injected_fault(context: &ServerContext, method: &str) -> Option<Fault> {
    let mut state = lock(&context.fault_state);
    let faults = state.faults.clone()?;
    if !faults.methods.is_empty() && !faults.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return None;
    }
    if let Some(limit) = faults.requests_per_minute {
        let now = Instant::now();
        let window = faults.rate_window.unwrap_or(Duration::from_secs(60));
        while state.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
            state.window.pop_front();
        }
        if state.window.len() >= limit as usize {
            let wait = state
                .window
                .front()
                .map(|oldest| window.saturating_sub(now.duration_since(*oldest)))
                .unwrap_or(window);
            // Retry-After is whole seconds; round up so a client that honours it succeeds.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Some(Fault::Instead("rate-limit", throttled(context, secs.max(1))));
        }
        state.window.push_back(now);
    }
    let mut hit = |fraction: f64| fraction > 0.0 && state.rng.f64() < fraction;
    if hit(faults.throttle_fraction) {
        let secs = faults.throttle_retry_after.unwrap_or(1);
        return Some(Fault::Instead("throttle", throttled(context, secs)));
    }
    if hit(faults.server_error_fraction) {
        let status = if state.rng.bool() { 500 } else { 503 };
        return Some(Fault::Instead(
            "server-error",
            Reply::json(
                status,
                &serde_json::json!({ "code": "ServerError", "message": "Injected sandbox fault" }),
            ),
        ));
    }
    let html_here =
        faults.html_methods.is_empty() || faults.html_methods.iter().any(|m| m.eq_ignore_ascii_case(method));
    if html_here && hit(faults.html_fraction) {
        let reply = Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            body: LOGIN_PAGE.to_string(),
        };
        return Some(Fault::Instead("html", reply));
    }
    if faults.oversize_bytes > 0 {
        let mut body = " ".repeat(faults.oversize_bytes.saturating_sub(2));
        body.push_str("[]");
        let reply =
            Reply { status: 200, headers: vec![("Content-Type".into(), "application/json".into())], body };
        return Some(Fault::Instead("oversize", reply));
    }
    if hit(faults.slow_fraction) {
        return Some(Fault::Slow(faults.slow_delay));
    }
    if hit(faults.reset_fraction) {
        return Some(Fault::Reset);
    }
    if hit(faults.truncate_fraction) {
        return Some(Fault::Truncate);
    }
    if hit(faults.server_error_after_fraction) {
        return Some(Fault::ErrorAfter);
    }
    None
}

fn throttled(context: &ServerContext, retry_after_secs: u64) -> Reply {
    Reply::json(429, &(context.throttle_body)(retry_after_secs))
        .with_header("Retry-After", retry_after_secs.to_string())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}
