//! Staff JWT authentication (spec §2).
//!
//! * `Authorization: Bearer <JWT>`; staff tokens only.
//! * Claims in vcita's form (`iss = "<staff_uid>:staff"`, `belongs = "<business_uid>:business;…"`,
//!   `scp`, `iat`, `exp`) or the app form (`sub_type = "staff"`, `sub`/`actor_uid`, `business_uid`).
//! * RS256/RS512/ES256 with configured public keys (PEM files and/or a JWKS file), HS256/HS512 with a
//!   configured development secret. Everything else (`alg: none`, an algorithm that does not match
//!   the key, expired or not-yet-valid tokens beyond [`LEEWAY_SECS`]) is refused.
//! * Once public keys are configured, HS256/HS512 development tokens are refused and the secret is
//!   ignored, unless [`AuthConfig::allow_development_tokens`] is set; with a secret alone they are
//!   accepted.
//! * With an expected audience ([`AuthConfig::audience`]), a token's `aud` (a string or an array)
//!   contains it; without one, `aud` is not read.
//!
//! Where each rule lives:
//!
//! | module | what it holds |
//! |---|---|
//! | `verification` | [`Verifier`], [`AuthConfig`], the errors, the order of the checks, development tokens, `exp`/`nbf`/`iat`/`aud` |
//! | `keys` | loading PEM and JWKS keys, which keys a token's `alg` and `kid` may use |
//! | `claims` | vcita's claim forms → [`Identity`], scopes, [`sign_dev_token`] |

mod claims;
mod keys;
mod verification;

#[cfg(test)]
mod tests;

pub use claims::{Identity, sign_dev_token};
pub use verification::{AuthConfig, AuthConfigError, AuthError, LEEWAY_SECS, Verifier};
