//! What decryption did for one connection, for its record (`decryption`,
//! `decryption_missing`, `decryption_failed`, `finished_verified`): honest accounting of what
//! the key log revealed and what it could not.

use crate::keylog::SecretKind;

/// How much of a connection's protected records were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecryptionLevel {
    /// No protected record was decrypted (no secrets, or nothing was protected).
    None,
    /// Some protected records were decrypted and others not: typically the handshake, without
    /// the application traffic secrets.
    Handshake,
    /// Every protected record was decrypted.
    Full,
}

impl DecryptionLevel {
    /// The name in records and reports.
    pub fn name(self) -> &'static str {
        match self {
            DecryptionLevel::None => "none",
            DecryptionLevel::Handshake => "handshake",
            DecryptionLevel::Full => "full",
        }
    }
}

/// One connection's decryption, counted by the record layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecryptionFacts {
    /// Protected records seen.
    pub protected_records: u64,
    /// Of them, decrypted.
    pub decrypted_records: u64,
    /// Protected records whose keys were there but that did not decrypt (wrong secret,
    /// damaged record): `decryption_failed`.
    pub failed_records: u64,
    /// The first secret a protected record needed and the key log lacked.
    pub missing: Option<SecretKind>,
    /// Whether the client's and the server's latest Finished matched the transcript (`None`:
    /// not seen decrypted).
    pub finished_verified: [Option<bool>; 2],
}

impl DecryptionFacts {
    /// How much was read.
    pub fn level(&self) -> DecryptionLevel {
        if self.decrypted_records == 0 {
            DecryptionLevel::None
        } else if self.decrypted_records == self.protected_records {
            DecryptionLevel::Full
        } else {
            DecryptionLevel::Handshake
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_follows_the_counts() {
        let mut f = DecryptionFacts::default();
        assert_eq!(f.level(), DecryptionLevel::None);
        f.protected_records = 5;
        f.decrypted_records = 3;
        assert_eq!(f.level().name(), "handshake");
        f.decrypted_records = 5;
        assert_eq!(f.level().name(), "full");
    }
}
