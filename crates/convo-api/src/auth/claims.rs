//! The staff identity in a verified token's claims, in vcita's form or the app form (spec §2).
//!
//! * vcita's form: `iss = "<staff_uid>:staff"`, the business from
//!   `belongs = "<business_uid>:business;<directory_uid>:directory"` (parts in any order; two
//!   different businesses names none), or from `business_uid` when `belongs` names none.
//! * The app form, when `iss` is not `"<uid>:<type>"` (e.g. a URL): `sub_type = "staff"`, the staff
//!   from `sub` (or `actor_uid`), the business from `business_uid`.
//! * A `sub_type` other than `staff`, or an `iss` of another type (`:client`, `:app`, …), is
//!   not a staff token.
//! * `scp`: a string of scopes separated by spaces or commas, or an array of such strings.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use super::verification::AuthError;

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

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim)
}

/// A staff or business uid follows the one uid rule ([`convo_domain::Uid`]).
fn valid_uid(uid: &str) -> bool {
    convo_domain::Uid::parse(uid).is_ok()
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

pub(super) fn identity_from_claims(claims: &Map<String, Value>) -> Result<Identity, AuthError> {
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
