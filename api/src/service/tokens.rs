//! Issuing, revoking and listing tokens. The token itself is never stored: only its claims.
use std::collections::BTreeSet;

use chrono::{Duration, SubsecRound, Utc};
use entity::{api_token, regulatory_order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use crate::audit;
use crate::auth::jwt::{Claims, Keys};
use crate::auth::{default_scope, Caller, Permission, Role};
use crate::error::{AppError, AppResult};
use crate::id;
use crate::service::write::{self, WriteGate};

use crate::ttl::ttl_out_of_bounds;
pub use crate::ttl::{format_ttl, parse_max_ttl, parse_ttl, DEFAULT_MAX_TTL, DEFAULT_TTL};

/// Who issues a token, and so the most the token may carry.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// Recorded as the token's `issued_by`.
    name: String,
    /// `None` for an operator with database access (the CLI, `serve --demo`): bound only by
    /// the TTL maximum.
    bounds: Option<IssuerBounds>,
}

#[derive(Debug, Clone)]
struct IssuerBounds {
    roles: BTreeSet<Role>,
    /// What the issuer holds in effect (`Caller::can`): its roles narrowed by its scope.
    permissions: Vec<Permission>,
    /// The orders the issuer is limited to, if it is.
    orders: Option<BTreeSet<i64>>,
}

fn order_exceeds(order: &str) -> AppError {
    AppError::Forbidden(format!(
        "order {order:?} is not one of the orders the issuer is limited to"
    ))
}

impl Issuer {
    /// An operator with database access (the CLI): may issue any token.
    pub fn operator(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bounds: None,
        }
    }

    /// The caller of a request: what it issues never exceeds what it holds.
    pub fn caller(caller: &Caller) -> Self {
        Self {
            name: caller.subject.clone(),
            bounds: Some(IssuerBounds {
                roles: caller.roles.iter().copied().collect(),
                permissions: Permission::ALL
                    .into_iter()
                    .filter(|p| caller.can(*p))
                    .collect(),
                orders: caller.order_scope().cloned(),
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this issuer may see and revoke a token: any token, unless it is limited to
    /// orders; then only tokens limited to orders it was granted (those it could have issued
    /// itself). A token it may not administer answers as an unknown one.
    pub fn administers(&self, row: &api_token::Model) -> bool {
        let Some(granted) = self.bounds.as_ref().and_then(|b| b.orders.as_ref()) else {
            return true;
        };
        let orders: Vec<String> = row
            .orders
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        !orders.is_empty()
            && orders.iter().all(|gid| {
                id::decode(&async_graphql::ID(gid.clone()), "Order")
                    .is_ok_and(|o| granted.contains(&o))
            })
    }

    /// The rule of issuance: a token never exceeds its issuer. Refusals are `FORBIDDEN`,
    /// naming what exceeds.
    ///
    /// - every role is one the issuer holds, or one whose every permission the issuer holds
    ///   in effect (so a full ADMIN may issue EVALUATOR or VIEWER tokens, an ADMIN narrowed
    ///   to `tokens:admin` may not);
    /// - every scope of the token (`scope`: the asked one, or the roles' full scope) is a
    ///   permission the issuer holds in effect (`Caller::can`);
    /// - an issuer limited to orders issues only tokens limited to a non-empty subset of them.
    pub fn check(&self, roles: &[Role], scope: &str, orders: &[i64]) -> AppResult<()> {
        let Some(b) = &self.bounds else {
            return Ok(());
        };
        let holds = |p: &Permission| b.permissions.contains(p);
        for r in roles {
            if b.roles.contains(r) {
                continue;
            }
            if let Some(p) = r.permissions().iter().find(|p| !holds(p)) {
                return Err(AppError::Forbidden(format!(
                    "role {} exceeds the issuer: it grants {}, which the issuer does not hold",
                    r.as_str(),
                    p.scope()
                )));
            }
        }
        for s in scope.split_whitespace() {
            if !Permission::ALL.iter().any(|p| p.scope() == s && holds(p)) {
                return Err(AppError::Forbidden(format!(
                    "scope {s} exceeds the issuer: it does not hold it"
                )));
            }
        }
        if let Some(mine) = &b.orders {
            if orders.is_empty() {
                return Err(AppError::Forbidden(
                    "the issuer is limited to orders: the token must name some of them (orders)"
                        .into(),
                ));
            }
            if let Some(o) = orders.iter().find(|o| !mine.contains(o)) {
                return Err(order_exceeds(&id::encode("Order", *o).0));
            }
        }
        Ok(())
    }

    /// Resolves an order the issuer names (global ID or reference). To an issuer limited to
    /// orders, an order outside its limit answers as one that does not exist: both exceed it.
    pub async fn resolve_order<C: ConnectionTrait>(&self, conn: &C, given: &str) -> AppResult<i64> {
        let found = match resolve_order(conn, given).await {
            Ok(id) => Some(id),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        match (self.bounds.as_ref().and_then(|b| b.orders.as_ref()), found) {
            (None, Some(id)) => Ok(id),
            (None, None) => Err(AppError::validation(
                "orders",
                format!("unknown order {given:?}"),
            )),
            (Some(mine), Some(id)) if mine.contains(&id) => Ok(id),
            (Some(_), _) => Err(order_exceeds(given)),
        }
    }
}

/// What to issue.
pub struct IssueRequest {
    pub subject: String,
    pub roles: Vec<Role>,
    /// Order database ids the token is limited to (required for evaluators).
    pub orders: Vec<i64>,
    /// At most the configured maximum (`Keys::max_ttl`).
    pub ttl: Duration,
    /// Narrower scope than the roles grant; `None` for the roles' full scope.
    pub scope: Option<String>,
}

/// Resolves an order given as a global ID or a reference (e.g. `METI-2022-06-30`).
pub async fn resolve_order<C: ConnectionTrait>(conn: &C, id_or_reference: &str) -> AppResult<i64> {
    if let Ok(raw) = id::decode(&async_graphql::ID(id_or_reference.to_string()), "Order") {
        if regulatory_order::Entity::find_by_id(raw)
            .one(conn)
            .await?
            .is_some()
        {
            return Ok(raw);
        }
    }
    regulatory_order::Entity::find()
        .filter(regulatory_order::Column::Reference.eq(id_or_reference))
        .one(conn)
        .await?
        .map(|o| o.id)
        .ok_or_else(|| AppError::not_found(format!("order {id_or_reference:?}")))
}

/// Issues a token: records its claims (not the token) and an audit event in one transaction.
/// The token never exceeds its issuer ([`Issuer::check`]) nor the configured maximum
/// lifetime; a refused token writes nothing.
pub async fn issue<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    gate: &WriteGate,
    keys: &Keys,
    issuer: &Issuer,
    req: IssueRequest,
) -> AppResult<(String, api_token::Model)> {
    if req.ttl <= Duration::zero() || req.ttl > keys.max_ttl() {
        return Err(ttl_out_of_bounds(keys.max_ttl()));
    }
    // The subject is kept exactly as given: white space at its ends is refused, not trimmed.
    let subject = write::text("subject", &req.subject, 200)?;
    if subject.trim() != subject {
        return Err(AppError::validation(
            "subject",
            "must not begin or end with white space",
        ));
    }
    if req.roles.is_empty() {
        return Err(AppError::validation(
            "roles",
            "at least one role is required",
        ));
    }
    let roles: BTreeSet<Role> = req.roles.iter().copied().collect();
    if roles.contains(&Role::Evaluator) && req.orders.is_empty() {
        return Err(AppError::validation(
            "orders",
            "an evaluator token must name the orders it may see",
        ));
    }
    let roles: Vec<Role> = roles.into_iter().collect();
    let full = default_scope(&roles);
    let scope = match &req.scope {
        None => full,
        Some(asked) => {
            let allowed: BTreeSet<&str> = full.split_whitespace().collect();
            let asked: BTreeSet<&str> = asked.split_whitespace().collect();
            if let Some(extra) = asked.iter().find(|s| !allowed.contains(**s)) {
                return Err(AppError::validation(
                    "scope",
                    format!("{extra} is not granted by the roles"),
                ));
            }
            asked.into_iter().collect::<Vec<_>>().join(" ")
        }
    };
    let mut order_ids: Vec<i64> = req.orders.clone();
    order_ids.sort_unstable();
    order_ids.dedup();
    issuer.check(&roles, &scope, &order_ids)?;
    let now = Utc::now().trunc_subsecs(0);
    let expires = now
        .checked_add_signed(req.ttl)
        .ok_or_else(|| ttl_out_of_bounds(keys.max_ttl()))?;
    let issued_by = issuer.name();
    let _gate = gate.hold().await;
    let txn = db.begin().await?;
    for o in &order_ids {
        if regulatory_order::Entity::find_by_id(*o)
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(AppError::validation(
                "orders",
                "names an order that does not exist",
            ));
        }
    }
    let jti = uuid::Uuid::new_v4().to_string();
    let order_gids: Option<Vec<String>> = if order_ids.is_empty() {
        None
    } else {
        Some(
            order_ids
                .iter()
                .map(|o| id::encode("Order", *o).0)
                .collect(),
        )
    };
    let claims = Claims {
        sub: subject.clone(),
        jti: jti.clone(),
        roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
        scope: scope.clone(),
        orders: order_gids.clone(),
        exp: expires.timestamp(),
        nbf: Some(now.timestamp()),
        iat: Some(now.timestamp()),
        iss: keys.issuer().to_string(),
        aud: json!(keys.audience()),
    };
    let token = keys.sign(&claims).map_err(AppError::from)?;
    let row = api_token::ActiveModel {
        jti: Set(jti.clone()),
        subject: Set(subject),
        roles: Set(claims.roles.join(" ")),
        scope: Set(scope),
        orders: Set(order_gids.map(|g| json!(g).to_string())),
        issued_by: Set(issued_by.to_string()),
        issued_at: Set(now),
        expires_at: Set(expires),
        revoked_at: Set(None),
        revoked_by: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Change {
            actor: issued_by,
            action: "issue_token",
            entity: "Token",
            entity_id: jti,
            before: None,
            after: Some(json!(row)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((token, row))
}

/// Revokes a token by its `jti`, through the server's write gate. Revoking twice is refused
/// with `CONFLICT`.
pub async fn revoke<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    gate: &WriteGate,
    jti: &str,
    by: &Issuer,
) -> AppResult<api_token::Model> {
    let _gate = gate.hold().await;
    let txn = db.begin().await?;
    let row = api_token::Entity::find_by_id(jti.to_string())
        .one(&txn)
        .await?
        .filter(|row| by.administers(row))
        .ok_or_else(|| AppError::not_found(format!("token {jti:?}")))?;
    let by = by.name();
    if row.revoked_at.is_some() {
        return Err(AppError::Conflict {
            message: "token already revoked".into(),
            current_version: None,
        });
    }
    let before = json!(row);
    let mut active = row.into_active_model();
    active.revoked_at = Set(Some(Utc::now().trunc_subsecs(6)));
    active.revoked_by = Set(Some(by.to_string()));
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        audit::Change {
            actor: by,
            action: "revoke_token",
            entity: "Token",
            entity_id: jti.to_string(),
            before: Some(before),
            after: Some(json!(row)),
        },
    )
    .await?;
    // Every replica hears of it exactly when this commits (PostgreSQL): open connections
    // that use the token close.
    crate::events::notify_in(&txn, &crate::events::Change::token_revoked(jti)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Whether a `jti` has been revoked.
pub async fn is_revoked<C: ConnectionTrait>(db: &C, jti: &str) -> AppResult<bool> {
    Ok(api_token::Entity::find_by_id(jti.to_string())
        .filter(api_token::Column::RevokedAt.is_not_null())
        .one(db)
        .await?
        .is_some())
}

/// Every token the issuer administers ([`Issuer::administers`]), newest first.
pub async fn list<C: ConnectionTrait>(db: &C, by: &Issuer) -> AppResult<Vec<api_token::Model>> {
    let mut rows = api_token::Entity::find()
        .order_by_desc(api_token::Column::IssuedAt)
        .order_by_asc(api_token::Column::Jti)
        .all(db)
        .await?;
    rows.retain(|row| by.administers(row));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], scope: Option<&str>, orders: Option<&[i64]>) -> Caller {
        let scope = scope
            .map(str::to_string)
            .unwrap_or_else(|| default_scope(roles));
        Caller::new(
            "issuer".into(),
            "j".into(),
            roles.to_vec(),
            &scope,
            orders.map(|o| o.iter().copied().collect()),
        )
    }

    fn refusal(r: AppResult<()>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "FORBIDDEN", "{e:?}");
        e.message()
    }

    #[test]
    fn issuance_never_exceeds_the_issuer() {
        use Role::*;
        let full = default_scope(&[Admin]);
        // An operator and a full ADMIN may issue anything.
        let cli = Issuer::operator("cli");
        let admin = Issuer::caller(&caller(&[Admin], None, None));
        for i in [&cli, &admin] {
            i.check(&[Admin], &full, &[]).unwrap();
            i.check(&[Evaluator], &default_scope(&[Evaluator]), &[1])
                .unwrap();
            i.check(&[Viewer, Reporter], "plan:read", &[]).unwrap();
        }
        // An ADMIN narrowed to tokens:admin: its own role and scope, nothing more.
        let narrow = Issuer::caller(&caller(&[Admin], Some("tokens:admin"), None));
        narrow.check(&[Admin], "tokens:admin", &[]).unwrap();
        assert!(refusal(narrow.check(&[Admin], &full, &[])).contains("scope audit:read"));
        assert!(refusal(narrow.check(&[Admin], "plan:read", &[])).contains("scope plan:read"));
        assert!(refusal(narrow.check(&[Viewer], "", &[])).contains("role VIEWER"));
        assert!(refusal(narrow.check(&[Evaluator], "", &[1])).contains("role EVALUATOR"));
        // An ADMIN whose scope lacks plan:write cannot hand on EDITOR, even narrowed.
        let reader = Issuer::caller(&caller(&[Admin], Some("tokens:admin plan:read"), None));
        reader.check(&[Viewer], "plan:read", &[]).unwrap();
        assert!(refusal(reader.check(&[Editor], "plan:read", &[])).contains("role EDITOR"));
        // An ADMIN limited to order 1: tokens limited to (some of) its orders only.
        let limited = Issuer::caller(&caller(&[Admin], None, Some(&[1, 2])));
        limited.check(&[Admin], &full, &[1]).unwrap();
        limited.check(&[Evaluator], "plan:read", &[1, 2]).unwrap();
        assert!(refusal(limited.check(&[Admin], &full, &[])).contains("limited to orders"));
        assert!(
            refusal(limited.check(&[Admin], &full, &[1, 3])).contains(&id::encode("Order", 3).0)
        );
    }
}
