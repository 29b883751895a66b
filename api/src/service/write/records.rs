//! Writes of the plan's records: regulators, orders and findings (what was ordered), owners
//! and systems (who and what answers for it). Regulators, owners, systems and new orders
//! belong to no single order: a caller limited to orders may not write them.
pub use super::inputs::{
    FindingChanges, NewFinding, NewOrder, NewOwner, NewRegulator, NewSystem, OrderChanges,
    OwnerChanges, RegulatorChanges, SystemChanges,
};
use entity::enums::OrderStatus;
use entity::*;
use sea_orm::ActiveValue::Set;

use super::{
    archive, change, change_text, code, insert_new, load, opt_subject, opt_text, text,
    update_versioned, Write, LONG, SHORT,
};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::service::scope::{check_finding, check_order, check_unscoped};

pub async fn create_regulator(
    w: &Write<'_>,
    who: &Caller,
    input: &NewRegulator,
) -> AppResult<regulator::Model> {
    check_unscoped(who, "regulators")?;
    let row = regulator::ActiveModel {
        code: Set(code("code", &input.code)?),
        name: Set(text("name", &input.name, SHORT)?),
        name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
        kind: Set(input.kind),
        ..Default::default()
    };
    insert_new::<regulator::Entity>(w, row, None).await
}

pub async fn update_regulator(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &RegulatorChanges,
) -> AppResult<regulator::Model> {
    check_unscoped(who, "regulators")?;
    update_versioned::<regulator::Entity, _>(w, id, version, "update", None, |_, a| {
        change_text(&mut a.name, "name", &input.name, SHORT)?;
        change_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
        change(&mut a.kind, input.kind);
        Ok(())
    })
    .await
}

pub async fn archive_regulator(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<regulator::Model> {
    check_unscoped(who, "regulators")?;
    archive::<regulator::Entity>(w, id, version).await
}

pub async fn create_order(
    w: &Write<'_>,
    who: &Caller,
    input: &NewOrder,
) -> AppResult<regulatory_order::Model> {
    check_unscoped(who, "new orders")?;
    let regulator_id = load::<regulator::Entity>(w, input.regulator_id).await?.id;
    let row = regulatory_order::ActiveModel {
        regulator_id: Set(regulator_id),
        kind: Set(input.kind),
        reference: Set(code("reference", &input.reference)?),
        title: Set(text("title", &input.title, SHORT)?),
        title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
        legal_basis: Set(opt_text("legalBasis", input.legal_basis.as_deref(), SHORT)?),
        issued_on: Set(input.issued_on),
        status: Set(input.status.unwrap_or(OrderStatus::Open)),
        summary: Set(opt_text("summary", input.summary.as_deref(), LONG)?),
        incident_disclosed_on: Set(input.incident_disclosed_on),
        ..Default::default()
    };
    insert_new::<regulatory_order::Entity>(w, row, None).await
}

pub async fn update_order(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &OrderChanges,
) -> AppResult<regulatory_order::Model> {
    check_order(who, id)?;
    update_versioned::<regulatory_order::Entity, _>(w, id, version, "update", None, |_, a| {
        change_text(&mut a.title, "title", &input.title, SHORT)?;
        change_text(&mut a.title_local, "titleLocal", &input.title_local, SHORT)?;
        change_text(&mut a.legal_basis, "legalBasis", &input.legal_basis, SHORT)?;
        change(&mut a.issued_on, input.issued_on);
        change(&mut a.status, input.status);
        change_text(&mut a.summary, "summary", &input.summary, LONG)?;
        change(
            &mut a.incident_disclosed_on,
            input.incident_disclosed_on.map(Some),
        );
        Ok(())
    })
    .await
}

pub async fn archive_order(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<regulatory_order::Model> {
    check_order(who, id)?;
    archive::<regulatory_order::Entity>(w, id, version).await
}

/// A finding the caller may act on ([`check_finding`]).
pub async fn checked_finding(w: &Write<'_>, who: &Caller, id: i64) -> AppResult<finding::Model> {
    let f = load::<finding::Entity>(w, id).await?;
    check_finding(who, &f)?;
    Ok(f)
}

pub async fn create_finding(
    w: &Write<'_>,
    who: &Caller,
    input: &NewFinding,
) -> AppResult<finding::Model> {
    check_order(who, input.order_id)?;
    let order_id = load::<regulatory_order::Entity>(w, input.order_id)
        .await?
        .id;
    let row = finding::ActiveModel {
        order_id: Set(order_id),
        category: Set(input.category),
        number: Set(code("number", &input.number)?),
        title: Set(text("title", &input.title, SHORT)?),
        facts: Set(text("facts", &input.facts, LONG)?),
        facts_en: Set(opt_text("factsEn", input.facts_en.as_deref(), LONG)?),
        directive: Set(text("directive", &input.directive, LONG)?),
        directive_en: Set(opt_text(
            "directiveEn",
            input.directive_en.as_deref(),
            LONG,
        )?),
        ..Default::default()
    };
    insert_new::<finding::Entity>(w, row, None).await
}

pub async fn update_finding(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &FindingChanges,
) -> AppResult<finding::Model> {
    let current = checked_finding(w, who, id).await?;
    update_versioned::<finding::Entity, _>(w, current.id, version, "update", None, |_, a| {
        change(&mut a.category, input.category);
        change_text(&mut a.title, "title", &input.title, SHORT)?;
        change_text(&mut a.facts, "facts", &input.facts, LONG)?;
        change_text(&mut a.facts_en, "factsEn", &input.facts_en, LONG)?;
        change_text(&mut a.directive, "directive", &input.directive, LONG)?;
        change_text(
            &mut a.directive_en,
            "directiveEn",
            &input.directive_en,
            LONG,
        )?;
        Ok(())
    })
    .await
}

pub async fn archive_finding(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<finding::Model> {
    let current = checked_finding(w, who, id).await?;
    archive::<finding::Entity>(w, current.id, version).await
}

pub async fn create_owner(
    w: &Write<'_>,
    who: &Caller,
    input: &NewOwner,
) -> AppResult<owner::Model> {
    check_unscoped(who, "owners")?;
    let parent_id = match input.parent_id {
        Some(p) => Some(load::<owner::Entity>(w, p).await?.id),
        None => None,
    };
    let row = owner::ActiveModel {
        code: Set(code("code", &input.code)?),
        name: Set(text("name", &input.name, SHORT)?),
        name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
        kind: Set(input.kind),
        role_title: Set(opt_text("roleTitle", input.role_title.as_deref(), SHORT)?),
        contact: Set(opt_text("contact", input.contact.as_deref(), SHORT)?),
        account: Set(opt_subject("account", input.account.as_deref())?),
        language: Set(input.language),
        parent_id: Set(parent_id),
        ..Default::default()
    };
    insert_new::<owner::Entity>(w, row, None).await
}

pub async fn update_owner(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &OwnerChanges,
) -> AppResult<owner::Model> {
    check_unscoped(who, "owners")?;
    update_versioned::<owner::Entity, _>(w, id, version, "update", None, |_, a| {
        change_text(&mut a.name, "name", &input.name, SHORT)?;
        change_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
        change(&mut a.kind, input.kind);
        change_text(&mut a.role_title, "roleTitle", &input.role_title, SHORT)?;
        change_text(&mut a.contact, "contact", &input.contact, SHORT)?;
        if let Some(account) = &input.account {
            a.account = Set(opt_subject("account", Some(account.as_str()))?);
        }
        if let Some(l) = input.language {
            a.language = Set(Some(l));
        }
        Ok(())
    })
    .await
}

pub async fn archive_owner(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<owner::Model> {
    check_unscoped(who, "owners")?;
    archive::<owner::Entity>(w, id, version).await
}

pub async fn create_system(
    w: &Write<'_>,
    who: &Caller,
    input: &NewSystem,
) -> AppResult<system::Model> {
    check_unscoped(who, "systems")?;
    let row = system::ActiveModel {
        code: Set(code("code", &input.code)?),
        name: Set(text("name", &input.name, SHORT)?),
        name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
        kind: Set(input.kind),
        scope_note: Set(opt_text("scopeNote", input.scope_note.as_deref(), LONG)?),
        holds_card_data: Set(input.holds_card_data),
        ..Default::default()
    };
    insert_new::<system::Entity>(w, row, None).await
}

pub async fn update_system(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &SystemChanges,
) -> AppResult<system::Model> {
    check_unscoped(who, "systems")?;
    update_versioned::<system::Entity, _>(w, id, version, "update", None, |_, a| {
        change_text(&mut a.name, "name", &input.name, SHORT)?;
        change_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
        change(&mut a.kind, input.kind);
        change_text(&mut a.scope_note, "scopeNote", &input.scope_note, LONG)?;
        change(&mut a.holds_card_data, input.holds_card_data);
        Ok(())
    })
    .await
}

pub async fn archive_system(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<system::Model> {
    check_unscoped(who, "systems")?;
    archive::<system::Entity>(w, id, version).await
}
