//! Field-by-field comparison of one desired resource with the one observed under the same name.
//!
//! Each function returns the [`FieldChange`]s (empty: nothing to do), in a fixed field order so
//! that plans print the same every time. Values are compared as JSON values: event patterns and
//! policies as parsed JSON (object key order does not matter), never as text.
//!
//! Must not: show a secret. The connection secret is compared by fingerprint (an HMAC) and shown
//! only as the markers [`SECRET_RECORDED`] / [`SECRET_UNKNOWN`] → [`SECRET_CHANGED`].

use fb_model::plan::FieldChange;
use fb_model::resources::{
    ApiDestinationSpec, ConnectionSpec, ObservedApiDestination, ObservedConnection, ObservedRole,
    ObservedRule, ObservedTarget, RoleSpec, RuleSpec, TargetSpec,
};
use serde::Serialize;
use serde_json::Value;

/// Shown as the new value of an ARN that only exists once the plan is applied.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";
/// Old value of a changed secret when a fingerprint was recorded at the last apply.
pub const SECRET_RECORDED: &str = "(recorded)";
/// Old value of a secret when no fingerprint was recorded (never applied by us, or lost).
pub const SECRET_UNKNOWN: &str = "(unknown)";
/// New value of a secret that will be written again.
pub const SECRET_CHANGED: &str = "(changed)";

/// The only authorization type our connections use.
const API_KEY: &str = "API_KEY";
/// A connection EventBridge can no longer authorize needs its parameters pushed again.
const DEAUTHORIZED: &str = "DEAUTHORIZED";
const AUTHORIZED: &str = "AUTHORIZED";

/// Collects the fields that differ, in the order they are compared.
#[derive(Debug, Default)]
struct Changes(Vec<FieldChange>);

impl Changes {
    /// Records `field` when `old` and `new` differ as JSON values.
    fn compare(&mut self, field: &str, old: impl Serialize, new: impl Serialize) {
        let (old, new) = (to_json(old), to_json(new));
        if old != new {
            self.0.push(FieldChange {
                field: field.to_owned(),
                old,
                new,
            });
        }
    }

    fn push(&mut self, field: &str, old: &str, new: &str) {
        self.0.push(FieldChange {
            field: field.to_owned(),
            old: Value::from(old),
            new: Value::from(new),
        });
    }
}

fn to_json(value: impl Serialize) -> Value {
    // Our types always serialize (string keys only); the fallback keeps this total and pure.
    serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("(unserializable: {e})")))
}

/// The invoke role: description, trust policy, the one inline policy we write, and no other.
pub fn role(spec: &RoleSpec, observed: &ObservedRole) -> Vec<FieldChange> {
    let mut c = Changes::default();
    c.compare("description", &observed.description, &spec.description);
    c.compare("trust_policy", &observed.trust_policy, &spec.trust_policy);
    c.compare(
        "policy_document",
        observed.policies.get(&spec.policy_name),
        &spec.policy_document,
    );
    // Any other inline policy widens what EventBridge may do with the role: the update
    // removes it.
    let extra: Vec<&String> = observed
        .policies
        .keys()
        .filter(|name| **name != spec.policy_name)
        .collect();
    c.compare("extra_inline_policies", extra, Vec::<&String>::new());
    c.0
}

/// A connection. `recorded` is the secret fingerprint stored at our last apply.
pub fn connection(
    spec: &ConnectionSpec,
    observed: &ObservedConnection,
    recorded: Option<&String>,
) -> Vec<FieldChange> {
    let mut c = Changes::default();
    c.compare("description", &observed.description, &spec.description);
    c.compare("authorization_type", &observed.authorization_type, API_KEY);
    c.compare(
        "api_key_name",
        &observed.api_key_name,
        spec.auth.api_key_name(),
    );
    // A set: the order AWS lists parameters in means nothing.
    let mut observed_keys = observed.query_parameter_keys.clone();
    observed_keys.sort();
    let mut desired_keys = spec.auth.query_parameter_keys();
    desired_keys.sort();
    c.compare("query_parameter_keys", observed_keys, desired_keys);
    if observed.state == DEAUTHORIZED {
        c.push("state", DEAUTHORIZED, AUTHORIZED);
    }
    // `None`: the secret could not be checked this time (e.g. the store is held by the daemon);
    // saying nothing beats re-pushing on every plan.
    if let Some(fingerprint) = &spec.secret_fingerprint {
        match recorded {
            None => c.push("secret", SECRET_UNKNOWN, SECRET_CHANGED),
            Some(r) if r != fingerprint => c.push("secret", SECRET_RECORDED, SECRET_CHANGED),
            Some(_) => {}
        }
    }
    c.0
}

/// An API destination. `connection_arn` is the observed ARN of the desired connection, `None`
/// when that connection is created by this plan.
pub fn destination(
    spec: &ApiDestinationSpec,
    observed: &ObservedApiDestination,
    connection_arn: Option<&str>,
) -> Vec<FieldChange> {
    let mut c = Changes::default();
    c.compare(
        "connection",
        &observed.connection_arn,
        connection_arn.unwrap_or(KNOWN_AFTER_APPLY),
    );
    c.compare("endpoint", &observed.endpoint, &spec.endpoint);
    c.compare("http_method", &observed.http_method, &spec.http_method);
    // An unset rate limit means "as fast as EventBridge likes": drift from ours.
    c.compare(
        "rate_limit_per_second",
        observed.rate_limit_per_second,
        Some(spec.rate_limit_per_second),
    );
    c.compare("description", &observed.description, &spec.description);
    c.0
}

/// A rule (without its targets, which are compared one by one).
pub fn rule(spec: &RuleSpec, observed: &ObservedRule) -> Vec<FieldChange> {
    let mut c = Changes::default();
    c.compare(
        "event_pattern",
        observed_pattern(observed.event_pattern.as_deref()),
        &spec.event_pattern,
    );
    c.compare("state", &observed.state, &spec.state);
    c.compare("description", &observed.description, &spec.description);
    c.compare("event_bus", &observed.event_bus, &spec.event_bus);
    c.compare("tags", &observed.tags, &spec.tags);
    c.0
}

/// The pattern AWS returned, parsed; an unparsable text stays a string so it shows and differs.
fn observed_pattern(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())),
    }
}

/// A target. `destination_arn` is the observed ARN of the desired destination, `None` when
/// that destination is created by this plan.
pub fn target(
    spec: &TargetSpec,
    observed: &ObservedTarget,
    destination_arn: Option<&str>,
) -> Vec<FieldChange> {
    let mut c = Changes::default();
    c.compare(
        "arn",
        &observed.arn,
        destination_arn.unwrap_or(KNOWN_AFTER_APPLY),
    );
    c.compare("role_arn", &observed.role_arn, Some(&spec.role_arn));
    c.compare("input", &observed.input, &spec.input);
    c.compare("retry_policy", observed.retry_policy, spec.retry_policy);
    c.compare(
        "dead_letter_arn",
        &observed.dead_letter_arn,
        &spec.dead_letter_arn,
    );
    c.0
}
