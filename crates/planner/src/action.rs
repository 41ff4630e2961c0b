//! Building [`Action`] values, so every action of a kind has the same shape: creates carry the
//! desired resource and no ARN, updates both and their changed fields, deletes only the ARN.

use fb_model::plan::{Action, DesiredResource, FieldChange, Op, ResourceKind};

pub fn create(kind: ResourceKind, name: &str, desired: DesiredResource) -> Action {
    Action {
        op: Op::Create,
        kind,
        name: name.to_owned(),
        changes: Vec::new(),
        desired: Some(desired),
        existing_arn: None,
    }
}

/// Adds an update only when some field differs.
pub fn push_update(
    out: &mut Vec<Action>,
    kind: ResourceKind,
    name: &str,
    changes: Vec<FieldChange>,
    desired: DesiredResource,
    existing_arn: &str,
) {
    if changes.is_empty() {
        return;
    }
    out.push(Action {
        op: Op::Update,
        kind,
        name: name.to_owned(),
        changes,
        desired: Some(desired),
        existing_arn: Some(existing_arn.to_owned()),
    });
}

pub fn delete(kind: ResourceKind, name: &str, existing_arn: &str) -> Action {
    Action {
        op: Op::Delete,
        kind,
        name: name.to_owned(),
        changes: Vec::new(),
        desired: None,
        existing_arn: Some(existing_arn.to_owned()),
    }
}
