//! The key logs of one analysis: the `--keylog` files and the Decryption Secrets Blocks of
//! pcapng inputs, read into one [`KeyLog`] before the packets; live, the files are followed as
//! they grow ([`KeyLogSources::read_new`]).

use std::path::{Path, PathBuf};

use super::{KeyLog, KeyLogError, KeyLogFile, KeyLogStats, SharedKeyLog};

/// The key log files of an analysis and the key log they fill.
#[derive(Debug)]
pub struct KeyLogSources {
    files: Vec<KeyLogFile>,
    keys: SharedKeyLog,
    /// TLS key log secrets blocks read from the captures.
    secrets_blocks: u64,
}

impl KeyLogSources {
    /// Reads every file of `keylogs` and the secrets blocks of every pcapng capture of
    /// `captures` (standard input, `-`, is not read twice). `None` when there was nothing to
    /// read: no file named and no secrets block found, so the analysis runs without
    /// decryption. A file that cannot be read is an error; bad lines are counted.
    pub fn load(keylogs: &[PathBuf], captures: &[PathBuf]) -> Result<Option<Self>, KeyLogError> {
        let mut keys = KeyLog::default();
        let mut files = Vec::new();
        for path in keylogs {
            let mut file = KeyLogFile::new(path);
            file.read_new(&mut keys)?;
            files.push(file);
        }
        let mut secrets_blocks = 0;
        // Standard input is read once, by the analysis; a capture that is not there is the
        // reader's to report (named, with its exit code), not a key log error.
        for capture in captures
            .iter()
            .filter(|p| p.as_os_str() != "-" && p.is_file())
        {
            secrets_blocks += keys.load_pcapng_secrets(capture)?.tls;
        }
        if files.is_empty() && secrets_blocks == 0 {
            return Ok(None);
        }
        Ok(Some(KeyLogSources {
            files,
            keys: SharedKeyLog::new(keys),
            secrets_blocks,
        }))
    }

    /// The key log the workers take secrets from.
    pub fn keys(&self) -> &SharedKeyLog {
        &self.keys
    }

    /// TLS key log secrets blocks read from the captures.
    pub fn secrets_blocks(&self) -> u64 {
        self.secrets_blocks
    }

    /// Reads what was appended to the files since the last read (live).
    pub fn read_new(&mut self) -> Result<u64, KeyLogError> {
        let mut keys = self.keys.lock();
        let mut read = 0;
        for file in &mut self.files {
            read += file.read_new(&mut keys)?;
        }
        Ok(read)
    }

    /// The files are complete (offline, or live at the stop): a last line without a newline
    /// counts too. Returns what reading did.
    pub fn finish(&mut self) -> KeyLogStats {
        let mut keys = self.keys.lock();
        for file in &mut self.files {
            file.finish(&mut keys);
        }
        keys.stats().clone()
    }

    /// The files being read.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(KeyLogFile::path)
    }
}
