//! Agent keys (issue #16): what an agent shows ghpool instead of a GitHub credential.
//!
//! Owns: making a key (`ghpool keygen`: 32 random bytes from the operating system, base64url, after
//! the recognisable prefix `ghpk_`), its digest (SHA-256 of the whole key, `sha256:<hex>` in the
//! configuration), and telling whether a presented key is one of an agent's, in constant time.
//! Must never: print a key anywhere but `keygen`'s own output, or compare keys with an early exit.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Secret;

/// Every key starts with this: recognisable in a leaked log or file (secret scanners can look
/// for it), and never taken for a GitHub token.
pub const KEY_PREFIX: &str = "ghpk_";

/// Random bytes in a key.
const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no randomness from the operating system ({0}): a key cannot be made safely")]
    Randomness(String),
}

/// A new key and its digest (`sha256:<hex>`).
pub fn generate() -> Result<(Secret, String), KeyError> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Randomness(e.to_string()))?;
    let key = format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let digest = format!("sha256:{}", hex(&digest(&key)));
    Ok((Secret::new(key), digest))
}

/// The SHA-256 of a key as presented.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Is `presented` (its digest) one of `known` (digests)? Every digest is compared in full, in
/// constant time, whatever matches.
pub fn matches_any(presented: &[u8; 32], known: &[[u8; 32]]) -> bool {
    known.iter().fold(subtle::Choice::from(0), |found, k| found | presented.ct_eq(k)).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_recognisable_random_and_its_digest_is_its_sha256_16() {
        let (key, printed) = generate().unwrap();
        let (other, _) = generate().unwrap();
        assert!(
            key.expose().starts_with(KEY_PREFIX) && key.expose().len() == KEY_PREFIX.len() + 43,
            "{}",
            key.expose()
        );
        assert_ne!(key, other);
        assert_eq!(printed, format!("sha256:{}", hex(&digest(key.expose()))));
        assert_eq!(format!("{key:?}"), "Secret(<redacted>)", "a key is a Secret");
    }

    #[test]
    fn a_presented_key_matches_only_its_own_digest_16() {
        let (a, b) = (digest("ghpk_a"), digest("ghpk_b"));
        assert!(matches_any(&a, &[b, a]));
        assert!(!matches_any(&digest("ghpk_c"), &[a, b]));
        assert!(!matches_any(&a, &[]));
    }
}
