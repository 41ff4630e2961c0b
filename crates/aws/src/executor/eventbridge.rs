//! EventBridge actions in one account × region, in plan order, resolving ARNs as it goes: a
//! destination's connection ARN from the connection just written (or DescribeConnection), a
//! target's ARN from the destination just written (or DescribeApiDestination).
//!
//! Connections always get their complete `AuthParameters` (some implementations replace them
//! wholesale). Connections and destinations are updated in place so their ARNs stay.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_eventbridge::types::{
    ApiDestinationHttpMethod, ConnectionAuthorizationType, ConnectionHttpParameters,
    ConnectionQueryStringParameter, CreateConnectionApiKeyAuthRequestParameters,
    CreateConnectionAuthRequestParameters, RuleState, UpdateConnectionApiKeyAuthRequestParameters,
    UpdateConnectionAuthRequestParameters,
};
use aws_sdk_eventbridge::Client;
use fb_model::plan::{Action, DesiredResource, Op, ResourceKind};
use fb_model::resources::{
    ApiDestinationSpec, ConnectionAuth, ConnectionSpec, RuleSpec, TargetSpec,
};
use fb_model::secret::Secret;

use super::values::{build_target, bus_from_rule_arn, entry_errors, tags};
use super::{ActionError, Done, RecordedFingerprint, SecretResolver};
use crate::error::{AwsCallError, CallContext};
use crate::session::AccountSession;

const DEFAULT_BUS: &str = "default";

pub(super) struct RegionRunner<'a> {
    eb: Client,
    account: &'a str,
    region: &'a str,
    secrets: SecretResolver<'a>,
    connection_arns: HashMap<String, String>,
    destination_arns: HashMap<String, String>,
    rule_buses: HashMap<String, String>,
}

/// The auth values of a connection, secrets resolved (dropped right after the call).
struct Auth<'s> {
    api_key_name: &'s str,
    api_key_value: Secret,
    query: Option<(&'s str, Secret)>,
}

impl<'a> RegionRunner<'a> {
    pub(super) fn new(
        session: &'a AccountSession,
        region: &'a str,
        secrets: SecretResolver<'a>,
    ) -> Self {
        RegionRunner {
            eb: session.eventbridge(region),
            account: &session.account,
            region,
            secrets,
            connection_arns: HashMap::new(),
            destination_arns: HashMap::new(),
            rule_buses: HashMap::new(),
        }
    }

    pub(super) async fn apply(&mut self, action: &Action) -> Done {
        use DesiredResource as D;
        if let Some(arn) = &action.existing_arn {
            self.remember(action.kind, &action.name, arn);
        }
        match (action.op, &action.desired) {
            (Op::Create | Op::Update, Some(D::Connection(spec))) => {
                self.write_connection(spec, action.op == Op::Create).await
            }
            (Op::Create | Op::Update, Some(D::ApiDestination(spec))) => {
                self.write_destination(spec, action.op == Op::Create).await
            }
            (Op::Create | Op::Update, Some(D::Rule(spec))) => {
                self.write_rule(spec, action.op == Op::Create).await
            }
            (Op::Create | Op::Update, Some(D::Target { rule, target })) => {
                self.write_target(rule, target).await
            }
            (Op::Delete, _) => self.delete(action).await,
            _ => Err(ActionError::Invalid(format!(
                "{} {} {} carries no matching desired resource",
                action.op.symbol(),
                action.kind.label(),
                action.name
            ))),
        }
    }

    /// ARNs of resources the plan updates (and so were observed) are known without a call.
    fn remember(&mut self, kind: ResourceKind, name: &str, arn: &str) {
        let map = match kind {
            ResourceKind::Connection => &mut self.connection_arns,
            ResourceKind::ApiDestination => &mut self.destination_arns,
            _ => return,
        };
        map.entry(name.to_owned()).or_insert_with(|| arn.to_owned());
    }

    fn resolve_auth<'s>(&self, auth: &'s ConnectionAuth) -> Result<Auth<'s>, ActionError> {
        let secret = |r| {
            (self.secrets)(r).map_err(|source| ActionError::Secret {
                reference: r.to_string(),
                source,
            })
        };
        Ok(match auth {
            ConnectionAuth::RelayApiKey { header, key } => Auth {
                api_key_name: header,
                api_key_value: secret(key)?,
                query: None,
            },
            ConnectionAuth::BacklogQueryKey {
                header,
                header_value,
                param,
                key,
            } => Auth {
                api_key_name: header,
                api_key_value: Secret::new(header_value.clone()),
                query: Some((param, secret(key)?)),
            },
        })
    }

    async fn write_connection(&mut self, spec: &ConnectionSpec, create: bool) -> Done {
        let auth = self.resolve_auth(&spec.auth)?;
        // Should AWS ever echo a request value in an error message, it must not travel on.
        let mut sent: Vec<&str> = vec![auth.api_key_value.expose()];
        sent.extend(auth.query.as_ref().map(|(_, v)| v.expose()));
        let scrub = |e: AwsCallError| e.redact(&sent);
        let http = auth.query.as_ref().map(|(param, value)| {
            ConnectionHttpParameters::builder()
                .query_string_parameters(
                    ConnectionQueryStringParameter::builder()
                        .key(*param)
                        .value(value.expose())
                        .is_value_secret(true)
                        .build(),
                )
                .build()
        });
        let arn = if create {
            let key = CreateConnectionApiKeyAuthRequestParameters::builder()
                .api_key_name(auth.api_key_name)
                .api_key_value(auth.api_key_value.expose())
                .build()
                .map_err(|e| ActionError::Invalid(e.to_string()))?;
            let params = CreateConnectionAuthRequestParameters::builder()
                .api_key_auth_parameters(key)
                .set_invocation_http_parameters(http)
                .build();
            self.eb
                .create_connection()
                .name(&spec.name)
                .description(&spec.description)
                .authorization_type(ConnectionAuthorizationType::ApiKey)
                .auth_parameters(params)
                .send()
                .await
                .op("events:CreateConnection")
                .map_err(scrub)?
                .connection_arn()
                .map(str::to_owned)
        } else {
            let key = UpdateConnectionApiKeyAuthRequestParameters::builder()
                .api_key_name(auth.api_key_name)
                .api_key_value(auth.api_key_value.expose())
                .build();
            let params = UpdateConnectionAuthRequestParameters::builder()
                .api_key_auth_parameters(key)
                .set_invocation_http_parameters(http)
                .build();
            self.eb
                .update_connection()
                .name(&spec.name)
                .description(&spec.description)
                .authorization_type(ConnectionAuthorizationType::ApiKey)
                .auth_parameters(params)
                .send()
                .await
                .op("events:UpdateConnection")
                .map_err(scrub)?
                .connection_arn()
                .map(str::to_owned)
        };
        if let Some(arn) = arn {
            self.connection_arns.insert(spec.name.clone(), arn);
        }
        Ok(spec
            .secret_fingerprint
            .as_ref()
            .map(|fp| RecordedFingerprint {
                account: self.account.to_owned(),
                region: self.region.to_owned(),
                connection: spec.name.clone(),
                fingerprint: fp.clone(),
            }))
    }

    async fn connection_arn(&mut self, name: &str) -> Result<String, ActionError> {
        if let Some(arn) = self.connection_arns.get(name) {
            return Ok(arn.clone());
        }
        let out = self
            .eb
            .describe_connection()
            .name(name)
            .send()
            .await
            .op("events:DescribeConnection")?;
        let arn = out.connection_arn().map(str::to_owned).ok_or_else(|| {
            AwsCallError::other(
                "events:DescribeConnection",
                format!("connection {name} has no ARN"),
            )
        })?;
        self.connection_arns.insert(name.to_owned(), arn.clone());
        Ok(arn)
    }

    async fn write_destination(&mut self, spec: &ApiDestinationSpec, create: bool) -> Done {
        let connection_arn = self.connection_arn(&spec.connection).await?;
        let rate = i32::try_from(spec.rate_limit_per_second).map_err(|_| {
            ActionError::Invalid(format!(
                "rate limit {} too large",
                spec.rate_limit_per_second
            ))
        })?;
        let method = ApiDestinationHttpMethod::from(spec.http_method.as_str());
        let arn = if create {
            self.eb
                .create_api_destination()
                .name(&spec.name)
                .description(&spec.description)
                .connection_arn(connection_arn)
                .invocation_endpoint(&spec.endpoint)
                .http_method(method)
                .invocation_rate_limit_per_second(rate)
                .send()
                .await
                .op("events:CreateApiDestination")?
                .api_destination_arn()
                .map(str::to_owned)
        } else {
            self.eb
                .update_api_destination()
                .name(&spec.name)
                .description(&spec.description)
                .connection_arn(connection_arn)
                .invocation_endpoint(&spec.endpoint)
                .http_method(method)
                .invocation_rate_limit_per_second(rate)
                .send()
                .await
                .op("events:UpdateApiDestination")?
                .api_destination_arn()
                .map(str::to_owned)
        };
        if let Some(arn) = arn {
            self.destination_arns.insert(spec.name.clone(), arn);
        }
        Ok(None)
    }

    async fn destination_arn(&mut self, name: &str) -> Result<String, ActionError> {
        if let Some(arn) = self.destination_arns.get(name) {
            return Ok(arn.clone());
        }
        let out = self
            .eb
            .describe_api_destination()
            .name(name)
            .send()
            .await
            .op("events:DescribeApiDestination")?;
        let arn = out
            .api_destination_arn()
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsCallError::other(
                    "events:DescribeApiDestination",
                    format!("API destination {name} has no ARN"),
                )
            })?;
        self.destination_arns.insert(name.to_owned(), arn.clone());
        Ok(arn)
    }

    /// PutRule replaces the rule; tags are set on create and reconciled on update.
    async fn write_rule(&mut self, spec: &RuleSpec, create: bool) -> Done {
        self.rule_buses
            .insert(spec.name.clone(), spec.event_bus.clone());
        let mut put = self
            .eb
            .put_rule()
            .name(&spec.name)
            .event_bus_name(&spec.event_bus)
            .event_pattern(spec.event_pattern.to_string())
            .state(RuleState::from(spec.state.as_str()))
            .description(&spec.description);
        if create {
            for tag in tags(&spec.tags)? {
                put = put.tags(tag);
            }
        }
        let out = put.send().await.op("events:PutRule")?;
        if !create {
            let arn = out.rule_arn().ok_or_else(|| {
                AwsCallError::other("events:PutRule", format!("rule {} has no ARN", spec.name))
            })?;
            self.sync_tags(arn, &spec.tags).await?;
        }
        Ok(None)
    }

    async fn sync_tags(
        &self,
        arn: &str,
        desired: &BTreeMap<String, String>,
    ) -> Result<(), ActionError> {
        let current: BTreeMap<String, String> = self
            .eb
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .op("events:ListTagsForResource")?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let stale: Vec<&String> = current
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .collect();
        if !stale.is_empty() {
            let mut untag = self.eb.untag_resource().resource_arn(arn);
            for key in stale {
                untag = untag.tag_keys(key);
            }
            untag.send().await.op("events:UntagResource")?;
        }
        let changed: BTreeMap<String, String> = desired
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !changed.is_empty() {
            let mut tag = self.eb.tag_resource().resource_arn(arn);
            for t in tags(&changed)? {
                tag = tag.tags(t);
            }
            tag.send().await.op("events:TagResource")?;
        }
        Ok(())
    }

    async fn write_target(&mut self, rule: &str, spec: &TargetSpec) -> Done {
        let arn = self.destination_arn(&spec.destination).await?;
        let target = build_target(spec, arn)?;
        let out = self
            .eb
            .put_targets()
            .rule(rule)
            .event_bus_name(self.bus_of(rule))
            .targets(target)
            .send()
            .await
            .op("events:PutTargets")?;
        if out.failed_entry_count() > 0 {
            return Err(entry_errors(
                "events:PutTargets",
                out.failed_entries()
                    .iter()
                    .map(|e| (e.error_code(), e.error_message())),
            )
            .into());
        }
        Ok(None)
    }

    fn bus_of(&self, rule: &str) -> String {
        self.rule_buses
            .get(rule)
            .cloned()
            .unwrap_or_else(|| DEFAULT_BUS.to_owned())
    }

    async fn delete(&mut self, action: &Action) -> Done {
        let done = match action.kind {
            ResourceKind::Target => {
                let (rule, id) = action.name.split_once('/').ok_or_else(|| {
                    ActionError::Invalid(format!("target name {} is not <rule>/<id>", action.name))
                })?;
                let bus = self.bus_for_delete(rule, action.existing_arn.as_deref());
                self.remove_targets(rule, &bus, vec![id.to_owned()]).await
            }
            ResourceKind::Rule => self.delete_rule(action).await,
            ResourceKind::ApiDestination => self
                .eb
                .delete_api_destination()
                .name(&action.name)
                .send()
                .await
                .op("events:DeleteApiDestination")
                .map(|_| ()),
            ResourceKind::Connection => self
                .eb
                .delete_connection()
                .name(&action.name)
                .send()
                .await
                .op("events:DeleteConnection")
                .map(|_| ()),
            ResourceKind::InvokeRole => {
                return Err(ActionError::Invalid(
                    "an IAM role is not a region action".into(),
                ))
            }
        };
        match done {
            // Already gone: the desired outcome.
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(None),
        }
    }

    /// The rule's bus: known from this plan, else from a rule ARN
    /// (`…:rule/<name>` on the default bus, `…:rule/<bus>/<name>` otherwise).
    fn bus_for_delete(&self, rule: &str, arn: Option<&str>) -> String {
        if let Some(bus) = self.rule_buses.get(rule) {
            return bus.clone();
        }
        arn.and_then(bus_from_rule_arn)
            .unwrap_or_else(|| DEFAULT_BUS.to_owned())
    }

    /// Removes whatever targets remain (DeleteRule refuses a rule with targets), then the rule.
    async fn delete_rule(&mut self, action: &Action) -> Result<(), AwsCallError> {
        let bus = self.bus_for_delete(&action.name, action.existing_arn.as_deref());
        let listed = self
            .eb
            .list_targets_by_rule()
            .rule(&action.name)
            .event_bus_name(&bus)
            .send()
            .await
            .op("events:ListTargetsByRule")?;
        let ids: Vec<String> = listed.targets().iter().map(|t| t.id().to_owned()).collect();
        if !ids.is_empty() {
            self.remove_targets(&action.name, &bus, ids).await?;
        }
        self.eb
            .delete_rule()
            .name(&action.name)
            .event_bus_name(&bus)
            .send()
            .await
            .op("events:DeleteRule")?;
        Ok(())
    }

    async fn remove_targets(
        &self,
        rule: &str,
        bus: &str,
        ids: Vec<String>,
    ) -> Result<(), AwsCallError> {
        let out = self
            .eb
            .remove_targets()
            .rule(rule)
            .event_bus_name(bus)
            .set_ids(Some(ids))
            .send()
            .await
            .op("events:RemoveTargets")?;
        if out.failed_entry_count() > 0 {
            return Err(entry_errors(
                "events:RemoveTargets",
                out.failed_entries()
                    .iter()
                    .map(|e| (e.error_code(), e.error_message())),
            ));
        }
        Ok(())
    }
}
