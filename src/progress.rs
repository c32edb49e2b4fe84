//! The progress line of a long `analyze` on a terminal: bytes read, packets per second, TLS
//! connections, and the time left, redrawn on standard error a few times a second and erased
//! at the end. Drawn by a thread of the binary's own from counters the pipeline publishes
//! ([`Progress`]), so the analysis itself does no extra work per packet.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use tlsight::output::thousands;
use tlsight::pipeline::{Progress, ProgressSnapshot};

/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(250);
/// Runs shorter than this show no line at all.
const QUIET_START: Duration = Duration::from_secs(1);

/// The drawing thread; dropping it stops the thread and erases the line.
pub struct ProgressLine {
    done: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ProgressLine {
    /// Starts drawing `progress`.
    pub fn start(progress: Arc<Progress>) -> Self {
        let (done, rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("tlsight-progress".into())
            .spawn(move || {
                let mut drawn = false;
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(REDRAW) {
                    let s = progress.snapshot();
                    if s.elapsed < QUIET_START {
                        continue;
                    }
                    let _ = write!(io::stderr(), "\r{:<99}", line(&s));
                    drawn = true;
                }
                if drawn {
                    let _ = write!(io::stderr(), "\r{:99}\r", "");
                }
            })
            .ok();
        ProgressLine {
            done: Some(done),
            thread,
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `1.2 GB of 3.4 GB (35%), 812,345 packets/s, 12,345 TLS connections, 0:42 left`.
pub fn line(s: &ProgressSnapshot) -> String {
    let mut text = bytes(s.bytes);
    if let Some(total) = s.total_bytes.filter(|&t| t > 0) {
        let pct = (s.bytes as f64 * 100.0 / total as f64).min(99.0);
        text = format!("{text} of {} ({pct:.0}%)", bytes(total));
    }
    text = format!(
        "{text}, {} packets/s, {} TLS connections",
        thousands(s.packets_per_second() as u64),
        thousands(s.connections)
    );
    if let Some(eta) = s.eta() {
        let secs = eta.as_secs();
        text = format!("{text}, {}:{:02} left", secs / 60, secs % 60);
    }
    format!("tlsight: {text}")
}

/// Bytes in decimal units, as file managers show sizes.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_what_was_read_and_what_is_left() {
        let s = ProgressSnapshot {
            packets: 2_000_000,
            bytes: 1_200_000_000,
            connections: 12_345,
            total_bytes: Some(3_400_000_000),
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(
            line(&s),
            "tlsight: 1.2 GB of 3.4 GB (35%), 1,000,000 packets/s, 12,345 TLS connections, 0:03 left"
        );
        let piped = ProgressSnapshot {
            total_bytes: None,
            bytes: 999,
            ..s
        };
        assert_eq!(
            line(&piped),
            "tlsight: 999 B, 1,000,000 packets/s, 12,345 TLS connections"
        );
        assert!(line(&s).len() <= 100);
    }
}
