//! Key log input: NSS key log text split into pieces anywhere (the incremental reader's line
//! splitter), stored under a small byte cap (so eviction runs), and the same bytes walked as a
//! pcapng file for Decryption Secrets Blocks.
//!
//! Input: byte 0 sets where the text is split (every `n`th byte, n = byte 0 + 1); the rest is
//! the text, or the file.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tlsight::keylog::{KeyLog, LineSplitter, pcapng};

fuzz_target!(|data: &[u8]| {
    let Some((&split, text)) = data.split_first() else {
        return;
    };
    let mut keys = KeyLog::new(4096);
    let mut lines = LineSplitter::default();
    for piece in text.chunks(usize::from(split) + 1) {
        lines.push(piece, |no, line| keys.add_line("fuzz", no, line));
    }
    lines.finish(|no, line| keys.add_line("fuzz", no, line));
    assert!(keys.charged_bytes() <= 4096);
    let stats = keys.stats();
    assert!(stats.bad_lines_named.len() as u64 <= stats.bad_lines);
    assert!(
        stats.secrets + stats.unused + stats.duplicates + stats.conflicts + stats.bad_lines
            <= stats.lines
    );

    if let Ok(blocks) = pcapng::secrets_blocks_in(Cursor::new(text), Path::new("fuzz.pcapng")) {
        for block in blocks {
            assert!(block.data.len() <= pcapng::MAX_SECRETS_LEN as usize);
            keys.add_text("dsb", &block.data);
        }
    }
});
