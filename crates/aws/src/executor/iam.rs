//! Invoke-role actions: create (CreateRole + PutRolePolicy), update in place
//! (UpdateAssumeRolePolicy, UpdateRole, PutRolePolicy, extra inline policies removed), delete
//! (inline policies, then the role).

use std::sync::atomic::AtomicUsize;

use fb_model::plan::{Action, DesiredResource, Op};
use fb_model::resources::RoleSpec;

use super::ActionError;
use crate::error::CallContext;
use crate::inventory::list_role_policies;

pub(super) async fn apply(iam: &aws_sdk_iam::Client, action: &Action) -> Result<(), ActionError> {
    match (action.op, &action.desired) {
        (Op::Create, Some(DesiredResource::Role(spec))) => create(iam, spec).await,
        (Op::Update, Some(DesiredResource::Role(spec))) => update(iam, spec).await,
        (Op::Delete, _) => delete(iam, &action.name).await,
        _ => Err(ActionError::Invalid(format!(
            "{} {} has no role to write",
            action.kind.label(),
            action.name
        ))),
    }
}

async fn create(iam: &aws_sdk_iam::Client, spec: &RoleSpec) -> Result<(), ActionError> {
    iam.create_role()
        .role_name(&spec.name)
        .assume_role_policy_document(spec.trust_policy.to_string())
        .description(&spec.description)
        .send()
        .await
        .op("iam:CreateRole")?;
    put_policy(iam, spec).await
}

async fn update(iam: &aws_sdk_iam::Client, spec: &RoleSpec) -> Result<(), ActionError> {
    iam.update_assume_role_policy()
        .role_name(&spec.name)
        .policy_document(spec.trust_policy.to_string())
        .send()
        .await
        .op("iam:UpdateAssumeRolePolicy")?;
    iam.update_role()
        .role_name(&spec.name)
        .description(&spec.description)
        .send()
        .await
        .op("iam:UpdateRole")?;
    put_policy(iam, spec).await?;
    // The role must hold only our policy: anything else would widen what EventBridge may do.
    let unused = AtomicUsize::new(0);
    for name in list_role_policies(iam, &spec.name, &unused).await? {
        if name != spec.policy_name {
            delete_policy(iam, &spec.name, &name).await?;
        }
    }
    Ok(())
}

async fn put_policy(iam: &aws_sdk_iam::Client, spec: &RoleSpec) -> Result<(), ActionError> {
    iam.put_role_policy()
        .role_name(&spec.name)
        .policy_name(&spec.policy_name)
        .policy_document(spec.policy_document.to_string())
        .send()
        .await
        .op("iam:PutRolePolicy")?;
    Ok(())
}

async fn delete_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    policy: &str,
) -> Result<(), ActionError> {
    match iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
        .op("iam:DeleteRolePolicy")
    {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Deleting what is already gone succeeds.
async fn delete(iam: &aws_sdk_iam::Client, name: &str) -> Result<(), ActionError> {
    let unused = AtomicUsize::new(0);
    let policies = match list_role_policies(iam, name, &unused).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for policy in policies {
        delete_policy(iam, name, &policy).await?;
    }
    match iam
        .delete_role()
        .role_name(name)
        .send()
        .await
        .op("iam:DeleteRole")
    {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}
