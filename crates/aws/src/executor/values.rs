//! Plan values → SDK request values, and request results → errors. Pure.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{DeadLetterConfig, InputTransformer, Tag, Target};
use fb_model::resources::{TargetInput, TargetSpec};

use super::ActionError;
use crate::error::AwsCallError;

pub(super) fn tags(map: &BTreeMap<String, String>) -> Result<Vec<Tag>, ActionError> {
    map.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ActionError::Invalid(e.to_string()))
        })
        .collect()
}

/// The SDK target for a desired target pointing at `arn`.
pub(super) fn build_target(spec: &TargetSpec, arn: String) -> Result<Target, ActionError> {
    let mut b = Target::builder()
        .id(&spec.id)
        .arn(arn)
        .role_arn(&spec.role_arn);
    match &spec.input {
        TargetInput::WholeEvent => {}
        TargetInput::Transformer { paths, template } => {
            let t = InputTransformer::builder()
                .set_input_paths_map(Some(
                    paths.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ))
                .input_template(template)
                .build()
                .map_err(|e| ActionError::Invalid(e.to_string()))?;
            b = b.input_transformer(t);
        }
        TargetInput::Other { description } => {
            return Err(ActionError::Invalid(format!(
                "target {} asks for an input the reconciler never writes ({description})",
                spec.id
            )))
        }
    }
    if let Some(p) = spec.retry_policy {
        b = b.retry_policy(
            aws_sdk_eventbridge::types::RetryPolicy::builder()
                .maximum_event_age_in_seconds(
                    i32::try_from(p.maximum_event_age_seconds).unwrap_or(i32::MAX),
                )
                .maximum_retry_attempts(i32::try_from(p.maximum_retry_attempts).unwrap_or(i32::MAX))
                .build(),
        );
    }
    if let Some(dlq) = &spec.dead_letter_arn {
        b = b.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
    }
    b.build().map_err(|e| ActionError::Invalid(e.to_string()))
}

/// The failed entries of PutTargets/RemoveTargets as one error; retryable when every code is.
pub(super) fn entry_errors<'e>(
    operation: &'static str,
    entries: impl Iterator<Item = (Option<&'e str>, Option<&'e str>)>,
) -> AwsCallError {
    let mut codes = Vec::new();
    let mut parts = Vec::new();
    for (code, message) in entries {
        let code = code.unwrap_or("Unknown");
        parts.push(format!("{code}: {}", message.unwrap_or("")));
        codes.push(code.to_owned());
    }
    let retryable = !codes.is_empty() && codes.iter().all(|c| crate::error::is_retryable_code(c));
    AwsCallError {
        operation,
        code: codes.first().cloned(),
        message: format!("failed entries: {}", parts.join("; ")),
        retryable,
    }
}

pub(super) fn bus_from_rule_arn(arn: &str) -> Option<String> {
    let (_, path) = arn.split_once(":rule/")?;
    path.split_once('/').map(|(bus, _)| bus.to_owned())
}
