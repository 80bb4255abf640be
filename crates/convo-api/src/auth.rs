//! Staff JWT authentication (spec §2).
//!
//! * `Authorization: Bearer <JWT>`; staff tokens only.
//! * Claims in vcita's form (`iss = "<staff_uid>:staff"`, `belongs = "<business_uid>:business;…"`,
//!   `scp`, `iat`, `exp`) or the app form (`sub_type = "staff"`, `sub`/`actor_uid`, `business_uid`).
//! * RS256/RS512/ES256 with configured public keys (PEM files and/or a JWKS file), HS256/HS512 with a
//!   configured development secret. Everything else (`alg: none`, an algorithm that does not match
//!   the key, expired or not-yet-valid tokens beyond [`LEEWAY_SECS`]) is refused.
//!
//! Key selection: a key is only ever used with an algorithm of its own family (an HMAC secret for
//! `HS*`, an RSA key for `RS*`, a P-256 key for `ES256`) and, when a JWK declares `alg`, only with that
//! algorithm. A token with a `kid` is checked against the keys carrying that `kid`; if no configured
//! key carries it, the keys without a `kid` (PEM files, the HMAC secret) of the right family are
//! tried, and if there are none the token is refused ([`AuthError::UnknownKid`]). A token without a
//! `kid` is checked against every key of the right family.
//!
//! Time checks use the `now` passed in, never the system clock, so they are deterministic in tests.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds (spec §2).
pub const LEEWAY_SECS: i64 = 60;

/// Tokens longer than this are refused without being parsed.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Algorithms accepted at all (spec §2). Anything else, including `none`, is refused.
const SUPPORTED_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS512,
    Algorithm::ES256,
];

/// Who is calling, taken from a verified staff token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub staff_uid: String,
    pub business_uid: String,
    pub scopes: Vec<String>,
}

impl Identity {
    /// true when scp is "all" or contains "conversations" (spec §2)
    pub fn may_use_conversations(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s == "all" || s == "conversations")
    }
}

/// Where verification keys come from. Debug must NOT print secrets (implement Debug by hand, redacting).
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// Development HMAC secret for HS256/HS512 tokens.
    pub hs_secret: Option<String>,
    /// Public keys (RSA or P-256, SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY` PEM), one per file.
    pub public_key_pem_files: Vec<PathBuf>,
    /// A JWK set (`{"keys":[…]}`) holding RSA and/or P-256 public keys.
    pub jwks_file: Option<PathBuf>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("hs_secret", &self.hs_secret.as_ref().map(|_| Redacted))
            .field("public_key_pem_files", &self.public_key_pem_files)
            .field("jwks_file", &self.jwks_file)
            .finish()
    }
}

/// Prints `[redacted]` in Debug output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
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
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("token has an invalid {0} claim")]
    InvalidClaim(&'static str),
    #[error("not a staff token")]
    NotStaff,
}

/// One verification key.
#[derive(Clone)]
struct KeyEntry {
    kid: Option<String>,
    family: AlgorithmFamily,
    /// Set when the JWK declares `alg`: the key is then used with that algorithm only.
    alg: Option<Algorithm>,
    key: DecodingKey,
    /// Where the key came from, for Debug and logs (a path or `hs_secret`, never key material).
    origin: String,
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

/// Verifies staff tokens. Immutable once built; cheap to share behind `Arc`.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<KeyEntry>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .finish()
    }
}

impl Verifier {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let mut keys = Vec::new();

        if let Some(secret) = &config.hs_secret {
            if secret.is_empty() {
                return Err(AuthConfigError::EmptySecret);
            }
            if secret.len() < 32 {
                tracing::warn!(
                    "the HS256/HS512 development secret is shorter than 32 bytes; do not use it in production"
                );
            }
            keys.push(KeyEntry {
                kid: None,
                family: AlgorithmFamily::Hmac,
                alg: None,
                key: DecodingKey::from_secret(secret.as_bytes()),
                origin: "hs_secret".to_owned(),
            });
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
        Ok(Self { keys })
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

        let candidates = self.candidate_keys(alg, kid)?;

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
        identity_from_claims(&claims)
    }

    /// The keys a token with this `alg` and `kid` may be checked against (see the module docs).
    fn candidate_keys(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<&KeyEntry>, AuthError> {
        let fits = |k: &KeyEntry| k.family == alg.family() && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => {
                let named: Vec<&KeyEntry> = self
                    .keys
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
                let anonymous: Vec<&KeyEntry> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.is_none() && fits(k))
                    .collect();
                if anonymous.is_empty() {
                    Err(AuthError::UnknownKid)
                } else {
                    Ok(anonymous)
                }
            }
            None => {
                let usable: Vec<&KeyEntry> = self.keys.iter().filter(|k| fits(k)).collect();
                if usable.is_empty() {
                    Err(AuthError::UnsupportedAlgorithm)
                } else {
                    Ok(usable)
                }
            }
        }
    }
}

/// Signs a development token with the HS256 secret (used by `convo dev-token` and tests): vcita's claim form.
pub fn sign_dev_token(
    secret: &str,
    staff_uid: &str,
    business_uid: &str,
    scopes: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> String {
    let iat = now.timestamp();
    let claims = serde_json::json!({
        "iss": format!("{staff_uid}:staff"),
        "belongs": format!("{business_uid}:business"),
        "scp": scopes,
        "iat": iat,
        "exp": iat.saturating_add(ttl.num_seconds()),
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing of a JSON object cannot fail")
}

// ---------------------------------------------------------------------------------------------
// Key loading

fn load_pem_key(path: &Path) -> Result<KeyEntry, AuthConfigError> {
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

fn load_jwks(path: &Path) -> Result<Vec<KeyEntry>, AuthConfigError> {
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

// ---------------------------------------------------------------------------------------------
// Claims

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

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim)
}

/// A plausible uid: non-empty, bounded, no whitespace, control characters or separators.
fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 255
        && !uid
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | ';' | ','))
}

/// `iss` in vcita's `"<uid>:<type>"` form, as `(uid, type)`; `None` for other issuers (e.g. URLs).
fn vcita_subject(iss: &str) -> Option<(&str, &str)> {
    let (uid, kind) = iss.split_once(':')?;
    let is_type = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    (is_type && valid_uid(uid)).then_some((uid, kind))
}

/// The business uid from vcita's `belongs` claim (`"<uid>:business;<uid>:directory"`, any order).
fn business_from_belongs(belongs: &str) -> Option<&str> {
    let mut found: Option<&str> = None;
    for part in belongs.split(';') {
        let Some((uid, kind)) = part.trim().split_once(':') else {
            continue;
        };
        if kind.trim() != "business" {
            continue;
        }
        let uid = uid.trim();
        match found {
            // Two different businesses: ambiguous, refuse.
            Some(previous) if previous != uid => return None,
            _ => found = Some(uid),
        }
    }
    found.filter(|uid| valid_uid(uid))
}

fn scopes_from_claims(claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
    let mut scopes: Vec<String> = Vec::new();
    let mut push = |text: &str| {
        for scope in text.split(|c: char| c.is_whitespace() || c == ',') {
            if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
    };
    match claims.get("scp") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => push(s),
        Some(Value::Array(items)) => {
            for item in items {
                push(item.as_str().ok_or(AuthError::InvalidClaim("scp"))?);
            }
        }
        Some(_) => return Err(AuthError::InvalidClaim("scp")),
    }
    Ok(scopes)
}

fn identity_from_claims(claims: &Map<String, Value>) -> Result<Identity, AuthError> {
    let sub_type = str_claim(claims, "sub_type");
    if sub_type.is_some_and(|t| t != "staff") {
        return Err(AuthError::NotStaff);
    }

    let (staff_uid, business_uid) = match str_claim(claims, "iss").and_then(vcita_subject) {
        // vcita's form.
        Some((uid, "staff")) => {
            let business = str_claim(claims, "belongs")
                .and_then(business_from_belongs)
                .or_else(|| str_claim(claims, "business_uid").filter(|b| valid_uid(b)))
                .ok_or(AuthError::NotStaff)?;
            (uid, business)
        }
        // vcita's form for another kind of caller (client, app, ...).
        Some(_) => return Err(AuthError::NotStaff),
        // The app form.
        None => {
            if sub_type != Some("staff") {
                return Err(AuthError::NotStaff);
            }
            let staff = str_claim(claims, "sub")
                .filter(|s| !s.is_empty())
                .or_else(|| str_claim(claims, "actor_uid"))
                .filter(|s| valid_uid(s))
                .ok_or(AuthError::NotStaff)?;
            let business = str_claim(claims, "business_uid")
                .filter(|b| valid_uid(b))
                .ok_or(AuthError::NotStaff)?;
            (staff, business)
        }
    };

    Ok(Identity {
        staff_uid: staff_uid.to_owned(),
        business_uid: business_uid.to_owned(),
        scopes: scopes_from_claims(claims)?,
    })
}

/// Unpadded base64url decoding (RFC 7515 §2).
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde_json::json;
    use std::sync::Arc;

    const SECRET: &str = "test-only-hs-secret-0123456789abcdef";
    const RSA_PRIVATE: &str = include_str!("../tests/fixtures/test-rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../tests/fixtures/test-rsa-public.pem");
    const EC_PRIVATE: &str = include_str!("../tests/fixtures/test-ec-p256-private.pem");
    const JWKS: &str = include_str!("../tests/fixtures/test-jwks.json");

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
    }

    fn b64url_encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn staff_claims() -> Value {
        let t = now().timestamp();
        json!({
            "iss": "staff-1:staff",
            "belongs": "biz-1:business;dir-1:directory",
            "scp": "all",
            "iat": t - 10,
            "exp": t + 3600,
        })
    }

    fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn hs(alg: Algorithm, claims: &Value) -> String {
        sign(
            alg,
            None,
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
    }

    fn rsa_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap()
    }

    fn ec_key() -> EncodingKey {
        EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap()
    }

    fn hs_verifier() -> Verifier {
        Verifier::new(&AuthConfig {
            hs_secret: Some(SECRET.to_owned()),
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn pem_verifier() -> Verifier {
        Verifier::new(&AuthConfig {
            public_key_pem_files: vec![
                fixture("test-rsa-public.pem"),
                fixture("test-ec-p256-public.pem"),
            ],
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn jwks_verifier() -> Verifier {
        Verifier::new(&AuthConfig {
            jwks_file: Some(fixture("test-jwks.json")),
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn check(verifier: &Verifier, token: &str) -> Result<Identity, AuthError> {
        verifier.verify_header(Some(&format!("Bearer {token}")), now())
    }

    fn expect_staff(result: Result<Identity, AuthError>) {
        let identity = result.unwrap();
        assert_eq!(identity.staff_uid, "staff-1");
        assert_eq!(identity.business_uid, "biz-1");
        assert_eq!(identity.scopes, vec!["all".to_owned()]);
        assert!(identity.may_use_conversations());
    }

    #[test]
    fn hs256_and_hs512_accepted() {
        let v = hs_verifier();
        expect_staff(check(&v, &hs(Algorithm::HS256, &staff_claims())));
        expect_staff(check(&v, &hs(Algorithm::HS512, &staff_claims())));
    }

    #[test]
    fn dev_token_round_trips() {
        let token = sign_dev_token(SECRET, "staff-1", "biz-1", "all", Duration::hours(1), now());
        expect_staff(check(&hs_verifier(), &token));
        // It expires after its ttl (plus leeway).
        let later = now() + Duration::hours(1) + Duration::seconds(LEEWAY_SECS);
        assert_eq!(
            hs_verifier().verify_header(Some(&format!("Bearer {token}")), later),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn rsa_and_ec_via_pem_accepted() {
        let v = pem_verifier();
        let claims = staff_claims();
        expect_staff(check(
            &v,
            &sign(Algorithm::RS256, None, &claims, &rsa_key()),
        ));
        expect_staff(check(
            &v,
            &sign(Algorithm::RS512, None, &claims, &rsa_key()),
        ));
        expect_staff(check(&v, &sign(Algorithm::ES256, None, &claims, &ec_key())));
    }

    #[test]
    fn rsa_and_ec_via_jwks_with_kid_accepted() {
        let v = jwks_verifier();
        let claims = staff_claims();
        for (alg, kid, key) in [
            (Algorithm::RS256, "test-rsa-1", rsa_key()),
            (Algorithm::RS512, "test-rsa-1", rsa_key()),
            (Algorithm::ES256, "test-ec-1", ec_key()),
        ] {
            expect_staff(check(&v, &sign(alg, Some(kid), &claims, &key)));
            // Without a kid, the keys of the right family are tried.
            expect_staff(check(&v, &sign(alg, None, &claims, &key)));
        }
    }

    #[test]
    fn kid_is_honoured() {
        let v = jwks_verifier();
        let claims = staff_claims();
        assert_eq!(
            check(
                &v,
                &sign(Algorithm::RS256, Some("nope"), &claims, &rsa_key())
            ),
            Err(AuthError::UnknownKid)
        );
        // A kid naming the EC key cannot be used with an RSA algorithm.
        assert_eq!(
            check(
                &v,
                &sign(Algorithm::RS256, Some("test-ec-1"), &claims, &rsa_key())
            ),
            Err(AuthError::UnsupportedAlgorithm)
        );
        // With PEM keys (no kid) configured, an unknown kid falls back to them.
        expect_staff(check(
            &pem_verifier(),
            &sign(Algorithm::RS256, Some("rotated"), &claims, &rsa_key()),
        ));
    }

    #[test]
    fn jwk_alg_is_honoured() {
        let mut doc: Value = serde_json::from_str(JWKS).unwrap();
        doc["keys"][0]["alg"] = json!("RS256");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let v = Verifier::new(&AuthConfig {
            jwks_file: Some(path),
            ..AuthConfig::default()
        })
        .unwrap();
        let claims = staff_claims();
        expect_staff(check(
            &v,
            &sign(Algorithm::RS256, Some("test-rsa-1"), &claims, &rsa_key()),
        ));
        assert_eq!(
            check(
                &v,
                &sign(Algorithm::RS512, Some("test-rsa-1"), &claims, &rsa_key())
            ),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn wrong_secret_refused() {
        let token = sign(
            Algorithm::HS256,
            None,
            &staff_claims(),
            &EncodingKey::from_secret(b"some-other-secret"),
        );
        assert_eq!(check(&hs_verifier(), &token), Err(AuthError::BadSignature));
    }

    #[test]
    fn forged_signature_refused() {
        let v = pem_verifier();
        for (alg, key, sig_len) in [
            (Algorithm::RS256, rsa_key(), 256),
            (Algorithm::ES256, ec_key(), 64),
        ] {
            let token = sign(alg, None, &staff_claims(), &key);
            let (signed, _) = token.rsplit_once('.').unwrap();
            let forged = format!("{signed}.{}", b64url_encode(&vec![7u8; sig_len]));
            assert_eq!(check(&v, &forged), Err(AuthError::BadSignature));
            let empty = format!("{signed}.");
            assert_eq!(check(&v, &empty), Err(AuthError::BadSignature));
        }
        // A key of the right type but not the signer's: an RSA-only verifier has no EC key.
        let rsa_only = Verifier::new(&AuthConfig {
            public_key_pem_files: vec![fixture("test-rsa-public.pem")],
            ..AuthConfig::default()
        })
        .unwrap();
        let es = sign(Algorithm::ES256, None, &staff_claims(), &ec_key());
        assert_eq!(check(&rsa_only, &es), Err(AuthError::UnsupportedAlgorithm));
    }

    #[test]
    fn tampered_payload_refused() {
        for (verifier, token) in [
            (hs_verifier(), hs(Algorithm::HS256, &staff_claims())),
            (
                pem_verifier(),
                sign(Algorithm::RS256, None, &staff_claims(), &rsa_key()),
            ),
            (
                pem_verifier(),
                sign(Algorithm::ES256, None, &staff_claims(), &ec_key()),
            ),
        ] {
            let parts: Vec<&str> = token.split('.').collect();
            let mut claims: Value =
                serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
            claims["belongs"] = json!("biz-2:business");
            let forged = format!(
                "{}.{}.{}",
                parts[0],
                b64url_encode(claims.to_string().as_bytes()),
                parts[2]
            );
            assert_eq!(check(&verifier, &forged), Err(AuthError::BadSignature));
        }
    }

    #[test]
    fn alg_none_refused() {
        let payload = b64url_encode(staff_claims().to_string().as_bytes());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"NONE"}"#,
        ] {
            let token = format!("{}.{payload}.", b64url_encode(header.as_bytes()));
            for v in [hs_verifier(), pem_verifier(), jwks_verifier()] {
                assert_eq!(check(&v, &token), Err(AuthError::UnsupportedAlgorithm));
            }
        }
        // Unsupported but real algorithms are refused too.
        let token = sign(
            Algorithm::HS384,
            None,
            &staff_claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        );
        assert_eq!(
            check(&hs_verifier(), &token),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn alg_confusion_hs256_with_public_key_refused() {
        let token = sign(
            Algorithm::HS256,
            None,
            &staff_claims(),
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        );
        // No HMAC secret configured: HS256 is not acceptable at all.
        assert_eq!(
            check(&pem_verifier(), &token),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(&jwks_verifier(), &token),
            Err(AuthError::UnsupportedAlgorithm)
        );
        // With a secret configured too, only the secret is used for HS256.
        let both = Verifier::new(&AuthConfig {
            hs_secret: Some(SECRET.to_owned()),
            public_key_pem_files: vec![fixture("test-rsa-public.pem")],
            jwks_file: Some(fixture("test-jwks.json")),
        })
        .unwrap();
        assert_eq!(check(&both, &token), Err(AuthError::BadSignature));
        let with_kid = sign(
            Algorithm::HS256,
            Some("test-rsa-1"),
            &staff_claims(),
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        );
        assert_eq!(
            check(&both, &with_kid),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn expiry_with_leeway() {
        let v = hs_verifier();
        let t = now().timestamp();
        let mut claims = staff_claims();
        claims["exp"] = json!(t - LEEWAY_SECS - 1);
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::Expired)
        );
        claims["exp"] = json!(t - LEEWAY_SECS + 1);
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
        claims["exp"] = json!(t - 30);
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
    }

    #[test]
    fn not_yet_valid_refused() {
        let v = hs_verifier();
        let t = now().timestamp();
        let mut claims = staff_claims();
        claims["nbf"] = json!(t + LEEWAY_SECS + 1);
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::NotYetValid)
        );
        claims["nbf"] = json!(t + 30);
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));

        let mut claims = staff_claims();
        claims["iat"] = json!(t + 600);
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::NotYetValid)
        );
    }

    #[test]
    fn exp_required_and_numeric() {
        let v = hs_verifier();
        let mut claims = staff_claims();
        claims.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::MissingClaim("exp"))
        );
        claims["exp"] = json!("tomorrow");
        assert!(check(&v, &hs(Algorithm::HS256, &claims)).is_err());
        let mut claims = staff_claims();
        claims["nbf"] = json!("soon");
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::InvalidClaim("nbf"))
        );
    }

    #[test]
    fn non_staff_tokens_refused() {
        let v = hs_verifier();
        let t = now().timestamp();
        let base = |extra: Value| {
            let mut c = json!({"scp": "all", "iat": t, "exp": t + 600});
            for (k, val) in extra.as_object().unwrap() {
                c[k] = val.clone();
            }
            hs(Algorithm::HS256, &c)
        };
        for extra in [
            json!({"iss": "client-1:client", "belongs": "biz-1:business"}),
            json!({"iss": "staff-1:staff"}),
            json!({"iss": "staff-1:staff", "belongs": "dir-1:directory"}),
            json!({"iss": "staff-1:staff", "belongs": "biz-1:business;biz-2:business"}),
            json!({"iss": "staff-1:staff", "belongs": "biz-1:business", "sub_type": "client"}),
            json!({"iss": "client-1:client", "sub_type": "staff", "sub": "s", "business_uid": "b"}),
            json!({"sub_type": "client", "sub": "c-1", "business_uid": "biz-1"}),
            json!({"sub_type": "staff", "sub": "staff-1"}),
            json!({"sub_type": "staff", "business_uid": "biz-1"}),
            json!({"sub": "staff-1", "business_uid": "biz-1"}),
            json!({"iss": ":staff", "belongs": "biz-1:business"}),
            json!({}),
        ] {
            assert_eq!(
                check(&v, &base(extra.clone())),
                Err(AuthError::NotStaff),
                "{extra}"
            );
        }
    }

    #[test]
    fn belongs_parts_in_any_order() {
        let v = hs_verifier();
        let mut claims = staff_claims();
        claims["belongs"] = json!("dir-1:directory; biz-1:business");
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
    }

    #[test]
    fn app_form_accepted() {
        let v = hs_verifier();
        let t = now().timestamp();
        for claims in [
            json!({"iss": "https://app.example", "sub_type": "staff", "sub": "staff-1",
                   "business_uid": "biz-1", "scp": ["all"], "iat": t, "exp": t + 600}),
            json!({"sub_type": "staff", "actor_uid": "staff-1", "business_uid": "biz-1",
                   "scp": "all", "exp": t + 600}),
        ] {
            expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
        }
    }

    #[test]
    fn scopes() {
        let v = hs_verifier();
        let scopes_of = |scp: Value| {
            let mut claims = staff_claims();
            claims["scp"] = scp;
            check(&v, &hs(Algorithm::HS256, &claims)).unwrap()
        };
        assert!(scopes_of(json!("all")).may_use_conversations());
        assert!(scopes_of(json!("conversations")).may_use_conversations());
        let listed = scopes_of(json!("read conversations"));
        assert_eq!(listed.scopes, vec!["read", "conversations"]);
        assert!(listed.may_use_conversations());
        assert!(scopes_of(json!("contacts,conversations")).may_use_conversations());
        assert!(scopes_of(json!(["read", "conversations"])).may_use_conversations());
        assert!(!scopes_of(json!("contacts")).may_use_conversations());
        assert!(!scopes_of(json!("conversations_read allx")).may_use_conversations());
        assert!(!scopes_of(Value::Null).may_use_conversations());
        let mut claims = staff_claims();
        claims["scp"] = json!(42);
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(AuthError::InvalidClaim("scp"))
        );
    }

    #[test]
    fn header_forms() {
        let v = hs_verifier();
        let token = hs(Algorithm::HS256, &staff_claims());
        expect_staff(v.verify_header(Some(&format!("bearer {token}")), now()));
        expect_staff(v.verify_header(Some(&format!("BEARER   {token} ")), now()));
        assert_eq!(v.verify_header(None, now()), Err(AuthError::MissingHeader));
        assert_eq!(
            v.verify_header(Some(""), now()),
            Err(AuthError::MissingHeader)
        );
        assert_eq!(
            v.verify_header(Some("   "), now()),
            Err(AuthError::MissingHeader)
        );
        for bad in [
            token.clone(),
            format!("Basic {token}"),
            format!("Bearer{token}"),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            "Bearer garbage".to_owned(),
            "Bearer a.b.c".to_owned(),
            "Bearer a.b".to_owned(),
            format!("Bearer {token}.x"),
            format!("Bearer {token} extra"),
            "Bearer ****.****.****".to_owned(),
            format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1)),
        ] {
            assert_eq!(
                v.verify_header(Some(&bad), now()),
                Err(AuthError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = AuthConfig {
            hs_secret: Some(SECRET.to_owned()),
            public_key_pem_files: vec![fixture("test-rsa-public.pem")],
            jwks_file: Some(fixture("test-jwks.json")),
        };
        let config_debug = format!("{config:?}");
        assert!(!config_debug.contains(SECRET), "{config_debug}");
        assert!(config_debug.contains("[redacted]"));
        let verifier = Verifier::new(&config).unwrap();
        let verifier_debug = format!("{verifier:?} {verifier:#?}");
        assert!(!verifier_debug.contains(SECRET), "{verifier_debug}");
        // Nor bytes of the secret in any list form.
        assert!(
            !verifier_debug.contains("116, 101, 115, 116"),
            "{verifier_debug}"
        );
        assert!(verifier_debug.contains("test-rsa-1"));
        // Errors never echo the token.
        let token = hs(Algorithm::HS256, &staff_claims());
        let err = hs_verifier()
            .verify_header(Some(&format!("Basic {token}")), now())
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&token));
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            Verifier::new(&AuthConfig::default()),
            Err(AuthConfigError::NoKeys)
        ));
        assert!(matches!(
            Verifier::new(&AuthConfig {
                hs_secret: Some(String::new()),
                ..AuthConfig::default()
            }),
            Err(AuthConfigError::EmptySecret)
        ));
        assert!(matches!(
            Verifier::new(&AuthConfig {
                public_key_pem_files: vec![fixture("does-not-exist.pem")],
                ..AuthConfig::default()
            }),
            Err(AuthConfigError::Io { .. })
        ));
        for private in ["test-rsa-private.pem", "test-ec-p256-private.pem"] {
            let err = Verifier::new(&AuthConfig {
                public_key_pem_files: vec![fixture(private)],
                ..AuthConfig::default()
            })
            .unwrap_err();
            assert!(matches!(err, AuthConfigError::Pem { .. }), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            Verifier::new(&AuthConfig {
                public_key_pem_files: vec![garbage],
                ..AuthConfig::default()
            }),
            Err(AuthConfigError::Pem { .. })
        ));
        for (name, content) in [
            ("not-json.json", "nope"),
            ("no-keys.json", r#"{"keys": 1}"#),
            ("empty.json", r#"{"keys": []}"#),
            (
                "oct.json",
                r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#,
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let err = Verifier::new(&AuthConfig {
                jwks_file: Some(path),
                ..AuthConfig::default()
            })
            .unwrap_err();
            assert!(matches!(err, AuthConfigError::Jwks { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn verifier_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Verifier>();
        let shared = Arc::new(hs_verifier());
        let token = hs(Algorithm::HS256, &staff_claims());
        let handle = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                shared.verify_header(Some(&format!("Bearer {token}")), now())
            })
        };
        expect_staff(handle.join().unwrap());
    }

    #[test]
    fn base64url_round_trip() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)).unwrap(), data);
        }
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("ab+/").is_none());
        assert!(b64url_decode("ab==").is_none());
    }
}
