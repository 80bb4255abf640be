//! Unit tests of staff token verification: keys, algorithms, time claims, claim forms, headers,
//! configuration and redaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::verification::{MAX_TOKEN_LEN, b64url_decode};
use super::*;

const SECRET: &str = "test-only-hs-secret-0123456789abcdef";
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/test-rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/test-rsa-public.pem");
const EC_PRIVATE: &str = include_str!("../../tests/fixtures/test-ec-p256-private.pem");
const JWKS: &str = include_str!("../../tests/fixtures/test-jwks.json");

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

/// A secret, a PEM public key and a JWKS file, development tokens not allowed, no audience.
fn every_key_source() -> AuthConfig {
    AuthConfig {
        hs_secret: Some(SECRET.to_owned()),
        public_key_pem_files: vec![fixture("test-rsa-public.pem")],
        jwks_file: Some(fixture("test-jwks.json")),
        ..AuthConfig::default()
    }
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
        let mut claims: Value = serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
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
    // With a secret configured too (and development tokens allowed), only the secret is used for
    // HS256.
    let both = Verifier::new(&AuthConfig {
        allow_development_tokens: true,
        ..every_key_source()
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
        allow_development_tokens: true,
        audience: Some("convo-api".to_owned()),
        ..every_key_source()
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
    assert!(verifier_debug.contains("convo-api"), "{verifier_debug}");
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
            hs_secret: Some(String::new()),
            ..every_key_source()
        }),
        Err(AuthConfigError::EmptySecret)
    ));
    assert!(matches!(
        Verifier::new(&AuthConfig {
            audience: Some(String::new()),
            ..every_key_source()
        }),
        Err(AuthConfigError::EmptyAudience)
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
fn development_tokens_need_the_flag_once_public_keys_are_configured() {
    let rs256 = sign(Algorithm::RS256, None, &staff_claims(), &rsa_key());
    let dev_token = sign_dev_token(SECRET, "staff-1", "biz-1", "all", Duration::hours(1), now());
    // A secret beside PEM keys, a JWKS file, or both: HS256 and HS512 are refused, even with a kid,
    // and the public keys keep working.
    for keys in [
        AuthConfig {
            jwks_file: None,
            ..every_key_source()
        },
        AuthConfig {
            public_key_pem_files: vec![],
            ..every_key_source()
        },
        every_key_source(),
    ] {
        let v = Verifier::new(&keys).unwrap();
        for token in [
            hs(Algorithm::HS256, &staff_claims()),
            hs(Algorithm::HS512, &staff_claims()),
            dev_token.clone(),
            sign(
                Algorithm::HS256,
                Some("test-rsa-1"),
                &staff_claims(),
                &EncodingKey::from_secret(SECRET.as_bytes()),
            ),
        ] {
            assert_eq!(
                check(&v, &token),
                Err(AuthError::DevelopmentTokenRefused),
                "{keys:?}"
            );
        }
        expect_staff(check(&v, &rs256));
        // The flag accepts them again.
        let allowed = Verifier::new(&AuthConfig {
            allow_development_tokens: true,
            ..keys
        })
        .unwrap();
        expect_staff(check(&allowed, &hs(Algorithm::HS256, &staff_claims())));
        expect_staff(check(&allowed, &hs(Algorithm::HS512, &staff_claims())));
        expect_staff(check(&allowed, &dev_token));
        expect_staff(check(&allowed, &rs256));
    }
    // A secret alone (the development setup) needs no flag.
    let secret_only = Verifier::new(&AuthConfig {
        hs_secret: Some(SECRET.to_owned()),
        allow_development_tokens: false,
        ..AuthConfig::default()
    })
    .unwrap();
    expect_staff(check(&secret_only, &dev_token));
}

#[test]
fn expected_audience_is_checked() {
    let v = Verifier::new(&AuthConfig {
        audience: Some("convo-api".to_owned()),
        allow_development_tokens: true,
        ..every_key_source()
    })
    .unwrap();
    let with_aud = |aud: Option<Value>| {
        let mut claims = staff_claims();
        if let Some(aud) = aud {
            claims["aud"] = aud;
        }
        claims
    };
    for aud in [
        json!("convo-api"),
        json!(["convo-api"]),
        json!(["payments", "convo-api"]),
    ] {
        let claims = with_aud(Some(aud.clone()));
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
        expect_staff(check(
            &v,
            &sign(Algorithm::RS256, None, &claims, &rsa_key()),
        ));
    }
    for (aud, refusal) in [
        (None, AuthError::MissingClaim("aud")),
        (Some(Value::Null), AuthError::MissingClaim("aud")),
        (Some(json!("payments")), AuthError::WrongAudience),
        (Some(json!("Convo-API")), AuthError::WrongAudience),
        (Some(json!("convo-api ")), AuthError::WrongAudience),
        (Some(json!("convo")), AuthError::WrongAudience),
        (Some(json!([])), AuthError::WrongAudience),
        (Some(json!(["payments"])), AuthError::WrongAudience),
        (Some(json!("convo-api,payments")), AuthError::WrongAudience),
        (Some(json!(42)), AuthError::InvalidClaim("aud")),
        (
            Some(json!({"aud": "convo-api"})),
            AuthError::InvalidClaim("aud"),
        ),
        (
            Some(json!(["convo-api", 1])),
            AuthError::InvalidClaim("aud"),
        ),
    ] {
        let claims = with_aud(aud.clone());
        assert_eq!(
            check(&v, &hs(Algorithm::HS256, &claims)),
            Err(refusal.clone()),
            "{aud:?}"
        );
        assert_eq!(
            check(&v, &sign(Algorithm::ES256, None, &claims, &ec_key())),
            Err(refusal),
            "{aud:?}"
        );
    }
}

#[test]
fn audience_is_not_read_when_none_is_expected() {
    let v = hs_verifier();
    for aud in [json!("anything"), json!(["a", "b"]), json!(42), json!([1])] {
        let mut claims = staff_claims();
        claims["aud"] = aud;
        expect_staff(check(&v, &hs(Algorithm::HS256, &claims)));
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
        std::thread::spawn(move || shared.verify_header(Some(&format!("Bearer {token}")), now()))
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
