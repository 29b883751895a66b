//! Writes of regulators, orders and findings.
use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::ActiveValue::Set;
use serde::Deserialize;

use super::{
    archive, change, change_opt_text, change_text, code, insert_new, load, opt_text, text,
    update_versioned, Write, LONG, SHORT,
};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::service::scope::{check_finding, check_order, check_unscoped};

/// A new regulator (the demo plan's regulators have this shape too).
#[derive(Debug, Deserialize)]
pub struct NewRegulator {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: RegulatorKind,
}

/// Changes to a regulator: `None` leaves a field as it is.
pub struct RegulatorChanges {
    pub name: Option<String>,
    pub name_local: Option<String>,
    pub kind: Option<RegulatorKind>,
}

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
        change_opt_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
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

/// A new order. The demo plan names the regulator by code (`regulator`) instead.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    #[serde(skip)]
    pub regulator_id: i64,
    pub kind: OrderKind,
    pub reference: String,
    pub title: String,
    pub title_local: Option<String>,
    pub legal_basis: Option<String>,
    pub issued_on: NaiveDate,
    pub status: Option<OrderStatus>,
    pub summary: Option<String>,
}

/// Changes to an order: `None` leaves a field as it is.
pub struct OrderChanges {
    pub title: Option<String>,
    pub title_local: Option<String>,
    pub legal_basis: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub status: Option<OrderStatus>,
    pub summary: Option<String>,
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
        change_opt_text(&mut a.title_local, "titleLocal", &input.title_local, SHORT)?;
        change_opt_text(&mut a.legal_basis, "legalBasis", &input.legal_basis, SHORT)?;
        change(&mut a.issued_on, input.issued_on);
        change(&mut a.status, input.status);
        change_opt_text(&mut a.summary, "summary", &input.summary, LONG)?;
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

/// A new finding. The demo plan names the order by reference (`order`) instead.
#[derive(Debug, Deserialize)]
pub struct NewFinding {
    #[serde(skip)]
    pub order_id: i64,
    pub category: FindingCategory,
    pub number: String,
    pub title: String,
    pub facts: String,
    pub facts_en: Option<String>,
    pub directive: String,
    pub directive_en: Option<String>,
}

/// Changes to a finding: `None` leaves a field as it is.
pub struct FindingChanges {
    pub category: Option<FindingCategory>,
    pub title: Option<String>,
    pub facts: Option<String>,
    pub facts_en: Option<String>,
    pub directive: Option<String>,
    pub directive_en: Option<String>,
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
        change_opt_text(&mut a.facts_en, "factsEn", &input.facts_en, LONG)?;
        change_text(&mut a.directive, "directive", &input.directive, LONG)?;
        change_opt_text(
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
