//! Token verification (algorithm pinned per key, `exp`/`nbf` with leeway, `iss`/`aud`/`sub`/`jti`
//! required) and signing of the tokens remedy issues.
use std::collections::{BTreeSet, HashMap};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use super::{Caller, Role};
use crate::config::AuthConfig;
use crate::error::AppError;
use crate::id;

/// The claims remedy reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub jti: String,
    pub roles: Vec<String>,
    /// Space-separated OAuth-style scopes.
    pub scope: String,
    /// Global IDs of the orders the token is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<Vec<String>>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub iss: String,
    /// A string or an array of strings; checked by the verifier.
    pub aud: serde_json::Value,
}

struct VerifyKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys a server verifies with and signs with.
pub struct Keys {
    /// The HS256 secret: tokens without `kid`.
    hs256: Option<(VerifyKey, EncodingKey)>,
    /// Public keys by `kid`, each pinned to its algorithm.
    by_kid: HashMap<String, VerifyKey>,
    /// The private key remedy signs with when no HS256 secret is configured.
    signer: Option<(Algorithm, EncodingKey, Option<String>)>,
    issuer: String,
    audience: String,
    leeway: u64,
    /// The longest lifetime a token may be issued with (`REMEDY_TOKEN_MAX_TTL`).
    max_ttl: chrono::Duration,
}

fn unauthenticated(reason: impl Into<String>) -> AppError {
    AppError::Unauthenticated(reason.into())
}

impl Keys {
    pub fn from_config(cfg: &AuthConfig) -> anyhow::Result<Self> {
        let hs256 = match &cfg.jwt_secret {
            Some(secret) => {
                anyhow::ensure!(
                    secret.len() >= 32,
                    "REMEDY_JWT_SECRET must be at least 32 bytes long"
                );
                Some((
                    VerifyKey {
                        alg: Algorithm::HS256,
                        key: DecodingKey::from_secret(secret.as_bytes()),
                    },
                    EncodingKey::from_secret(secret.as_bytes()),
                ))
            }
            None => None,
        };
        let mut by_kid = HashMap::new();
        if let Some(path) = &cfg.jwt_jwks {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read JWKS {}: {e}", path.display()))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("invalid JWKS {}: {e}", path.display()))?;
            for jwk in &set.keys {
                let kid = jwk
                    .common
                    .key_id
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("every JWKS key needs a kid"))?;
                let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                    (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
                    (Some(KeyAlgorithm::EdDSA), _) => Algorithm::EdDSA,
                    (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                    (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                    (other, _) => {
                        anyhow::bail!("key {kid}: unsupported algorithm {other:?} (RS256 or EdDSA)")
                    }
                };
                let key =
                    DecodingKey::from_jwk(jwk).map_err(|e| anyhow::anyhow!("key {kid}: {e}"))?;
                by_kid.insert(kid, VerifyKey { alg, key });
            }
        }
        let signer = match &cfg.jwt_signing_key {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read signing key {}: {e}", path.display())
                })?;
                let (alg, key) = match cfg.jwt_signing_alg.as_str() {
                    "RS256" => (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem)?),
                    "EdDSA" => (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem)?),
                    other => {
                        anyhow::bail!("REMEDY_JWT_SIGNING_ALG must be RS256 or EdDSA, not {other}")
                    }
                };
                Some((alg, key, cfg.jwt_signing_kid.clone()))
            }
            None => None,
        };
        anyhow::ensure!(
            cfg.token_max_ttl > chrono::Duration::zero(),
            "REMEDY_TOKEN_MAX_TTL must be at least 1s"
        );
        anyhow::ensure!(
            hs256.is_some() || !by_kid.is_empty(),
            "no JWT verification key configured: set REMEDY_JWT_SECRET or REMEDY_JWT_JWKS"
        );
        Ok(Self {
            hs256,
            by_kid,
            signer,
            issuer: cfg.jwt_issuer.clone(),
            audience: cfg.jwt_audience.clone(),
            leeway: cfg.jwt_leeway,
            max_ttl: cfg.token_max_ttl,
        })
    }

    /// The longest lifetime a token may be issued with.
    pub fn max_ttl(&self) -> chrono::Duration {
        self.max_ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies a token's signature and claims. Revocation is checked by the caller
    /// (it needs the database).
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let header = decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let key = match &header.kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .ok_or_else(|| unauthenticated("unknown key id"))?,
            None => {
                &self
                    .hs256
                    .as_ref()
                    .ok_or_else(|| unauthenticated("token has no key id"))?
                    .0
            }
        };
        if header.alg != key.alg {
            return Err(unauthenticated("algorithm not allowed for this key"));
        }
        let mut v = Validation::new(key.alg);
        v.algorithms = vec![key.alg];
        v.leeway = self.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Claims>(token, &key.key, &v)
            .map_err(|e| unauthenticated(format!("invalid token: {e}")))?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() || claims.jti.trim().is_empty() {
            return Err(unauthenticated("sub and jti must not be empty"));
        }
        Ok(claims)
    }

    /// Turns verified claims into a caller.
    pub fn caller(&self, claims: &Claims) -> Result<Caller, AppError> {
        let mut roles = Vec::new();
        for r in &claims.roles {
            roles.push(
                Role::parse(r).ok_or_else(|| unauthenticated(format!("unknown role {r:?}")))?,
            );
        }
        if roles.is_empty() {
            return Err(unauthenticated("token has no role"));
        }
        let orders = match &claims.orders {
            Some(ids) => {
                let mut set = BTreeSet::new();
                for gid in ids {
                    let id = id::decode(&async_graphql::ID(gid.clone()), "Order")
                        .map_err(|_| unauthenticated("token names a malformed order id"))?;
                    set.insert(id);
                }
                Some(set)
            }
            // An evaluator without granted orders sees none.
            None if roles.contains(&Role::Evaluator) => Some(BTreeSet::new()),
            None => None,
        };
        Ok(Caller::new(
            claims.sub.clone(),
            claims.jti.clone(),
            roles,
            &claims.scope,
            orders,
        )
        .with_expiry(claims.exp))
    }

    /// Signs claims with the configured signing key (HS256 secret, else the private key).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        if let Some((_, enc)) = &self.hs256 {
            return Ok(encode(&Header::new(Algorithm::HS256), claims, enc)?);
        }
        match &self.signer {
            Some((alg, enc, kid)) => {
                let mut header = Header::new(*alg);
                header.kid = kid.clone();
                Ok(encode(&header, claims, enc)?)
            }
            None => anyhow::bail!(
                "no signing key configured: set REMEDY_JWT_SECRET or REMEDY_JWT_SIGNING_KEY"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn claims(exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "alice".into(),
            jti: "j1".into(),
            roles: vec!["VIEWER".into()],
            scope: "plan:read".into(),
            orders: None,
            exp: now + exp_offset,
            nbf: Some(now - 1),
            iat: Some(now),
            iss: "remedy".into(),
            aud: serde_json::json!("remedy"),
        }
    }

    #[test]
    fn signs_and_verifies_round_trip() {
        let keys = Keys::from_config(&AuthConfig::with_secret(SECRET)).unwrap();
        let token = keys.sign(&claims(600)).unwrap();
        let c = keys.verify(&token).unwrap();
        assert_eq!(c.sub, "alice");
        let caller = keys.caller(&c).unwrap();
        assert!(caller.can(crate::auth::Permission::ReadPlan));
    }

    #[test]
    fn refuses_expired_wrong_audience_and_short_secrets() {
        let keys = Keys::from_config(&AuthConfig::with_secret(SECRET)).unwrap();
        assert!(keys.verify(&keys.sign(&claims(-3600)).unwrap()).is_err());
        let mut c = claims(600);
        c.aud = serde_json::json!("someone-else");
        assert!(keys.verify(&keys.sign(&c).unwrap()).is_err());
        assert!(Keys::from_config(&AuthConfig::with_secret("short")).is_err());
    }

    #[test]
    fn evaluator_without_orders_sees_nothing() {
        let keys = Keys::from_config(&AuthConfig::with_secret(SECRET)).unwrap();
        let mut c = claims(600);
        c.roles = vec!["EVALUATOR".into()];
        let caller = keys.caller(&c).unwrap();
        assert!(!caller.sees_order(1));
    }
}
