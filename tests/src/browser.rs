//! Headless Chromium (Debian's `chromium` package, never a downloaded browser) driven over
//! the DevTools protocol: open a page, wait for a condition in it, read values, take a
//! screenshot. Killed (with its temporary profile removed) on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::{Process, READY_TIMEOUT};

/// Flags that make headless Chromium behave in a container and stay quiet.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,700",
    "--remote-debugging-port=0",
];

pub struct Browser {
    // Field order: the socket closes before the browser is killed.
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _process: Process,
    _profile: TempDir,
}

/// The Chromium executable: `$PWS_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PWS_CHROMIUM") {
        return path.into();
    }
    let output = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "Chromium is missing: apt-get install chromium (or set PWS_CHROMIUM)"
    );
    path.into()
}

impl Browser {
    /// Start Chromium and open `url` in a new page.
    pub fn open(url: &str) -> Browser {
        let mut browser = Self::launch();
        browser.navigate(url);
        browser
    }

    /// Start Chromium with one blank page to drive.
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(chromium());
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank");
        let mut process = Process::spawn("chromium", &mut command);
        let line = process.wait_for_stderr_line("its DevTools address", |line| {
            line.contains("DevTools listening on ws://")
        });
        let port = devtools_port(&line);
        let target = http_request(port, "PUT", "/json/new?about:blank");
        let page_socket = target["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("no page to drive in {target}"))
            .to_string();
        let (socket, _) = tungstenite::connect(page_socket.as_str()).expect("connect to the page");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(READY_TIMEOUT))
                .expect("set a read timeout");
        }
        Browser {
            socket,
            next_id: 0,
            _process: process,
            _profile: profile,
        }
    }

    /// Load `url` and wait for its load event (the page's scripts have started).
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.enable", json!({}));
        let id = self.send("Page.navigate", json!({ "url": url }));
        let (mut answered, mut loaded) = (false, false);
        while !(answered && loaded) {
            let message = self.next_message("Page.navigate");
            answered |= message["id"] == json!(id);
            loaded |= message["method"] == json!("Page.loadEventFired");
            if let Some(error) = message.get("error").or(message["result"].get("errorText")) {
                panic!("cannot load {url}: {error}");
            }
        }
    }

    /// Wait for the page to load again (after it reloaded itself); bounded like every message.
    pub fn wait_for_load(&mut self) {
        while self.next_message("Page.loadEventFired")["method"] != json!("Page.loadEventFired") {}
    }

    /// Evaluate `expression` in the page (awaiting it if it is a promise) and return its value.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw in the page: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Wait until `condition` (a JavaScript expression) holds in the page, re-checking it on
    /// every change of the page's content; fails after `timeout`.
    pub fn wait_for(&mut self, what: &str, condition: &str, timeout: Duration) {
        let ms = timeout.as_millis();
        let script = format!(
            "new Promise((resolve) => {{
                const holds = () => {{ try {{ return Boolean({condition}); }} catch (_) {{ return false; }} }};
                if (holds()) return resolve(true);
                const observer = new MutationObserver(() => {{
                    if (holds()) {{ observer.disconnect(); resolve(true); }}
                }});
                observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
                setTimeout(() => {{ observer.disconnect(); resolve(holds()); }}, {ms});
            }})"
        );
        let held = self.evaluate(&script);
        assert_eq!(
            held,
            Value::Bool(true),
            "the page did not show {what} within {timeout:?}; page text: {}",
            self.evaluate("document.body.innerText")
        );
    }

    /// Wait until the web node page shows its node connected (registered at the relay);
    /// returns the node's peer id as the page shows it.
    pub fn wait_until_node_connected(&mut self, timeout: Duration) -> String {
        self.wait_for(
            "the connected state",
            "document.getElementById('connection').textContent === 'connected'",
            timeout,
        );
        let peer_id = self.text_of("peer-id");
        assert!(
            peer_id.starts_with("12D3KooW"),
            "the page shows peer id {peer_id:?}"
        );
        peer_id
    }

    /// Wait until a page of a private network shows its peer id and that it needs a grant;
    /// returns the peer id.
    pub fn wait_until_grant_needed(&mut self, timeout: Duration) -> String {
        self.wait_for(
            "that the network needs a grant",
            "document.getElementById('network').textContent.includes('needs a grant') \
             && document.getElementById('peer-id').textContent.startsWith('12D3')",
            timeout,
        );
        self.text_of("peer-id")
    }

    /// The text of the element with this id.
    pub fn text_of(&mut self, id: &str) -> String {
        let value = self.evaluate(&format!("document.getElementById({id:?}).textContent"));
        value.as_str().unwrap_or_default().to_string()
    }

    /// Save a PNG screenshot of the whole page (not only what the window shows) at `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let layout = self.call("Page.getLayoutMetrics", json!({}));
        let size = &layout["cssContentSize"];
        let clip =
            json!({ "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 });
        let result = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(result["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the artifact directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Show the page as a screen `width` × `height` CSS pixels large would, as a phone's
    /// (`mobile`: its viewport meta tag applies) or a desktop's.
    pub fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// Let the page save downloads into `dir`.
    pub fn allow_downloads(&mut self, dir: &Path) {
        self.call(
            "Page.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": dir }),
        );
    }

    /// Evaluate `expression` (a click on a download link) and wait for the download it starts
    /// to complete; returns the file's path in `dir` (given to [`Browser::allow_downloads`]).
    pub fn download(&mut self, dir: &Path, expression: &str) -> PathBuf {
        self.send(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        let mut name = None;
        loop {
            let message = self.next_message("a download");
            let params = &message["params"];
            match message["method"].as_str() {
                Some("Page.downloadWillBegin") => {
                    name = params["suggestedFilename"].as_str().map(str::to_string);
                }
                Some("Page.downloadProgress") if params["state"] == json!("completed") => {
                    let name = name.expect("the download was announced before it completed");
                    return dir.join(name);
                }
                Some("Page.downloadProgress") if params["state"] == json!("canceled") => {
                    panic!("the download was cancelled")
                }
                _ => {}
            }
        }
    }

    /// Send one DevTools command and wait for its answer (skipping events).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        loop {
            let answer = self.next_message(method);
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Send one DevTools command; returns its id.
    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let request = json!({ "id": self.next_id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .expect("send a DevTools command");
        self.next_id
    }

    /// The next answer or event (bounded by the socket's read timeout).
    fn next_message(&mut self, waiting_for: &str) -> Value {
        loop {
            let message = self
                .socket
                .read()
                .unwrap_or_else(|e| panic!("no answer to {waiting_for}: {e}"));
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("DevTools speaks JSON");
            }
        }
    }
}

/// Where test artifacts (screenshots) go: `target/test-artifacts/`, never committed.
pub fn artifact_path(name: &str) -> PathBuf {
    crate::bin_dir().join("../test-artifacts").join(name)
}

fn devtools_port(line: &str) -> u16 {
    let after = &line[line.find("ws://").expect("a ws:// URL") + "ws://".len()..];
    let host_port = after.split('/').next().expect("host:port");
    host_port
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"))
}

/// A minimal HTTP request to Chromium's DevTools endpoint; returns the JSON body. (Chromium
/// keeps the connection open, so the body is read by its length.)
fn http_request(port: u16, method: &str, path: &str) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("reach DevTools");
    stream
        .set_read_timeout(Some(READY_TIMEOUT))
        .expect("set a read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .expect("send a DevTools request");
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the DevTools answer");
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .expect("read the DevTools answer");
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "bad DevTools answer ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}
