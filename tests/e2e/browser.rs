//! A real headless Chromium, driven over the DevTools protocol: open a file, record every
//! request the page makes, read what it renders, take a screenshot. `.ci/run` installs
//! Chromium from the system's packages; `CHROMIUM` names another binary.

use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events received while waiting for answers, in order.
    events: Vec<Value>,
}

/// What a page did once loaded.
pub struct Rendered {
    /// Every URL the page requested, the page's own included.
    pub requests: Vec<String>,
}

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "the report's browser test needs Chromium: install it (Debian: `apt-get install chromium`; \
         .ci/run does) or point CHROMIUM at one"
    );
}

impl Browser {
    /// Start Chromium headless with an empty profile and a phone-or-desktop `width`.
    pub fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts");
        // Chromium writes the port it chose into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(port) = text.lines().next().and_then(|l| l.trim().parse::<u16>().ok())
            {
                break port;
            }
            assert!(Instant::now() < deadline, "Chromium did not open its DevTools port within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        };
        let pages: Vec<Value> = reqwest::blocking::get(format!("http://127.0.0.1:{port}/json/list"))
            .and_then(|r| r.json())
            .expect("the DevTools target list");
        let ws = pages
            .iter()
            .find(|p| p["type"] == "page")
            .and_then(|p| p["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (socket, _) = tungstenite::connect(ws.as_str()).expect("the DevTools socket");
        let mut browser = Browser { child, _profile: profile, socket, next_id: 0, events: Vec::new() };
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700}),
        );
        browser
    }

    /// Send a command and wait for its answer (events meanwhile are kept).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(message)).expect("send to Chromium");
        loop {
            let message = self.socket.read().expect("read from Chromium");
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method} failed: {value}");
                return value["result"].clone();
            }
            self.events.push(value);
        }
    }

    /// Open `file` and wait for its load event; the requests it made are recorded.
    pub fn open(&mut self, file: &Path) -> Rendered {
        self.call("Network.enable", json!({}));
        self.call("Page.enable", json!({}));
        self.events.clear();
        let url = format!("file://{}", file.display());
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.events.iter().any(|e| e["method"] == "Page.loadEventFired") {
            assert!(Instant::now() < deadline, "the page did not load within 30 s");
            let message = self.socket.read().expect("read from Chromium");
            if let Message::Text(text) = message {
                self.events.push(serde_json::from_str(text.as_str()).expect("DevTools JSON"));
            }
        }
        // Anything the page would fetch after load (a lazy image, a font) gets a moment too.
        self.evaluate("new Promise(r => setTimeout(r, 300))");
        let requests = self
            .events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect();
        Rendered { requests }
    }

    /// The value of a JavaScript expression in the page (awaited when it is a promise).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// The text a person sees in the element `selector` (CSS-hidden text is left out).
    pub fn visible_text(&mut self, selector: &str) -> String {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); return e && e.checkVisibility() ? (e.innerText ?? e.textContent) : null; }})()",
            serde_json::to_string(selector).expect("selector")
        );
        self.evaluate(&expression).as_str().map(str::to_string).unwrap_or_default()
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self, to: &Path) {
        use base64::Engine as _;
        let shot =
            self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("png data"))
            .expect("base64 png");
        std::fs::write(to, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
