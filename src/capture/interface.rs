//! A live interface read through libpcap: promiscuous by default, immediate delivery, a
//! settable kernel buffer, and a BPF filter compiled by libpcap. The handle is non-blocking and
//! waits for frames with `poll(2)` and a short timeout, so a quiet link still returns control
//! to the reader (which flushes partial batches, closes windows and notices a stop request):
//! libpcap's own read timeout is not honoured in immediate mode on Linux. Errors say what the user can do: an unknown interface lists the
//! available ones, a permission error names the capabilities and how to grant them.

use std::os::fd::{AsRawFd, RawFd};

use crate::capture::{CaptureError, Frame};
use crate::decode::LinkType;
use crate::flow::Timestamp;

/// How to open a live interface.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface name (`eth0`, `lo`, `any`).
    pub interface: String,
    /// BPF filter expression, compiled by libpcap (tcpdump syntax).
    pub filter: Option<String>,
    /// Bytes kept of each frame.
    pub snaplen: i32,
    /// Kernel capture buffer in bytes: what absorbs bursts while the reader is busy.
    pub buffer_bytes: i32,
    /// Promiscuous mode (a mirror port delivers frames addressed to other hosts).
    pub promiscuous: bool,
    /// Longest wait for a frame before the reader gets control back, in milliseconds.
    pub timeout_ms: i32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: String::new(),
            filter: None,
            snaplen: 65_535,
            buffer_bytes: 64 << 20,
            promiscuous: true,
            timeout_ms: 100,
        }
    }
}

/// Frames lost before tlsight saw them, as libpcap counts them since the interface was opened.
/// libpcap's counters are 32-bit and wrap; these are widened so they stay right over days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames that reached the capture socket.
    pub received: u64,
    /// Frames dropped because the kernel buffer was full (`ps_drop`).
    pub dropped: u64,
    /// Frames dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
}

/// A 32-bit libpcap counter widened to 64 bits across wrap-arounds.
#[derive(Clone, Copy, Debug, Default)]
struct Widened {
    last: u32,
    total: u64,
}

impl Widened {
    fn update(&mut self, raw: u32) -> u64 {
        self.total += u64::from(raw.wrapping_sub(self.last));
        self.last = raw;
        self.total
    }
}

/// An open live interface.
pub struct LiveInterface {
    capture: pcap::Capture<pcap::Active>,
    /// The capture's descriptor, waited on with `poll(2)`.
    fd: RawFd,
    timeout_ms: i32,
    interface: String,
    link: LinkType,
    received: Widened,
    dropped: Widened,
    if_dropped: Widened,
}

impl LiveInterface {
    /// Opens the interface and installs the filter. This is the step that needs privileges
    /// (CAP_NET_RAW, and CAP_NET_ADMIN for promiscuous mode); they can be dropped afterwards.
    pub fn open(opts: &LiveOptions) -> Result<Self, CaptureError> {
        let name = opts.interface.as_str();
        let known = available_interfaces();
        if let Ok(known) = &known
            && !known.iter().any(|n| n == name)
        {
            return Err(CaptureError::NoSuchInterface {
                name: name.to_string(),
                available: known.join(", "),
            });
        }
        let open_err = |e: pcap::Error| classify_open_error(name, &e);
        let capture = pcap::Capture::from_device(name)
            .map_err(open_err)?
            .promisc(opts.promiscuous)
            .immediate_mode(true)
            .timeout(opts.timeout_ms)
            .buffer_size(opts.buffer_bytes)
            .snaplen(opts.snaplen)
            .precision(pcap::Precision::Nano)
            .open()
            .and_then(pcap::Capture::setnonblock)
            .map_err(open_err)?;
        let mut capture = capture;
        if let Some(filter) = &opts.filter {
            capture
                .filter(filter, true)
                .map_err(|e| CaptureError::Filter {
                    filter: filter.clone(),
                    reason: e.to_string(),
                })?;
        }
        let link = LinkType(capture.get_datalink().0);
        Ok(LiveInterface {
            fd: capture.as_raw_fd(),
            capture,
            timeout_ms: opts.timeout_ms,
            interface: name.to_string(),
            link,
            received: Widened::default(),
            dropped: Widened::default(),
            if_dropped: Widened::default(),
        })
    }

    /// Link type of every frame.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next frame, or `Ok(None)` after waiting up to the timeout for one (the reader uses
    /// that moment to flush, tick its clock and check for a stop request).
    pub fn poll(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.capture.next_packet() {
            Ok(packet) => {
                // Opened at nanosecond precision: `tv_usec` holds nanoseconds.
                let ts = Timestamp::from_parts(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
                Ok(Some(Frame {
                    ts,
                    data: packet.data,
                    wire_len: packet.header.len,
                    shared: None,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing buffered: wait until the descriptor is readable or the timeout
                // passes; the next call reads what arrived.
                let mut pfd = libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; an error (EINTR from a signal) just returns early.
                unsafe { libc::poll(&mut pfd, 1, self.timeout_ms) };
                Ok(None)
            }
            Err(e) => Err(CaptureError::Live {
                name: self.interface.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// libpcap's counters since the interface was opened (zero if libpcap cannot tell).
    pub fn stats(&mut self) -> KernelStats {
        match self.capture.stats() {
            Ok(s) => KernelStats {
                received: self.received.update(s.received),
                dropped: self.dropped.update(s.dropped),
                if_dropped: self.if_dropped.update(s.if_dropped),
            },
            Err(_) => KernelStats {
                received: self.received.total,
                dropped: self.dropped.total,
                if_dropped: self.if_dropped.total,
            },
        }
    }
}

/// Names of the interfaces libpcap can capture on.
pub fn available_interfaces() -> Result<Vec<String>, pcap::Error> {
    Ok(pcap::Device::list()?.into_iter().map(|d| d.name).collect())
}

/// Turns libpcap's open error into one that says what to do.
fn classify_open_error(name: &str, e: &pcap::Error) -> CaptureError {
    let reason = e.to_string();
    let lower = reason.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "/path/to/tlsight".to_string());
        CaptureError::Permission {
            name: name.to_string(),
            reason,
            exe,
        }
    } else if lower.contains("no such device") {
        CaptureError::NoSuchInterface {
            name: name.to_string(),
            available: available_interfaces()
                .map(|v| v.join(", "))
                .unwrap_or_else(|e| format!("(cannot list: {e})")),
        }
    } else {
        CaptureError::Live {
            name: name.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widened_counters_survive_wrap_around() {
        let mut w = Widened::default();
        assert_eq!(w.update(10), 10);
        assert_eq!(w.update(u32::MAX - 5), u64::from(u32::MAX) - 5);
        // The counter wraps: 6 to reach zero, 4 more.
        assert_eq!(w.update(4), u64::from(u32::MAX) + 5);
    }

    #[test]
    fn unknown_interface_lists_the_available_ones() {
        let opts = LiveOptions {
            interface: "tlsight-no-such0".into(),
            ..LiveOptions::default()
        };
        let err = LiveInterface::open(&opts).err().expect("unknown interface");
        let msg = err.to_string();
        assert!(msg.contains("tlsight-no-such0"), "{msg}");
        assert!(msg.contains("available"), "{msg}");
        assert!(msg.contains("lo"), "{msg}");
    }

    #[test]
    fn permission_error_names_capabilities_and_setcap() {
        let e = pcap::Error::PcapError(
            "socket: Operation not permitted (you don't have permission)".into(),
        );
        let msg = classify_open_error("eth0", &e).to_string();
        assert!(msg.contains("CAP_NET_RAW"), "{msg}");
        assert!(
            msg.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{msg}"
        );
        let other = classify_open_error("eth0", &pcap::Error::PcapError("boom".into()));
        assert!(matches!(other, CaptureError::Live { .. }));
    }
}
