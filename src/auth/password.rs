//! Argon2id password hashing. Hashing is CPU-heavy, so it runs on the blocking pool.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version};

use crate::error::AppError;

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified when the e-mail is unknown so that both paths cost the same.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, String> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| format!("argon2 params: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash =
            argon.hash_password(uuid::Uuid::new_v4().as_bytes()).map_err(|e| format!("argon2: {e}"))?.to_string();
        Ok(Self { params, dummy_hash })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Checks the password policy, then hashes.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let n = password.chars().count();
        if n < PASSWORD_MIN {
            return Err(AppError::bad_input(
                "password",
                "PASSWORD_TOO_SHORT",
                format!("password: at least {PASSWORD_MIN} characters"),
            ));
        }
        if n > PASSWORD_MAX {
            return Err(AppError::bad_input(
                "password",
                "TOO_LONG",
                format!("password: at most {PASSWORD_MAX} characters"),
            ));
        }
        let argon = self.argon();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || argon.hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await
            .map_err(|e| AppError::Internal(format!("hash task: {e}")))?
            .map_err(|e| AppError::Internal(format!("argon2: {e}")))
    }

    /// Verifies a password against a stored hash, or against a dummy hash when there is none.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let hash = hash.unwrap_or(&self.dummy_hash).to_owned();
        let known = hash != self.dummy_hash;
        let argon = self.argon();
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}
