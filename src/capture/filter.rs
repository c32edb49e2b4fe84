//! Offline BPF filters (`tlsight analyze -f`): the expression is compiled by libpcap, as
//! tcpdump and `tlsight live` compile it, once for each link type the inputs have, and run on
//! each frame where the frame lies (in the memory-mapped file, or libpcap's buffer): nothing is
//! copied to filter it.

use pcap::{BpfProgram, Capture, Linktype};

use super::{CaptureError, Frame};
use crate::decode::LinkType;

/// A BPF filter in tcpdump syntax, compiled per link type on first use.
pub struct FrameFilter {
    expression: String,
    /// Programs by link type (inputs rarely have more than one).
    programs: Vec<(LinkType, BpfProgram)>,
}

impl FrameFilter {
    /// Checks `expression` (compiling it for Ethernet, which every filter tcpdump accepts on
    /// a mirror port compiles for) and keeps it for the link types met later.
    pub fn new(expression: &str) -> Result<Self, CaptureError> {
        let mut filter = FrameFilter {
            expression: expression.to_string(),
            programs: Vec::new(),
        };
        filter.program(LinkType::ETHERNET)?;
        Ok(filter)
    }

    /// The filter's program for `link`, compiled on first use.
    fn program(&mut self, link: LinkType) -> Result<&BpfProgram, CaptureError> {
        let at = match self.programs.iter().position(|(l, _)| *l == link) {
            Some(at) => at,
            None => {
                let program = Capture::dead(Linktype(link.0))
                    .and_then(|dead| dead.compile(&self.expression, true))
                    .map_err(|e| CaptureError::Filter {
                        filter: self.expression.clone(),
                        reason: e.to_string(),
                    })?;
                self.programs.push((link, program));
                self.programs.len() - 1
            }
        };
        Ok(&self.programs[at].1)
    }

    /// Compiles the program for `link` now, so that an expression that does not fit an
    /// input's link type is reported when the input is opened.
    pub fn prepare(&mut self, link: LinkType) -> Result<(), CaptureError> {
        self.program(link).map(|_| ())
    }

    /// Whether `frame` (of link type `link`) passes. A link type the expression does not
    /// compile for passes nothing ([`Self::prepare`] reports it).
    pub fn matches(&mut self, link: LinkType, frame: &Frame<'_>) -> bool {
        self.program(link).is_ok_and(|p| p.filter(frame.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Timestamp;

    /// An Ethernet/IPv4/TCP frame from port `sport` to port `dport`.
    fn tcp_frame(sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        f
    }

    fn frame(data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp(0),
            data,
            wire_len: data.len() as u32,
            shared: None,
        }
    }

    #[test]
    fn filters_as_tcpdump_does() {
        let mut f = FrameFilter::new("tcp port 443").expect("compiles");
        let https = tcp_frame(40000, 443);
        let other = tcp_frame(40000, 8443);
        assert!(f.matches(LinkType::ETHERNET, &frame(&https)));
        assert!(!f.matches(LinkType::ETHERNET, &frame(&other)));
        // Raw IP: the same expression, compiled for that link type.
        assert!(f.matches(LinkType::RAW_BSD, &frame(&https[14..])));
        assert!(!f.matches(LinkType::RAW_BSD, &frame(&other[14..])));
    }

    #[test]
    fn a_bad_expression_is_named_with_libpcaps_reason() {
        let err = FrameFilter::new("tcp prot 443").err().expect("refused");
        let text = err.to_string();
        assert!(text.contains("bad capture filter 'tcp prot 443'"), "{text}");
    }
}
