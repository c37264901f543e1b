//! HS256 tokens with every check explicit: the algorithm is pinned, `exp`, `iss`, `aud` and `sub` are
//! required, and `exp`/`nbf` are checked against the service clock with no leeway.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Config;
use crate::domain::Role;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    /// The member's role, as stored (`OWNER`, …); a token naming any other is not valid.
    pub role: Role,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The user's token generation when the token was issued (`users.token_generation`): a password
    /// change, a reset or a deactivation moves the user's on, and the edge refuses every token of an
    /// older generation. A counter rather than a time, so that there is no second-resolution question
    /// about `iat`, and a sign-in that checked the old password while a change was committing carries the
    /// old generation and is refused too. Absent in tokens issued before generations existed (0).
    #[serde(default, rename = "gen")]
    pub generation: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

impl JwtKeys {
    pub fn new(config: &Config) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        // Time claims are checked below against the service clock, so tests can move time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.jwt.issuer]);
        validation.set_audience(&[&config.jwt.audience]);
        Self {
            encoding: EncodingKey::from_secret(config.jwt.secret.expose_secret().as_bytes()),
            decoding: DecodingKey::from_secret(config.jwt.secret.expose_secret().as_bytes()),
            validation,
            issuer: config.jwt.issuer.clone(),
            audience: config.jwt.audience.clone(),
            ttl: chrono::Duration::from_std(config.jwt.token_ttl).unwrap_or(chrono::Duration::hours(1)),
        }
    }

    /// Issues a token for a user (of this token generation) acting in a subscriber with a role.
    pub fn issue(
        &self,
        user: Uuid,
        generation: i64,
        subscriber: Uuid,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), AppError> {
        let expires = now + self.ttl;
        let claims = Claims {
            sub: user,
            sid: subscriber,
            role,
            iat: now.timestamp(),
            nbf: Some(now.timestamp()),
            exp: expires.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            generation,
        };
        let token =
            encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::failed("jwt encode"))?;
        Ok((token, expires))
    }

    /// Verifies signature, algorithm, issuer, audience and the time claims. Says nothing about why a
    /// token is refused beyond a stable reason: the caller learns only that it is not valid.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, AppError> {
        let claims = self.verify_signature(token)?;
        check_time(&claims, now)?;
        Ok(claims)
    }

    /// Signature, algorithm, issuer, audience and required claims: what does not change with time.
    pub fn verify_signature(&self, token: &str) -> Result<Claims, AppError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::unauthenticated("INVALID_TOKEN", "invalid token"))?;
        Ok(data.claims)
    }
}

/// `exp` and `nbf` against the service clock, with no leeway.
pub fn check_time(claims: &Claims, now: DateTime<Utc>) -> Result<(), AppError> {
    let now = now.timestamp();
    if claims.exp <= now {
        return Err(AppError::unauthenticated("TOKEN_EXPIRED", "token expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(AppError::unauthenticated("INVALID_TOKEN", "invalid token"));
    }
    Ok(())
}
