//! Issuing, revoking and listing tokens. The token itself is never stored: only its claims.
use std::collections::BTreeSet;

use chrono::{Duration, SubsecRound, Utc};
use entity::{api_token, regulatory_order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use super::jwt::{Claims, Keys};
use super::{default_scope, Role};
use crate::audit;
use crate::error::{AppError, AppResult};
use crate::graphql::id;
use crate::service::write::WriteGate;

/// The longest lifetime a token may be issued with.
pub const MAX_TTL: Duration = Duration::days(366);

/// Parses a lifetime such as `90s`, `30m`, `8h`, `7d`.
pub fn parse_ttl(s: &str) -> AppResult<Duration> {
    let bad = || {
        AppError::validation(
            "ttl",
            "expected a number followed by s, m, h or d (e.g. 8h)",
        )
    };
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(bad()),
    };
    if d <= Duration::zero() || d > MAX_TTL {
        return Err(AppError::validation("ttl", "must be between 1s and 366d"));
    }
    Ok(d)
}

/// What to issue.
pub struct IssueRequest {
    pub subject: String,
    pub roles: Vec<Role>,
    /// Order database ids the token is limited to (required for evaluators).
    pub orders: Vec<i64>,
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

/// Issues a token: records its claims (not the token) and an audit event in one transaction,
/// through the server's write gate.
pub async fn issue<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    gate: &WriteGate,
    keys: &Keys,
    issued_by: &str,
    req: IssueRequest,
) -> AppResult<(String, api_token::Model)> {
    let subject = req.subject.trim().to_string();
    if subject.is_empty() || subject.len() > 200 {
        return Err(AppError::validation(
            "subject",
            "must be 1 to 200 characters",
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
    let _gate = gate.hold().await;
    let txn = db.begin().await?;
    let mut order_ids: Vec<i64> = req.orders.clone();
    order_ids.sort_unstable();
    order_ids.dedup();
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
    let now = Utc::now().trunc_subsecs(0);
    let expires = now + req.ttl;
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
    by: &str,
) -> AppResult<api_token::Model> {
    let _gate = gate.hold().await;
    let txn = db.begin().await?;
    let row = api_token::Entity::find_by_id(jti.to_string())
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("token {jti:?}")))?;
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

/// Every issued token, newest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> AppResult<Vec<api_token::Model>> {
    Ok(api_token::Entity::find()
        .order_by_desc(api_token::Column::IssuedAt)
        .order_by_asc(api_token::Column::Jti)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("8h").unwrap(), Duration::hours(8));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::days(7));
        for bad in [
            "",
            "h",
            "8",
            "8w",
            "0h",
            "-1h",
            "400d",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_ttl(bad).unwrap_err().code(), "VALIDATION", "{bad}");
        }
    }
}
