//! Endpoint signing secrets. The service must read a secret again to sign every attempt, so it cannot
//! keep only a hash: it keeps the secret encrypted (ChaCha20-Poly1305 under the configured webhook key,
//! the endpoint's id as associated data, so a ciphertext copied to another row does not open). A
//! database dump alone does not give the secrets away; they never reach a log or an API answer after
//! the one that created them.

use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use uuid::Uuid;

use crate::domain::webhook::{format_secret, secret_bytes};

/// The format tag of stored ciphertexts.
const STORED_PREFIX: &str = "v1.";

/// A fresh secret: `whsec_` and 32 random bytes in base64 (shown once).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format_secret(&bytes)
}

fn key(k: &[u8; 32]) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, k).ok().map(LessSafeKey::new)
}

/// Encrypts a secret for the endpoint `endpoint`'s row.
pub fn seal(k: &[u8; 32], endpoint: Uuid, secret: &str) -> Option<String> {
    let key = key(k)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut data = secret.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(endpoint.as_bytes()), &mut data)
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(format!("{STORED_PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)))
}

/// The HMAC key (the secret's decoded bytes) of a stored secret; None when it does not open (another
/// key, another row, tampered).
pub fn open(k: &[u8; 32], endpoint: Uuid, stored: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(stored.strip_prefix(STORED_PREFIX)?).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = sealed.to_vec();
    let plain = key(k)?.open_in_place(nonce, Aad::from(endpoint.as_bytes()), &mut data).ok()?;
    secret_bytes(std::str::from_utf8(plain).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_row() {
        let k = [7u8; 32];
        let id = Uuid::now_v7();
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && secret_bytes(&secret).unwrap().len() == 32);
        let stored = seal(&k, id, &secret).unwrap();
        assert!(!stored.contains(&secret[6..]), "the stored form does not show the secret");
        assert_eq!(open(&k, id, &stored), secret_bytes(&secret));
        assert_eq!(open(&[8u8; 32], id, &stored), None);
        assert_eq!(open(&k, Uuid::now_v7(), &stored), None);
        assert_eq!(open(&k, id, "v1.AAAA"), None);
        assert_ne!(seal(&k, id, &secret), Some(stored), "a fresh nonce each time");
    }
}
