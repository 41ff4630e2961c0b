//! SDK values → model values (and back where the executor needs it): target inputs, retry
//! policies, IAM policy documents.
//!
//! Must not: call AWS. Pure, so it is unit-tested without a server.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::Target;
use fb_model::resources::{ObservedTarget, RetryPolicy, TargetInput};

/// What a target sends: the whole event, an input transformer, or something we never write.
pub fn target_input(target: &Target) -> TargetInput {
    if let Some(t) = target.input_transformer() {
        let paths: BTreeMap<String, String> = t
            .input_paths_map()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        return TargetInput::Transformer {
            paths,
            template: t.input_template().to_owned(),
        };
    }
    if let Some(input) = target.input() {
        return TargetInput::Other {
            description: format!("constant Input {input}"),
        };
    }
    if let Some(path) = target.input_path() {
        return TargetInput::Other {
            description: format!("InputPath {path}"),
        };
    }
    TargetInput::WholeEvent
}

/// A listed target as the planner sees it.
pub fn observed_target(target: &Target) -> ObservedTarget {
    ObservedTarget {
        id: target.id().to_owned(),
        arn: target.arn().to_owned(),
        role_arn: target.role_arn().map(str::to_owned),
        input: target_input(target),
        retry_policy: target.retry_policy().and_then(|p| {
            Some(RetryPolicy {
                maximum_event_age_seconds: u32::try_from(p.maximum_event_age_in_seconds()?).ok()?,
                maximum_retry_attempts: u32::try_from(p.maximum_retry_attempts()?).ok()?,
            })
        }),
        dead_letter_arn: target
            .dead_letter_config()
            .and_then(|d| d.arn())
            .map(str::to_owned),
    }
}

/// Parses an IAM policy document. IAM returns them URL-encoded (RFC 3986); some emulators
/// return plain JSON. Text that is neither is kept as a JSON string, so a difference shows.
pub fn policy_document(text: &str) -> serde_json::Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::{DeadLetterConfig, InputTransformer};

    fn base() -> aws_sdk_eventbridge::types::builders::TargetBuilder {
        Target::builder()
            .id("t1")
            .arn("arn:aws:events:us-east-1:1:api-destination/d/u")
    }

    #[test]
    fn no_input_means_whole_event() {
        let t = base().build().unwrap();
        assert_eq!(target_input(&t), TargetInput::WholeEvent);
    }

    #[test]
    fn transformer_keeps_paths_and_template() {
        let tr = InputTransformer::builder()
            .input_paths_map("Title", "$.detail.findings[0].Title")
            .input_template("{\"summary\":\"<Title>\"}")
            .build()
            .unwrap();
        let t = base().input_transformer(tr).build().unwrap();
        let TargetInput::Transformer { paths, template } = target_input(&t) else {
            panic!("expected a transformer");
        };
        assert_eq!(
            paths.get("Title").map(String::as_str),
            Some("$.detail.findings[0].Title")
        );
        assert_eq!(template, "{\"summary\":\"<Title>\"}");
    }

    #[test]
    fn input_and_input_path_are_other() {
        let t = base().input("{\"a\":1}").build().unwrap();
        assert!(
            matches!(target_input(&t), TargetInput::Other { description } if description.contains("{\"a\":1}"))
        );
        let t = base().input_path("$.detail").build().unwrap();
        assert!(
            matches!(target_input(&t), TargetInput::Other { description } if description.contains("$.detail"))
        );
    }

    #[test]
    fn observed_target_carries_role_retry_and_dlq() {
        let t = base()
            .role_arn("arn:aws:iam::1:role/r")
            .retry_policy(
                aws_sdk_eventbridge::types::RetryPolicy::builder()
                    .maximum_event_age_in_seconds(3600)
                    .maximum_retry_attempts(10)
                    .build(),
            )
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn("arn:aws:sqs:us-east-1:1:dlq")
                    .build(),
            )
            .build()
            .unwrap();
        let o = observed_target(&t);
        assert_eq!(o.role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(
            o.retry_policy,
            Some(RetryPolicy {
                maximum_event_age_seconds: 3600,
                maximum_retry_attempts: 10
            })
        );
        assert_eq!(
            o.dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:1:dlq")
        );
    }

    #[test]
    fn policy_documents_decode_plain_and_url_encoded() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        let want = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        assert_eq!(policy_document(plain), want);
        assert_eq!(policy_document(encoded), want);
        assert_eq!(policy_document("not json"), serde_json::json!("not json"));
    }
}
