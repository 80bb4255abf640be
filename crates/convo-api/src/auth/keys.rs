//! Verification keys: loading them (an HMAC secret, PEM files, a JWKS file) and choosing the ones a
//! token may be checked against.
//!
//! Key selection: a key is only ever used with an algorithm of its own family (an HMAC secret for
//! `HS*`, an RSA key for `RS*`, a P-256 key for `ES256`) and, when a JWK declares `alg`, only with that
//! algorithm. A token with a `kid` is checked against the keys carrying that `kid`; if no configured
//! key carries it, the keys without a `kid` (PEM files, the HMAC secret) of the right family are
//! tried, and if there are none the token is refused ([`AuthError::UnknownKid`]). A token without a
//! `kid` is checked against every key of the right family.
//!
//! A PEM file holding a private key is refused at startup. A JWKS key that cannot be used (not a
//! signature key, a curve other than P-256, a symmetric or OKP key, an unsupported `alg`) is skipped
//! with a warning; a JWKS file with no usable key is refused.

use std::fmt;
use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use super::verification::{AuthConfigError, AuthError};

/// Prints `[redacted]` in Debug output.
pub(super) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One verification key.
#[derive(Clone)]
pub(super) struct KeyEntry {
    kid: Option<String>,
    family: AlgorithmFamily,
    /// Set when the JWK declares `alg`: the key is then used with that algorithm only.
    alg: Option<Algorithm>,
    pub(super) key: DecodingKey,
    /// Where the key came from, for Debug and logs (a path or `hs_secret`, never key material).
    pub(super) origin: String,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("origin", &self.origin)
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .field("key", &Redacted)
            .finish()
    }
}

/// The key of an HS256/HS512 secret (no `kid`).
pub(super) fn hmac_key(secret: &str) -> KeyEntry {
    KeyEntry {
        kid: None,
        family: AlgorithmFamily::Hmac,
        alg: None,
        key: DecodingKey::from_secret(secret.as_bytes()),
        origin: "hs_secret".to_owned(),
    }
}

/// The keys a token with this `alg` and `kid` may be checked against (see the module docs).
pub(super) fn candidate_keys<'a>(
    keys: &'a [KeyEntry],
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Vec<&'a KeyEntry>, AuthError> {
    let fits = |k: &KeyEntry| k.family == alg.family() && k.alg.is_none_or(|a| a == alg);
    match kid {
        Some(kid) => {
            let named: Vec<&KeyEntry> = keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect();
            if !named.is_empty() {
                // The kid names specific keys: never fall back to others, and refuse an
                // algorithm that is not the named key's.
                let usable: Vec<&KeyEntry> = named.into_iter().filter(|k| fits(k)).collect();
                return if usable.is_empty() {
                    Err(AuthError::UnsupportedAlgorithm)
                } else {
                    Ok(usable)
                };
            }
            let anonymous: Vec<&KeyEntry> =
                keys.iter().filter(|k| k.kid.is_none() && fits(k)).collect();
            if anonymous.is_empty() {
                Err(AuthError::UnknownKid)
            } else {
                Ok(anonymous)
            }
        }
        None => {
            let usable: Vec<&KeyEntry> = keys.iter().filter(|k| fits(k)).collect();
            if usable.is_empty() {
                Err(AuthError::UnsupportedAlgorithm)
            } else {
                Ok(usable)
            }
        }
    }
}

/// The public key in a PEM file (RSA or P-256, SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
pub(super) fn load_pem_key(path: &Path) -> Result<KeyEntry, AuthConfigError> {
    let bytes = std::fs::read(path).map_err(|source| AuthConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let pem_error = |reason: &str| AuthConfigError::Pem {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if contains(&bytes, b"PRIVATE KEY-----") {
        return Err(pem_error(
            "the file holds a private key; configure the public key instead",
        ));
    }
    let origin = path.display().to_string();
    if let Ok(key) = DecodingKey::from_rsa_pem(&bytes) {
        return Ok(KeyEntry {
            kid: None,
            family: AlgorithmFamily::Rsa,
            alg: None,
            key,
            origin,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&bytes) {
        if !is_p256_key(&key) {
            return Err(pem_error("only P-256 (ES256) EC keys are supported"));
        }
        return Ok(KeyEntry {
            kid: None,
            family: AlgorithmFamily::Ec,
            alg: None,
            key,
            origin,
        });
    }
    Err(pem_error("not an RSA or P-256 EC public key in PEM form"))
}

pub(super) fn load_jwks(path: &Path) -> Result<Vec<KeyEntry>, AuthConfigError> {
    let bytes = std::fs::read(path).map_err(|source| AuthConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let jwks_error = |reason: String| AuthConfigError::Jwks {
        path: path.to_owned(),
        reason,
    };
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| jwks_error(format!("not JSON: {e}")))?;
    let raw_keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| jwks_error("no \"keys\" array".to_owned()))?;

    let mut keys = Vec::new();
    for (index, raw) in raw_keys.iter().enumerate() {
        match jwk_entry(path, index, raw) {
            Ok(entry) => keys.push(entry),
            Err(why) => {
                tracing::warn!(path = %path.display(), index, "skipping JWKS key: {why}");
            }
        }
    }
    if keys.is_empty() {
        return Err(jwks_error("no usable RSA or P-256 signing key".to_owned()));
    }
    Ok(keys)
}

/// Turns one JWK into a key entry, or says why it is skipped.
fn jwk_entry(path: &Path, index: usize, raw: &Value) -> Result<KeyEntry, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| format!("unreadable: {e}"))?;
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("not a signature key (use != sig)".to_owned());
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            AlgorithmFamily::Ec
        }
        AlgorithmParameters::EllipticCurve(_) => return Err("EC curve other than P-256".to_owned()),
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are not accepted from a JWKS file".to_owned());
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err("OKP keys are not supported".to_owned()),
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(other) => return Err(format!("unsupported alg {other}")),
    };
    if let Some(alg) = alg
        && alg.family() != family
    {
        return Err("alg does not match the key type".to_owned());
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("invalid key: {e}"))?;
    if family == AlgorithmFamily::Ec && !is_p256_key(&key) {
        return Err("invalid P-256 point".to_owned());
    }
    let kid = jwk.common.key_id.clone();
    let origin = match &kid {
        Some(kid) => format!("{}#{kid}", path.display()),
        None => format!("{}#{index}", path.display()),
    };
    Ok(KeyEntry {
        kid,
        family,
        alg,
        key,
        origin,
    })
}

/// Whether an EC decoding key is a valid P-256 point (the ES256 verifier parses it up front).
fn is_p256_key(key: &DecodingKey) -> bool {
    jsonwebtoken::crypto::verify("", b"", key, Algorithm::ES256).is_ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
