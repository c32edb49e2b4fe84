//! Decryption Secrets Blocks (pcapng block type 0x0000000A): key logs Wireshark stores inside a
//! capture (`editcap --inject-secrets tls,KEYLOG`).
//!
//! libpcap skips block types it does not know, so the capture reader never sees them; this is
//! a separate pass that walks the file block by block, reading only the 8-byte block headers
//! and the bodies of secrets blocks, and skipping everything else inside a buffered reader
//! (no system call per packet). Measured (`benches/README.md`, key logs): on a 1 GB pcapng,
//! 1.1 times the time of reading the file once, about 9 % of analysing it.
//! A classic pcap file is recognised by its first bytes and not walked at all.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use super::{KeyLog, KeyLogError};

/// pcapng Section Header Block type (the same in either byte order).
const SECTION_HEADER: u32 = 0x0A0D_0D0A;
/// Decryption Secrets Block type.
const DECRYPTION_SECRETS: u32 = 0x0000_000A;
/// Byte-order magic of a Section Header Block.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Secrets type of an NSS key log ("TLSK").
pub const SECRETS_TLS_KEY_LOG: u32 = 0x544C_534B;
/// Largest secrets block read: 64 MiB, far above any real key log for one capture (about
/// 400,000 TLS 1.3 connections); a larger declared length is a corrupt file, not a key log.
pub const MAX_SECRETS_LEN: u32 = 64 << 20;

/// One Decryption Secrets Block.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsBlock {
    /// File offset of the block.
    pub offset: u64,
    /// Secrets type ([`SECRETS_TLS_KEY_LOG`] for TLS; WireGuard, ZigBee and OPC UA have others).
    pub secrets_type: u32,
    /// The secrets (for TLS, key log text).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for SecretsBlock {
    /// Offset, type and length only: the data are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsBlock")
            .field("offset", &self.offset)
            .field("secrets_type", &format_args!("{:#010x}", self.secrets_type))
            .field("len", &self.data.len())
            .finish()
    }
}

/// Every Decryption Secrets Block of a pcapng file, in file order; none for other formats.
pub fn secrets_blocks(path: &Path) -> Result<Vec<SecretsBlock>, KeyLogError> {
    let file = File::open(path).map_err(|source| KeyLogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    secrets_blocks_in(file, path)
}

/// Every Decryption Secrets Block of a capture read from `reader` (errors name `path`).
pub fn secrets_blocks_in<R: Read + Seek>(
    reader: R,
    path: &Path,
) -> Result<Vec<SecretsBlock>, KeyLogError> {
    walk(BufReader::with_capacity(256 * 1024, reader)).map_err(|(offset, reason)| {
        KeyLogError::Pcapng {
            path: path.to_path_buf(),
            offset,
            reason,
        }
    })
}

/// Walks the blocks; an error is the offset of the block it concerns and what was wrong.
fn walk<R: Read + Seek>(mut r: BufReader<R>) -> Result<Vec<SecretsBlock>, (u64, String)> {
    let mut blocks = Vec::new();
    let mut offset = 0u64;
    let mut big_endian = false;
    loop {
        let mut header = [0u8; 8];
        match read_full(&mut r, &mut header) {
            Ok(0) => return Ok(blocks),
            Ok(8) => {}
            Ok(n) => return Err((offset, format!("file ends {n} bytes into a block header"))),
            Err(e) => return Err((offset, e.to_string())),
        }
        let raw_type = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        if offset == 0 && raw_type != SECTION_HEADER {
            return Ok(blocks);
        }
        if raw_type == SECTION_HEADER {
            let mut magic = [0u8; 4];
            read_exact_at(&mut r, &mut magic, offset)?;
            big_endian = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
                (BYTE_ORDER_MAGIC, _) => false,
                (_, BYTE_ORDER_MAGIC) => true,
                _ => return Err((offset, "section header with a bad byte-order magic".into())),
            };
        }
        let u32_at = |b: [u8; 4]| {
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let block_type = u32_at([header[0], header[1], header[2], header[3]]);
        let total = u32_at([header[4], header[5], header[6], header[7]]);
        if total < 12 || total % 4 != 0 {
            return Err((
                offset,
                format!("block length {total} is not a valid length"),
            ));
        }
        // Body and trailer left to read or skip (the magic was read for a section header).
        let mut rest = u64::from(total) - 8;
        if block_type == SECTION_HEADER {
            rest = rest
                .checked_sub(4)
                .ok_or((offset, "section header too short".to_string()))?;
        }
        if block_type == DECRYPTION_SECRETS {
            blocks.push(secrets_block(&mut r, offset, total, u32_at)?);
        } else {
            skip(&mut r, rest, offset)?;
        }
        offset += u64::from(total);
    }
}

/// Reads a Decryption Secrets Block's body after its header.
fn secrets_block<R: Read + Seek>(
    r: &mut BufReader<R>,
    offset: u64,
    total: u32,
    u32_at: impl Fn([u8; 4]) -> u32,
) -> Result<SecretsBlock, (u64, String)> {
    let mut fixed = [0u8; 8];
    read_exact_at(r, &mut fixed, offset)?;
    let secrets_type = u32_at([fixed[0], fixed[1], fixed[2], fixed[3]]);
    let len = u32_at([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let padded = u64::from(len).div_ceil(4) * 4;
    // Header (8) + type and length (8) + padded data + trailer (4) must fit the block.
    if 20 + padded > u64::from(total) {
        return Err((
            offset,
            format!("secrets of {len} bytes do not fit a block of {total} bytes"),
        ));
    }
    if len > MAX_SECRETS_LEN {
        return Err((
            offset,
            format!("secrets of {len} bytes exceed the {MAX_SECRETS_LEN}-byte cap"),
        ));
    }
    let mut data = vec![0u8; len as usize];
    read_exact_at(r, &mut data, offset)?;
    skip(r, u64::from(total) - 16 - u64::from(len), offset)?;
    Ok(SecretsBlock {
        offset,
        secrets_type,
        data,
    })
}

/// Reads as much of `buf` as the file has; returns how much.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_exact_at(r: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<(), (u64, String)> {
    match read_full(r, buf) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) => Err((offset, "file ends inside the block".into())),
        Err(e) => Err((offset, e.to_string())),
    }
}

/// Skips `len` bytes, checking that the file has them.
fn skip<R: Read + Seek>(r: &mut BufReader<R>, len: u64, offset: u64) -> Result<(), (u64, String)> {
    let buffered = r.buffer().len() as u64;
    if len <= buffered {
        // Within the buffer: no system call.
        r.consume(len as usize);
        return Ok(());
    }
    let io = |e: std::io::Error| (offset, e.to_string());
    let here = r.stream_position().map_err(io)?;
    let end = r.seek(std::io::SeekFrom::End(0)).map_err(io)?;
    if here + len > end {
        return Err((offset, "file ends inside the block".into()));
    }
    r.seek(std::io::SeekFrom::Start(here + len)).map_err(io)?;
    Ok(())
}

/// What a pcapng file's secrets blocks gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecretsBlocksRead {
    /// TLS key log blocks read.
    pub tls: u64,
    /// Blocks of other secrets types (WireGuard, ZigBee, OPC UA), skipped.
    pub other: u64,
}

impl KeyLog {
    /// Reads the TLS key logs stored in `path`'s Decryption Secrets Blocks (nothing for a
    /// capture that is not pcapng). Bad lines are named `FILE (secrets block at offset N)`.
    pub fn load_pcapng_secrets(&mut self, path: &Path) -> Result<SecretsBlocksRead, KeyLogError> {
        let mut read = SecretsBlocksRead::default();
        for block in secrets_blocks(path)? {
            if block.secrets_type == SECRETS_TLS_KEY_LOG {
                let source = format!(
                    "{} (secrets block at offset {})",
                    path.display(),
                    block.offset
                );
                self.add_text(&source, &block.data);
                read.tls += 1;
            } else {
                read.other += 1;
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn u32b(big: bool, v: u32) -> [u8; 4] {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn block(big: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let u32b = |v| u32b(big, v);
        let total = 12 + body.len() as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(block_type));
        out.extend_from_slice(&u32b(total));
        out.extend_from_slice(body);
        out.extend_from_slice(&u32b(total));
        out
    }

    fn shb(big: bool) -> Vec<u8> {
        let mut body = Vec::new();
        if big {
            body.extend_from_slice(&BYTE_ORDER_MAGIC.to_be_bytes());
            body.extend_from_slice(&[0, 1, 0, 0]);
        } else {
            body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
            body.extend_from_slice(&[1, 0, 0, 0]);
        }
        body.extend_from_slice(&[0xff; 8]);
        block(big, SECTION_HEADER, &body)
    }

    fn dsb(big: bool, secrets_type: u32, data: &[u8]) -> Vec<u8> {
        let u32b = |v| u32b(big, v);
        let mut body = Vec::new();
        body.extend_from_slice(&u32b(secrets_type));
        body.extend_from_slice(&u32b(data.len() as u32));
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        block(big, DECRYPTION_SECRETS, &body)
    }

    fn walk_bytes(bytes: Vec<u8>) -> Result<Vec<SecretsBlock>, (u64, String)> {
        walk(BufReader::with_capacity(64, Cursor::new(bytes)))
    }

    #[test]
    fn secrets_blocks_anywhere_in_either_byte_order() {
        for big in [false, true] {
            let mut file = shb(big);
            file.extend(block(big, 1, &[0; 8])); // interface description
            file.extend(block(big, 6, &[0xaa; 400])); // a packet, skipped
            let first = file.len() as u64;
            file.extend(dsb(big, SECRETS_TLS_KEY_LOG, b"CLIENT_RANDOM a b\n"));
            file.extend(block(big, 6, &[0xbb; 40]));
            file.extend(shb(!big)); // a second section in the other byte order
            let second = file.len() as u64;
            file.extend(dsb(!big, 0x5747_4b4c, b"wireguard"));
            let blocks = walk_bytes(file).expect("walk");
            assert_eq!(blocks.len(), 2);
            assert_eq!(blocks[0].offset, first);
            assert_eq!(blocks[0].secrets_type, SECRETS_TLS_KEY_LOG);
            assert_eq!(blocks[0].data, b"CLIENT_RANDOM a b\n");
            assert_eq!(blocks[1].offset, second);
            assert_eq!(blocks[1].data, b"wireguard");
        }
    }

    #[test]
    fn a_classic_pcap_has_no_blocks() {
        let pcap = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(walk_bytes(pcap.to_vec()), Ok(vec![]));
        assert_eq!(walk_bytes(vec![]), Ok(vec![]));
    }

    #[test]
    fn damaged_files_name_the_block_offset() {
        let mut file = shb(false);
        let at = file.len() as u64;
        file.extend(block(false, 6, &[0; 100]));
        file.truncate(file.len() - 10);
        let (offset, reason) = walk_bytes(file).expect_err("truncated");
        assert_eq!(offset, at);
        assert!(reason.contains("ends inside"), "{reason}");

        let mut file = shb(false);
        let at = file.len() as u64;
        file.extend_from_slice(&6u32.to_le_bytes());
        file.extend_from_slice(&13u32.to_le_bytes());
        let (offset, reason) = walk_bytes(file).expect_err("bad length");
        assert_eq!(
            (offset, reason.as_str()),
            (at, "block length 13 is not a valid length")
        );

        let mut file = shb(false);
        let mut bad = dsb(false, SECRETS_TLS_KEY_LOG, b"abcd");
        bad[12..16].copy_from_slice(&1000u32.to_le_bytes()); // declared longer than the block
        file.extend(bad);
        let (_, reason) = walk_bytes(file).expect_err("overlong secrets");
        assert!(reason.contains("do not fit"), "{reason}");

        let mut file = shb(false);
        file.extend_from_slice(&[1, 0, 0]);
        let (_, reason) = walk_bytes(file).expect_err("partial header");
        assert!(reason.contains("3 bytes into a block header"), "{reason}");
    }

    #[test]
    fn errors_from_files_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.pcapng");
        let mut file = shb(false);
        file.extend(block(false, 6, &[0; 100]));
        file.truncate(file.len() - 1);
        std::fs::write(&path, file).expect("write");
        let err = secrets_blocks(&path).expect_err("truncated");
        let text = err.to_string();
        assert!(
            text.contains("bad.pcapng") && text.contains("offset 28"),
            "{text}"
        );
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let block = SecretsBlock {
            offset: 4,
            secrets_type: SECRETS_TLS_KEY_LOG,
            data: b"CLIENT_RANDOM secret".to_vec(),
        };
        let debug = format!("{block:?}");
        assert!(!debug.contains("secret\""), "{debug}");
        assert!(debug.contains("0x544c534b"), "{debug}");
    }
}
