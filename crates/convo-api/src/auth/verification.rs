//! Verifying a staff token: configuration, the checks in order, and why a token is refused.
//!
//! A token is checked in this order: the `Authorization` header's form, the compact JWT's form, the
//! header's `alg` (only RS256/RS512/ES256/HS256/HS512; `none` and anything else are refused) and
//! `kid`, the signature against the candidate keys ([`super::keys`]), `exp` (required), `nbf` and
//! `iat` with [`LEEWAY_SECS`] of clock skew, `aud` when an audience is expected, then the staff
//! identity ([`super::claims`]).
//!
//! Development tokens: HS256/HS512 tokens signed with the configured secret are accepted when the
//! secret is the only key source (the development setup). Once public keys (PEM files or a JWKS
//! file) are configured, HS tokens are refused ([`AuthError::DevelopmentTokenRefused`]) and the
//! secret is ignored (logged once, when the [`Verifier`] is built), unless
//! [`AuthConfig::allow_development_tokens`] is set.
//!
//! Audience: with [`AuthConfig::audience`] set, a token's `aud` (a string, or an array of strings)
//! contains that value exactly, or the token is refused; without it, `aud` is not read.
//!
//! Time checks use the `now` passed in, never the system clock, so they are deterministic in tests.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde_json::{Map, Value};

use super::claims::{Identity, identity_from_claims};
use super::keys::{KeyEntry, Redacted, candidate_keys, hmac_key, load_jwks, load_pem_key};

/// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds (spec §2).
pub const LEEWAY_SECS: i64 = 60;

/// Tokens longer than this are refused without being parsed.
pub(super) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Algorithms accepted at all (spec §2). Anything else, including `none`, is refused.
const SUPPORTED_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS512,
    Algorithm::ES256,
];

/// Where verification keys come from. Its Debug output shows the secret as `[redacted]`.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// Development HMAC secret for HS256/HS512 tokens.
    pub hs_secret: Option<String>,
    /// Public keys (RSA or P-256, SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY` PEM), one per file.
    pub public_key_pem_files: Vec<PathBuf>,
    /// A JWK set (`{"keys":[…]}`) holding RSA and/or P-256 public keys.
    pub jwks_file: Option<PathBuf>,
    /// Accept HS256/HS512 tokens signed with `hs_secret` although public keys are configured too.
    /// Without public keys, HS tokens are accepted whatever this says; without a secret, it has no
    /// effect.
    pub allow_development_tokens: bool,
    /// The audience a token's `aud` contains; `None` leaves `aud` unchecked.
    pub audience: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("hs_secret", &self.hs_secret.as_ref().map(|_| Redacted))
            .field("public_key_pem_files", &self.public_key_pem_files)
            .field("jwks_file", &self.jwks_file)
            .field("allow_development_tokens", &self.allow_development_tokens)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Why an [`AuthConfig`] could not be turned into a [`Verifier`]. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("cannot read key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad PEM public key in {}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("bad JWKS file {}: {reason}", path.display())]
    Jwks { path: PathBuf, reason: String },
    #[error("the HS256/HS512 secret is empty")]
    EmptySecret,
    #[error("the expected JWT audience is empty")]
    EmptyAudience,
    #[error(
        "no verification key configured (need an HS secret, a public key PEM file or a JWKS file)"
    )]
    NoKeys,
}

/// Why a token was refused. Only for logs (never contains the token or secret); HTTP always answers the spec's 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("malformed Authorization header or token")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token algorithm not supported or not matching the key")]
    UnsupportedAlgorithm,
    #[error("token kid matches no configured key")]
    UnknownKid,
    #[error("HS256/HS512 development token refused: public keys are configured")]
    DevelopmentTokenRefused,
    #[error("token audience does not contain the expected audience")]
    WrongAudience,
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("token has an invalid {0} claim")]
    InvalidClaim(&'static str),
    #[error("not a staff token")]
    NotStaff,
}

/// Verifies staff tokens. Immutable once built; cheap to share behind `Arc`.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<KeyEntry>,
    /// A secret was configured but is ignored because public keys are: HS tokens are refused.
    development_tokens_refused: bool,
    audience: Option<String>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field(
                "development_tokens_refused",
                &self.development_tokens_refused,
            )
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    /// Loads the configured keys. Logs a warning when a configured secret is ignored (see the
    /// module docs) or is shorter than 32 bytes.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let mut keys = Vec::new();
        let public_keys_configured =
            !config.public_key_pem_files.is_empty() || config.jwks_file.is_some();
        let mut development_tokens_refused = false;

        if let Some(secret) = &config.hs_secret {
            if secret.is_empty() {
                return Err(AuthConfigError::EmptySecret);
            }
            if public_keys_configured && !config.allow_development_tokens {
                development_tokens_refused = true;
            } else {
                if secret.len() < 32 {
                    tracing::warn!(
                        "the HS256/HS512 development secret is shorter than 32 bytes; do not use it in production"
                    );
                }
                keys.push(hmac_key(secret));
            }
        }

        for path in &config.public_key_pem_files {
            keys.push(load_pem_key(path)?);
        }

        if let Some(path) = &config.jwks_file {
            keys.extend(load_jwks(path)?);
        }

        if keys.is_empty() {
            return Err(AuthConfigError::NoKeys);
        }
        if config.audience.as_deref() == Some("") {
            return Err(AuthConfigError::EmptyAudience);
        }
        if development_tokens_refused {
            tracing::warn!(
                "public keys are configured, so the HS256/HS512 development secret is ignored and HS tokens are refused (--allow-development-tokens accepts them)"
            );
        }
        Ok(Self {
            keys,
            development_tokens_refused,
            audience: config.audience.clone(),
        })
    }

    /// Verifies the value of an Authorization header ("Bearer <jwt>", scheme case-insensitive).
    pub fn verify_header(
        &self,
        header: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Identity, AuthError> {
        let header = header.ok_or(AuthError::MissingHeader)?.trim();
        if header.is_empty() {
            return Err(AuthError::MissingHeader);
        }
        let (scheme, token) = header
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        self.verify_token(token.trim(), now)
    }

    /// Verifies a bare compact JWT (no scheme) and returns the staff identity it carries.
    pub fn verify_token(&self, token: &str, now: DateTime<Utc>) -> Result<Identity, AuthError> {
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };

        // Read alg and kid ourselves first: jsonwebtoken cannot even parse a header whose alg is
        // "none" or unknown, and we want those classified as UnsupportedAlgorithm.
        let raw_header: Value = b64url_decode(header_b64)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(AuthError::Malformed)?;
        let alg_name = raw_header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AuthError::Malformed)?;
        let alg = SUPPORTED_ALGORITHMS
            .into_iter()
            .find(|a| alg_name == format!("{a:?}"))
            .ok_or(AuthError::UnsupportedAlgorithm)?;
        let kid = match raw_header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(AuthError::Malformed),
        };
        if self.development_tokens_refused && alg.family() == AlgorithmFamily::Hmac {
            return Err(AuthError::DevelopmentTokenRefused);
        }

        let candidates = candidate_keys(&self.keys, alg, kid)?;

        let mut validation = Validation::new(alg);
        // Time claims are checked below against `now`, not the library's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);

        let mut claims = None;
        for entry in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &entry.key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(err) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    match err.kind() {
                        K::InvalidSignature => continue,
                        K::InvalidEcdsaKey
                        | K::InvalidRsaKey(_)
                        | K::InvalidKeyFormat
                        | K::Provider(_) => {
                            tracing::debug!(origin = %entry.origin, error = %err, "verification key unusable");
                            continue;
                        }
                        K::InvalidAlgorithm | K::MissingAlgorithm | K::InvalidAlgorithmName => {
                            return Err(AuthError::UnsupportedAlgorithm);
                        }
                        K::MissingRequiredClaim(_) => return Err(AuthError::MissingClaim("exp")),
                        K::InvalidClaimFormat(_) => return Err(AuthError::InvalidClaim("exp")),
                        K::ExpiredSignature => return Err(AuthError::Expired),
                        K::ImmatureSignature => return Err(AuthError::NotYetValid),
                        _ => return Err(AuthError::Malformed),
                    }
                }
            }
        }
        let claims = claims.ok_or(AuthError::BadSignature)?;

        check_times(&claims, now)?;
        if let Some(expected) = &self.audience {
            check_audience(&claims, expected)?;
        }
        identity_from_claims(&claims)
    }
}

/// A NumericDate claim as whole seconds; `Err` when present but not a number.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_u64().is_some() {
                Ok(Some(i64::MAX))
            } else {
                match n.as_f64() {
                    // Saturating float-to-int conversion.
                    Some(f) if f.is_finite() => Ok(Some(f.floor() as i64)),
                    _ => Err(AuthError::InvalidClaim(name)),
                }
            }
        }
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

fn check_times(claims: &Map<String, Value>, now: DateTime<Utc>) -> Result<(), AuthError> {
    let now = now.timestamp();
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(AuthError::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = numeric_date(claims, name)?
            && t > now.saturating_add(LEEWAY_SECS)
        {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(())
}

/// `aud` as a string or an array of strings (RFC 7519 §4.1.3), compared exactly with `expected`.
fn check_audience(claims: &Map<String, Value>, expected: &str) -> Result<(), AuthError> {
    let contains = match claims.get("aud") {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("aud")),
        Some(Value::String(aud)) => aud == expected,
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                found |= item.as_str().ok_or(AuthError::InvalidClaim("aud"))? == expected;
            }
            found
        }
        Some(_) => return Err(AuthError::InvalidClaim("aud")),
    };
    if contains {
        Ok(())
    } else {
        Err(AuthError::WrongAudience)
    }
}

/// Unpadded base64url decoding (RFC 7515 §2).
pub(super) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}
