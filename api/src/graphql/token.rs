//! Token administration (ADMIN only): issue, revoke, list. The token is returned once.
use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::api_token;
use sea_orm::DatabaseConnection;

use crate::auth::jwt::Keys;
use crate::auth::{caller, Permission, Requires, Role};
use crate::error::AppResult;
use crate::service::tokens;
use crate::service::write::WriteGate;

/// An issued token's record. The token itself is never stored.
#[derive(SimpleObject)]
pub struct TokenInfo {
    /// The token's unique id (`jti`), used to revoke it.
    pub jti: String,
    /// Who the token is for (`sub`).
    pub subject: String,
    /// The roles it carries.
    pub roles: Vec<Role>,
    /// Its OAuth-style scopes, space-separated.
    pub scope: String,
    /// The orders it is limited to (global IDs); empty for no limit.
    pub orders: Vec<ID>,
    /// Who issued it.
    pub issued_by: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether it is revoked.
    pub revoked: bool,
}

impl From<api_token::Model> for TokenInfo {
    fn from(m: api_token::Model) -> Self {
        let orders: Vec<String> = m
            .orders
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        Self {
            revoked: m.revoked_at.is_some(),
            roles: m.roles.split_whitespace().filter_map(Role::parse).collect(),
            orders: orders.into_iter().map(ID).collect(),
            jti: m.jti,
            subject: m.subject,
            scope: m.scope,
            issued_by: m.issued_by,
            issued_at: m.issued_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// What to issue.
#[derive(InputObject)]
pub struct IssueTokenInput {
    /// Who the token is for (`sub`).
    pub subject: String,
    /// Roles to grant.
    pub roles: Vec<Role>,
    /// Orders the token is limited to (global IDs or references); required for EVALUATOR.
    #[graphql(default)]
    pub orders: Vec<String>,
    /// Lifetime such as `30m`, `8h`, `7d` (default `8h`, or the maximum if shorter). At most
    /// the server's configured maximum (`REMEDY_TOKEN_MAX_TTL`, `366d` unless set); beyond
    /// it, `VALIDATION` on `ttl` naming the maximum.
    pub ttl: Option<String>,
    /// A narrower scope than the roles grant (space-separated).
    pub scope: Option<String>,
}

/// A newly issued token: shown once.
#[derive(SimpleObject)]
pub struct IssuedToken {
    /// The signed JWT. It is not stored: copy it now.
    pub token: String,
    /// Its record.
    pub info: TokenInfo,
}

#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// Every issued token, newest first (ADMIN; an administrator limited to orders sees the
    /// tokens limited to its orders only).
    #[graphql(guard = "Requires(Permission::AdminTokens)")]
    async fn tokens(&self, ctx: &Context<'_>) -> AppResult<Vec<TokenInfo>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(tokens::list(db, &tokens::Issuer::caller(caller(ctx)?))
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct TokenMutation;

#[Object]
impl TokenMutation {
    /// Issues a token (ADMIN). The token is in the answer and nowhere else. It never exceeds
    /// the caller's own token: its roles, scope and orders must be within the caller's
    /// (`FORBIDDEN` naming what exceeds).
    #[graphql(guard = "Requires(Permission::AdminTokens)")]
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        input: IssueTokenInput,
    ) -> AppResult<IssuedToken> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let keys = ctx.data_unchecked::<Arc<Keys>>();
        let issuer = tokens::Issuer::caller(caller(ctx)?);
        let ttl = match input.ttl.as_deref() {
            Some(ttl) => tokens::parse_ttl(ttl, keys.max_ttl())?,
            None => tokens::DEFAULT_TTL.min(keys.max_ttl()),
        };
        let mut orders = Vec::new();
        for o in &input.orders {
            orders.push(issuer.resolve_order(db, o).await?);
        }
        let req = tokens::IssueRequest {
            subject: input.subject,
            roles: input.roles,
            orders,
            ttl,
            scope: input.scope,
        };
        let gate = ctx.data_unchecked::<Arc<WriteGate>>();
        let (token, row) = tokens::issue(db, gate, keys, &issuer, req).await?;
        Ok(IssuedToken {
            token,
            info: row.into(),
        })
    }

    /// Revokes a token by its `jti` (ADMIN; an administrator limited to orders, only tokens
    /// limited to its orders: others answer `NOT_FOUND`). It is refused from then on, on
    /// every replica.
    #[graphql(guard = "Requires(Permission::AdminTokens)")]
    async fn revoke_token(&self, ctx: &Context<'_>, jti: String) -> AppResult<TokenInfo> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let gate = ctx.data_unchecked::<Arc<WriteGate>>();
        let by = tokens::Issuer::caller(caller(ctx)?);
        let row = tokens::revoke(db, gate, &jti, &by).await?;
        crate::events::token_revoked(ctx, &jti);
        Ok(row.into())
    }
}
