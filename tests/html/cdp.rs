//! A small client of the Chrome DevTools Protocol over `--remote-debugging-pipe`: headless
//! Chromium reads commands from its file descriptor 3 and writes answers and events to 4, each
//! a JSON text ended by a NUL byte. A pipe needs no port, no WebSocket and no extra crate; the
//! shell that starts Chromium moves our stdin/stdout pipes onto 3 and 4.
//!
//! Every event is kept, so a test can look for console errors, failed requests and every
//! request made once the page is done.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on the `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// A headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Every event received so far, in order.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (flags that keep it off the network and away from the user's profile)
    /// and opens a blank page with the Runtime, Log, Network and Page domains enabled.
    pub fn start(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile directory");
        let command = format!(
            "exec '{}' --headless --no-sandbox --disable-gpu --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --disable-default-apps --disable-extensions --hide-scrollbars --mute-audio \
             --user-data-dir='{}' --remote-debugging-pipe 3<&0 4>&1 </dev/null 1>&2",
            chromium.display(),
            profile.path().display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let commands = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        let mut browser = Browser {
            child,
            commands,
            messages,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("target id").to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        for domain in ["Runtime", "Log", "Network", "Page"] {
            browser.call(&format!("{domain}.enable"), json!({}));
        }
        browser
    }

    /// Sends a command to the page (or to the browser before a page is attached) and waits for
    /// its result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("JSON");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .expect("send to chromium");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let m = self
                .receive(deadline)
                .unwrap_or_else(|| panic!("{method}: no answer"));
            if m["id"].as_u64() == Some(id) {
                if let Some(error) = m.get("error") {
                    panic!("{method}: {error}");
                }
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    /// The next message before `deadline`.
    fn receive(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.messages.recv_timeout(left).ok()
    }

    /// Waits until an event named `method` has been received (or already was).
    pub fn wait_for(&mut self, method: &str) {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while !self.events.iter().any(|e| e["method"] == method) {
            let m = self
                .receive(deadline)
                .unwrap_or_else(|| panic!("no {method} event"));
            self.events.push(m);
        }
    }

    /// Opens `path` and waits for its load event.
    pub fn open(&mut self, path: &Path) -> String {
        let url = format!("file://{}", path.display());
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("Page.loadEventFired");
        url
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Events named `method`.
    pub fn events_named(&self, method: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["method"] == method)
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the pipe makes Chromium exit; kill it if it has not within a few seconds.
        let _ = self
            .commands
            .write_all(b"{\"id\":999999,\"method\":\"Browser.close\"}\0");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
