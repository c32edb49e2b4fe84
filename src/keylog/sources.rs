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
    /// decryption. A key log that cannot be read is an error; bad lines are counted. A capture
    /// whose blocks cannot be walked gives no secrets: the analysis reports it as an input.
    pub fn load(keylogs: &[PathBuf], captures: &[PathBuf]) -> Result<Option<Self>, KeyLogError> {
        let mut keys = KeyLog::default();
        let mut files = Vec::new();
        for path in keylogs {
            let mut file = KeyLogFile::new(path);
            file.read_new(&mut keys)?;
            files.push(file);
        }
        let mut secrets_blocks = 0;
        // Standard input is read once, by the analysis; a capture that is not there, or whose
        // blocks cannot be walked, is the reader's to report (named, with its exit code), not a
        // key log error.
        for capture in captures
            .iter()
            .filter(|p| p.as_os_str() != "-" && p.is_file())
        {
            if let Ok(read) = keys.load_pcapng_secrets(capture) {
                secrets_blocks += read.tls;
            }
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn line(random: u8) -> String {
        format!(
            "CLIENT_RANDOM {} {}\n",
            hex::encode([random; 32]),
            "ab".repeat(48)
        )
    }

    #[test]
    fn nothing_named_and_no_secrets_block_means_no_decryption() {
        let none = KeyLogSources::load(&[], &[PathBuf::from("-")]).expect("load");
        assert!(none.is_none());
    }

    #[test]
    fn files_are_read_then_followed_as_they_grow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.keylog");
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(line(1).as_bytes()).expect("write");
        let mut sources = KeyLogSources::load(std::slice::from_ref(&path), &[])
            .expect("load")
            .expect("a file was named");
        assert!(sources.keys().lock().get(&[1; 32]).is_some());
        f.write_all(line(2).as_bytes()).expect("write");
        assert!(sources.read_new().expect("read") > 0);
        assert!(sources.keys().take(&[2; 32]).is_some());
        f.write_all(line(3).trim_end().as_bytes()).expect("write");
        sources.read_new().expect("read");
        assert!(
            sources.keys().lock().get(&[3; 32]).is_none(),
            "waits for its newline"
        );
        let stats = sources.finish();
        assert_eq!((stats.secrets, stats.bad_lines), (3, 0));
        assert_eq!(sources.paths().collect::<Vec<_>>(), vec![path.as_path()]);
    }

    #[test]
    fn a_capture_that_cannot_be_read_is_left_to_the_analysis() {
        let none = KeyLogSources::load(&[], &[PathBuf::from("/nonexistent/c.pcapng")]);
        assert!(none.expect("not an error here").is_none());
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err =
            KeyLogSources::load(&[PathBuf::from("/nonexistent/k.log")], &[]).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/k.log"), "{err}");
    }
}
