//! Writes of the plan-wide catalogue: owners and systems (no order scope: a caller limited
//! to orders may not write them).
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
use crate::service::scope::check_unscoped;

/// A new owner. The demo plan names the parent by code (`parent`) instead.
#[derive(Debug, Deserialize)]
pub struct NewOwner {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: OwnerKind,
    pub role_title: Option<String>,
    pub contact: Option<String>,
    #[serde(skip)]
    pub parent_id: Option<i64>,
}

/// Changes to an owner: `None` leaves a field as it is.
pub struct OwnerChanges {
    pub name: Option<String>,
    pub name_local: Option<String>,
    pub kind: Option<OwnerKind>,
    pub role_title: Option<String>,
    pub contact: Option<String>,
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
        change_opt_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
        change(&mut a.kind, input.kind);
        change_opt_text(&mut a.role_title, "roleTitle", &input.role_title, SHORT)?;
        change_opt_text(&mut a.contact, "contact", &input.contact, SHORT)?;
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

/// A new system (the demo plan's systems have this shape too).
#[derive(Debug, Deserialize)]
pub struct NewSystem {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: SystemKind,
    pub scope_note: Option<String>,
    pub holds_card_data: bool,
}

/// Changes to a system: `None` leaves a field as it is.
pub struct SystemChanges {
    pub name: Option<String>,
    pub name_local: Option<String>,
    pub kind: Option<SystemKind>,
    pub scope_note: Option<String>,
    pub holds_card_data: Option<bool>,
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
        change_opt_text(&mut a.name_local, "nameLocal", &input.name_local, SHORT)?;
        change(&mut a.kind, input.kind);
        change_opt_text(&mut a.scope_note, "scopeNote", &input.scope_note, LONG)?;
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
