//! Who is calling and what they may do.
//!
//! Every GraphQL request carries a verified [`Caller`] (see [`jwt`]). What a caller may do
//! is the intersection of what its roles grant and what its token's `scope` allows; guards
//! on fields check a [`Permission`]; order-scoped tokens (evaluators) are additionally
//! restricted in the data-access layer (`Caller::order_scope`).
pub mod jwt;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Guard};

use crate::error::AppError;

/// The roles of the design's table.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    async_graphql::Enum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Everything, including the audit log and token administration.
    Admin,
    /// Internal staff: plan data, evidence, reports.
    Editor,
    /// Frontends and dashboards: read-only, no private contact data, no audit log.
    Viewer,
    /// Reporting scripts: what a viewer reads, plus generated reports.
    Reporter,
    /// Third-party evaluators: only the orders in the token; may add evaluations.
    Evaluator,
    /// Internal audit (e.g. the internal-audit head): reads the plan and generated reports,
    /// verifies implemented measures (`plan:verify`) and decides on slips (`plan:approve`).
    Auditor,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Editor => "EDITOR",
            Role::Viewer => "VIEWER",
            Role::Reporter => "REPORTER",
            Role::Evaluator => "EVALUATOR",
            Role::Auditor => "AUDITOR",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ADMIN" => Role::Admin,
            "EDITOR" => Role::Editor,
            "VIEWER" => Role::Viewer,
            "REPORTER" => Role::Reporter,
            "EVALUATOR" => Role::Evaluator,
            "AUDITOR" => Role::Auditor,
            _ => return None,
        })
    }

    /// What this role grants.
    pub fn permissions(&self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[
                ReadPlan,
                ReadContacts,
                ReadAudit,
                WritePlan,
                WriteEvidence,
                WriteReports,
                GenerateReports,
                WriteEvaluations,
                AdminTokens,
                VerifyPlan,
                ApprovePlan,
                ManageNotifications,
            ],
            Role::Editor => &[
                ReadPlan,
                ReadContacts,
                WritePlan,
                WriteEvidence,
                WriteReports,
                GenerateReports,
            ],
            Role::Viewer => &[ReadPlan],
            Role::Reporter => &[ReadPlan, GenerateReports],
            Role::Evaluator => &[ReadPlan, WriteEvaluations],
            Role::Auditor => &[
                ReadPlan,
                ReadContacts,
                GenerateReports,
                VerifyPlan,
                ApprovePlan,
            ],
        }
    }
}

/// One right, named by its OAuth-style scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadPlan,
    ReadContacts,
    ReadAudit,
    WritePlan,
    WriteEvidence,
    WriteReports,
    GenerateReports,
    WriteEvaluations,
    AdminTokens,
    /// Marks implemented measures VERIFIED (never one's own implementation).
    VerifyPlan,
    /// Decides on requests to slip a measure (deferral, cancellation, a later due date).
    ApprovePlan,
    /// Registers webhook endpoints and reads deliveries and digests (ADMIN).
    ManageNotifications,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::ReadPlan,
        Permission::ReadContacts,
        Permission::ReadAudit,
        Permission::WritePlan,
        Permission::WriteEvidence,
        Permission::WriteReports,
        Permission::GenerateReports,
        Permission::WriteEvaluations,
        Permission::AdminTokens,
        Permission::VerifyPlan,
        Permission::ApprovePlan,
        Permission::ManageNotifications,
    ];

    pub fn scope(&self) -> &'static str {
        match self {
            Permission::ReadPlan => "plan:read",
            Permission::ReadContacts => "contacts:read",
            Permission::ReadAudit => "audit:read",
            Permission::WritePlan => "plan:write",
            Permission::WriteEvidence => "evidence:write",
            Permission::WriteReports => "reports:write",
            Permission::GenerateReports => "reports:generate",
            Permission::WriteEvaluations => "evaluations:write",
            Permission::AdminTokens => "tokens:admin",
            Permission::VerifyPlan => "plan:verify",
            Permission::ApprovePlan => "plan:approve",
            Permission::ManageNotifications => "notifications:manage",
        }
    }
}

/// The full scope string for a set of roles (what a token gets when no narrower scope is asked).
pub fn default_scope(roles: &[Role]) -> String {
    let mut scopes: BTreeSet<&str> = BTreeSet::new();
    for r in roles {
        for p in r.permissions() {
            scopes.insert(p.scope());
        }
    }
    scopes.into_iter().collect::<Vec<_>>().join(" ")
}

/// The verified identity behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub jti: String,
    pub roles: Vec<Role>,
    scopes: HashSet<String>,
    /// `Some` for tokens limited to orders (evaluators): the database ids they may see.
    orders: Option<Arc<BTreeSet<i64>>>,
    /// Orders whose data this request returned (for the access log of scoped tokens).
    touched: Arc<Mutex<BTreeSet<i64>>>,
    /// The token's `exp` (Unix seconds), for long-lived connections (subscriptions).
    expires_at: Option<i64>,
}

impl Caller {
    pub fn new(
        subject: String,
        jti: String,
        roles: Vec<Role>,
        scope: &str,
        orders: Option<BTreeSet<i64>>,
    ) -> Self {
        Self {
            subject,
            jti,
            roles,
            scopes: scope.split_whitespace().map(str::to_string).collect(),
            orders: orders.map(Arc::new),
            touched: Arc::default(),
            expires_at: None,
        }
    }

    /// The process itself (the demo seed): every role, every order, no token.
    pub fn system(subject: &str) -> Self {
        let roles = vec![
            Role::Admin,
            Role::Editor,
            Role::Viewer,
            Role::Reporter,
            Role::Evaluator,
        ];
        let scope = default_scope(&roles);
        Self::new(subject.to_string(), String::new(), roles, &scope, None)
    }

    /// The same caller, whose token expires at `exp` (Unix seconds).
    pub fn with_expiry(mut self, exp: i64) -> Self {
        self.expires_at = Some(exp);
        self
    }

    /// The token's `exp` (Unix seconds), when known.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The same caller with an empty record of touched orders, for one more operation on a
    /// connection that outlives it (each operation's access is logged on its own).
    pub fn fresh(&self) -> Self {
        Self {
            touched: Arc::default(),
            ..self.clone()
        }
    }

    /// Whether the token behind this caller has expired since it was verified.
    pub fn expired(&self) -> bool {
        self.expires_at
            .is_some_and(|exp| chrono::Utc::now().timestamp() >= exp)
    }

    /// Whether the caller holds a right: a role grants it and the token's scope allows it.
    pub fn can(&self, p: Permission) -> bool {
        self.scopes.contains(p.scope()) && self.roles.iter().any(|r| r.permissions().contains(&p))
    }

    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.can(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("requires {}", p.scope())))
        }
    }

    /// The orders this caller is limited to, or `None` when it may see every order.
    pub fn order_scope(&self) -> Option<&BTreeSet<i64>> {
        self.orders.as_deref()
    }

    /// Whether an order is visible to this caller.
    pub fn sees_order(&self, order_id: i64) -> bool {
        self.orders.as_ref().is_none_or(|o| o.contains(&order_id))
    }

    /// Records that this request returned data of an order (scoped callers only).
    pub fn touch(&self, order_id: i64) {
        if self.orders.is_some() {
            if let Ok(mut t) = self.touched.lock() {
                t.insert(order_id);
            }
        }
    }

    pub fn touched_orders(&self) -> Vec<i64> {
        self.touched
            .lock()
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn is_scoped(&self) -> bool {
        self.orders.is_some()
    }
}

/// The caller of the current GraphQL request. Every request has one: the HTTP layer
/// refuses unauthenticated requests before execution.
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, AppError> {
    ctx.data_opt::<Caller>()
        .ok_or_else(|| AppError::Unauthenticated("no caller in request".into()))
}

/// A field guard: the caller must hold the permission.
pub struct Requires(pub Permission);

impl Guard for Requires {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        caller(ctx)?.require(self.0).map_err(Into::into)
    }
}

/// A field guard: the caller must hold at least one of the permissions; the store function
/// behind the field decides which one a call needs (`transitionMeasure`: `plan:verify` to
/// move to VERIFIED, `plan:write` for every other move).
pub struct RequiresAny(pub &'static [Permission]);

impl Guard for RequiresAny {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let who = caller(ctx)?;
        if self.0.iter().any(|p| who.can(*p)) {
            return Ok(());
        }
        let names: Vec<&str> = self.0.iter().map(Permission::scope).collect();
        Err(AppError::Forbidden(format!("requires {}", names.join(" or "))).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], scope: Option<&str>) -> Caller {
        let scope = scope
            .map(str::to_string)
            .unwrap_or_else(|| default_scope(roles));
        Caller::new("s".into(), "j".into(), roles.to_vec(), &scope, None)
    }

    #[test]
    fn roles_follow_the_design_table() {
        let viewer = caller(&[Role::Viewer], None);
        assert!(viewer.can(Permission::ReadPlan));
        assert!(!viewer.can(Permission::ReadContacts));
        assert!(!viewer.can(Permission::ReadAudit));
        assert!(!viewer.can(Permission::WritePlan));
        let evaluator = caller(&[Role::Evaluator], None);
        assert!(evaluator.can(Permission::WriteEvaluations));
        assert!(!evaluator.can(Permission::ReadContacts));
        let admin = caller(&[Role::Admin], None);
        assert!(Permission::ALL.iter().all(|p| admin.can(*p)));
    }

    #[test]
    fn scope_narrows_roles_and_never_widens_them() {
        let narrowed = caller(&[Role::Admin], Some("plan:read"));
        assert!(narrowed.can(Permission::ReadPlan));
        assert!(!narrowed.can(Permission::WritePlan));
        let widened = caller(&[Role::Viewer], Some("plan:read plan:write audit:read"));
        assert!(!widened.can(Permission::WritePlan));
        assert!(!widened.can(Permission::ReadAudit));
    }
}
