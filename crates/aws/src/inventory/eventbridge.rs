//! EventBridge reads of one region: rules (+ targets, tags), connections (+ describe for the
//! auth fields), API destinations (+ describe: the list has no description). Every call is
//! counted.

use std::sync::atomic::{AtomicUsize, Ordering};

use fb_model::resources::{ObservedApiDestination, ObservedConnection, ObservedRule};
use futures::{StreamExt, TryStreamExt};

use crate::convert::observed_target;
use crate::error::{AwsCallError, CallContext};

/// Per-rule reads run this many at once inside one region.
const RULE_READ_CONCURRENCY: usize = 4;

/// Every item of a `NextToken`-paged list; each page is one counted call.
async fn all_pages<T, F, Fut>(calls: &AtomicUsize, mut page: F) -> Result<Vec<T>, AwsCallError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsCallError>>,
{
    crate::paging::all_pages(|token| {
        calls.fetch_add(1, Ordering::Relaxed);
        page(token)
    })
    .await
}

pub(super) async fn read_rules(
    eb: &aws_sdk_eventbridge::Client,
    prefix: &str,
    calls: &AtomicUsize,
) -> Result<Vec<ObservedRule>, AwsCallError> {
    let listed = all_pages(calls, |token| async move {
        let page = eb
            .list_rules()
            .name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .op("events:ListRules")?;
        Ok((page.rules().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await?;
    futures::stream::iter(listed)
        .map(|rule| read_rule(eb, rule, calls))
        .buffered(RULE_READ_CONCURRENCY)
        .try_collect()
        .await
}

async fn read_rule(
    eb: &aws_sdk_eventbridge::Client,
    rule: aws_sdk_eventbridge::types::Rule,
    calls: &AtomicUsize,
) -> Result<ObservedRule, AwsCallError> {
    let name = rule.name().unwrap_or_default().to_owned();
    let arn = rule.arn().unwrap_or_default().to_owned();
    let event_bus = rule.event_bus_name().unwrap_or("default").to_owned();
    let (name_ref, bus_ref) = (&name, &event_bus);
    let targets = all_pages(calls, |token| async move {
        let page = eb
            .list_targets_by_rule()
            .rule(name_ref)
            .event_bus_name(bus_ref)
            .set_next_token(token)
            .send()
            .await
            .op("events:ListTargetsByRule")?;
        let targets = page.targets().iter().map(observed_target).collect();
        Ok((targets, page.next_token().map(str::to_owned)))
    })
    .await?;
    calls.fetch_add(1, Ordering::Relaxed);
    let tags = eb
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .op("events:ListTagsForResource")?
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    Ok(ObservedRule {
        name,
        arn,
        event_bus,
        event_pattern: rule.event_pattern().map(str::to_owned),
        state: rule
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        description: rule.description().unwrap_or_default().to_owned(),
        tags,
        targets,
    })
}

pub(super) async fn read_connections(
    eb: &aws_sdk_eventbridge::Client,
    prefix: &str,
    calls: &AtomicUsize,
) -> Result<Vec<ObservedConnection>, AwsCallError> {
    let names = all_pages(calls, |token| async move {
        let page = eb
            .list_connections()
            .name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .op("events:ListConnections")?;
        let names = page
            .connections()
            .iter()
            .filter_map(|c| c.name().map(str::to_owned))
            .collect();
        Ok((names, page.next_token().map(str::to_owned)))
    })
    .await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        calls.fetch_add(1, Ordering::Relaxed);
        let d = eb
            .describe_connection()
            .name(&name)
            .send()
            .await
            .op("events:DescribeConnection")?;
        let auth = d.auth_parameters();
        out.push(ObservedConnection {
            name,
            arn: d.connection_arn().unwrap_or_default().to_owned(),
            description: d.description().unwrap_or_default().to_owned(),
            authorization_type: d
                .authorization_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            api_key_name: auth
                .and_then(|a| a.api_key_auth_parameters())
                .and_then(|k| k.api_key_name())
                .map(str::to_owned),
            query_parameter_keys: auth
                .and_then(|a| a.invocation_http_parameters())
                .map(|p| {
                    p.query_string_parameters()
                        .iter()
                        .filter_map(|q| q.key().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            state: d
                .connection_state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) async fn read_destinations(
    eb: &aws_sdk_eventbridge::Client,
    prefix: &str,
    calls: &AtomicUsize,
) -> Result<Vec<ObservedApiDestination>, AwsCallError> {
    let names = all_pages(calls, |token| async move {
        let page = eb
            .list_api_destinations()
            .name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .op("events:ListApiDestinations")?;
        let names = page
            .api_destinations()
            .iter()
            .filter_map(|d| d.name().map(str::to_owned))
            .collect();
        Ok((names, page.next_token().map(str::to_owned)))
    })
    .await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        calls.fetch_add(1, Ordering::Relaxed);
        let d = eb
            .describe_api_destination()
            .name(&name)
            .send()
            .await
            .op("events:DescribeApiDestination")?;
        out.push(ObservedApiDestination {
            name,
            arn: d.api_destination_arn().unwrap_or_default().to_owned(),
            connection_arn: d.connection_arn().unwrap_or_default().to_owned(),
            endpoint: d.invocation_endpoint().unwrap_or_default().to_owned(),
            http_method: d
                .http_method()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            rate_limit_per_second: d
                .invocation_rate_limit_per_second()
                .and_then(|r| u32::try_from(r).ok()),
            description: d.description().unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}
