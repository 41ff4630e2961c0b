//! An in-memory stand-in for the executor and AWS, for tests (feature `testing`).
//!
//! [`simulate`] applies a [`Plan`] to an [`ObservedState`] the way a correct executor against
//! AWS would, and refuses what AWS would refuse or what would break our promises: creating a
//! name that exists, updating or deleting one that does not (or under another ARN), deleting a
//! rule that still has targets or a connection a destination still uses, a target on a missing
//! rule or destination, more than 5 targets on a rule, deleting a role a rule still uses, and
//! any action on a name we do not own. So `plan → simulate → plan` being empty checks both the
//! planner's fixed point and its ordering.
//!
//! Must not: be used outside tests. ARNs it makes are deterministic, not real.

use fb_model::plan::{Action, DesiredResource, Op, Plan, ResourceKind};
use fb_model::resources::{
    ApiDestinationSpec, ConnectionSpec, Naming, ObservedAccount, ObservedApiDestination,
    ObservedConnection, ObservedRegion, ObservedRole, ObservedRule, ObservedState, ObservedTarget,
    RoleSpec, RuleSpec, TargetSpec,
};

/// EventBridge allows at most this many targets on one rule.
const MAX_TARGETS_PER_RULE: usize = 5;

/// Why the simulated AWS refused an action.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{place}: {op:?} {kind} {name}: {reason}")]
pub struct SimulateError {
    pub place: String,
    pub op: Op,
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

/// Applies `plan` to a copy of `observed`: role creates/updates, then each region in order, then
/// role deletes (the order [`fb_model::plan::AccountPlan`] documents).
pub fn simulate(observed: &ObservedState, plan: &Plan) -> Result<ObservedState, SimulateError> {
    let naming = Naming {
        prefix: plan.prefix.clone(),
    };
    let mut sim = Sim {
        state: observed.clone(),
        naming,
        next_id: 0,
    };
    for account_plan in &plan.accounts {
        let account = account_plan.account.as_str();
        let (deletes, writes): (Vec<&Action>, Vec<&Action>) = account_plan
            .role_actions
            .iter()
            .partition(|a| a.op == Op::Delete);
        if account_plan.error.is_some() {
            if let Some(a) = account_plan.role_actions.first() {
                return Err(refuse(
                    account,
                    a,
                    "actions planned in an unreadable account",
                ));
            }
            continue;
        }
        for action in writes {
            sim.role(account, action)?;
        }
        for region_plan in &account_plan.regions {
            let place = format!("{account}/{}", region_plan.region);
            if region_plan.error.is_some() {
                if let Some(a) = region_plan.actions.first() {
                    return Err(refuse(&place, a, "actions planned in an unreadable region"));
                }
                continue;
            }
            for action in &region_plan.actions {
                sim.region_action(account, &region_plan.region, action)
                    .map_err(|reason| refuse(&place, action, &reason))?;
            }
        }
        for action in deletes {
            sim.role(account, action)?;
        }
    }
    Ok(sim.state)
}

fn refuse(place: &str, action: &Action, reason: &str) -> SimulateError {
    SimulateError {
        place: place.to_owned(),
        op: action.op,
        kind: action.kind.label(),
        name: action.name.clone(),
        reason: reason.to_owned(),
    }
}

struct Sim {
    state: ObservedState,
    naming: Naming,
    next_id: u64,
}

impl Sim {
    fn account(&mut self, account: &str) -> &mut ObservedAccount {
        let i = match self
            .state
            .accounts
            .iter()
            .position(|a| a.account == account)
        {
            Some(i) => i,
            None => {
                self.state.accounts.push(ObservedAccount {
                    account: account.to_owned(),
                    role: None,
                    regions: Vec::new(),
                    error: None,
                });
                self.state.accounts.len() - 1
            }
        };
        &mut self.state.accounts[i]
    }

    fn region(&mut self, account: &str, region: &str) -> &mut ObservedRegion {
        let acc = self.account(account);
        let i = match acc.regions.iter().position(|r| r.region == region) {
            Some(i) => i,
            None => {
                acc.regions.push(ObservedRegion {
                    region: region.to_owned(),
                    ..ObservedRegion::default()
                });
                acc.regions.len() - 1
            }
        };
        &mut acc.regions[i]
    }

    /// A fresh ARN ending in a UUID-like suffix, as connections and destinations get.
    fn arn(&mut self, account: &str, region: &str, kind: &str, name: &str) -> String {
        self.next_id += 1;
        format!(
            "arn:aws:events:{region}:{account}:{kind}/{name}/00000000-0000-4000-8000-{:012}",
            self.next_id
        )
    }

    fn role(&mut self, account: &str, action: &Action) -> Result<(), SimulateError> {
        let fail = |reason: &str| refuse(account, action, reason);
        if action.kind != ResourceKind::InvokeRole || !self.naming.owns(&action.name) {
            return Err(fail("not an invoke role we own"));
        }
        let acc = self.account(account);
        match (action.op, &action.desired) {
            (Op::Create, Some(DesiredResource::Role(spec))) => {
                if acc.role.as_ref().is_some_and(|r| r.name == spec.name) {
                    return Err(fail("already exists"));
                }
                acc.role = Some(observed_role(spec));
            }
            (Op::Update, Some(DesiredResource::Role(spec))) => {
                match &acc.role {
                    Some(r) if Some(&r.arn) == action.existing_arn.as_ref() => {}
                    _ => return Err(fail("does not exist")),
                }
                acc.role = Some(observed_role(spec));
            }
            (Op::Delete, None) => {
                let Some(role) = acc.role.as_ref().filter(|r| r.name == action.name) else {
                    return Err(fail("does not exist"));
                };
                let used = acc.regions.iter().flat_map(|r| &r.rules).any(|rule| {
                    rule.targets
                        .iter()
                        .any(|t| t.role_arn.as_ref() == Some(&role.arn))
                });
                if used {
                    return Err(fail("a rule target still uses this role"));
                }
                acc.role = None;
            }
            _ => return Err(fail("malformed action")),
        }
        Ok(())
    }

    fn region_action(
        &mut self,
        account: &str,
        region: &str,
        action: &Action,
    ) -> Result<(), String> {
        let owned_name = match action.kind {
            ResourceKind::Target => action.name.split_once('/').map(|(rule, _)| rule),
            _ => Some(action.name.as_str()),
        };
        if !owned_name.is_some_and(|n| self.naming.owns(n)) {
            return Err("a name we do not own".into());
        }
        match (action.kind, &action.desired) {
            (ResourceKind::Connection, Some(DesiredResource::Connection(spec))) => {
                let arn = self.arn(account, region, "connection", &spec.name);
                write_connection(self.region(account, region), action, spec, arn)
            }
            (ResourceKind::ApiDestination, Some(DesiredResource::ApiDestination(spec))) => {
                let arn = self.arn(account, region, "api-destination", &spec.name);
                write_destination(self.region(account, region), action, spec, arn)
            }
            (ResourceKind::Rule, Some(DesiredResource::Rule(spec))) => {
                let arn = format!("arn:aws:events:{region}:{account}:rule/{}", spec.name);
                write_rule(self.region(account, region), action, spec, arn)
            }
            (ResourceKind::Target, Some(DesiredResource::Target { rule, target })) => {
                write_target(self.region(account, region), action, rule, target)
            }
            (kind, None) if action.op == Op::Delete => {
                delete(self.region(account, region), kind, action)
            }
            _ => Err("malformed action".into()),
        }
    }
}

fn observed_role(spec: &RoleSpec) -> ObservedRole {
    ObservedRole {
        name: spec.name.clone(),
        arn: spec.arn.clone(),
        description: spec.description.clone(),
        trust_policy: spec.trust_policy.clone(),
        policies: [(spec.policy_name.clone(), spec.policy_document.clone())].into(),
    }
}

/// Finds the item named `name` and checks the action's op against its existence (and ARN).
fn position<T>(
    items: &[T],
    action: &Action,
    name: &str,
    arn: impl Fn(&T) -> String,
    item_name: impl Fn(&T) -> &str,
) -> Result<Option<usize>, String> {
    let found = items.iter().position(|i| item_name(i) == name);
    match (action.op, found) {
        (Op::Create, None) => Ok(None),
        (Op::Create, Some(_)) => Err("already exists".into()),
        (_, None) => Err("does not exist".into()),
        (_, Some(i)) if Some(arn(&items[i])) != action.existing_arn => {
            Err("existing_arn does not match".into())
        }
        (_, Some(i)) => Ok(Some(i)),
    }
}

fn write_connection(
    region: &mut ObservedRegion,
    action: &Action,
    spec: &ConnectionSpec,
    fresh_arn: String,
) -> Result<(), String> {
    let found = position(
        &region.connections,
        action,
        &spec.name,
        |c| c.arn.clone(),
        |c| &c.name,
    )?;
    let connection = ObservedConnection {
        name: spec.name.clone(),
        // Updates keep the ARN: that is why the planner updates in place.
        arn: found.map_or(fresh_arn, |i| region.connections[i].arn.clone()),
        description: spec.description.clone(),
        authorization_type: "API_KEY".into(),
        api_key_name: Some(spec.auth.api_key_name().to_owned()),
        query_parameter_keys: spec.auth.query_parameter_keys(),
        state: "AUTHORIZED".into(),
    };
    match found {
        Some(i) => region.connections[i] = connection,
        None => region.connections.push(connection),
    }
    if let Some(fp) = &spec.secret_fingerprint {
        region
            .recorded_fingerprints
            .insert(spec.name.clone(), fp.clone());
    }
    Ok(())
}

fn write_destination(
    region: &mut ObservedRegion,
    action: &Action,
    spec: &ApiDestinationSpec,
    fresh_arn: String,
) -> Result<(), String> {
    let found = position(
        &region.destinations,
        action,
        &spec.name,
        |d| d.arn.clone(),
        |d| &d.name,
    )?;
    let Some(connection) = region
        .connections
        .iter()
        .find(|c| c.name == spec.connection)
    else {
        return Err(format!("connection {} does not exist", spec.connection));
    };
    let destination = ObservedApiDestination {
        name: spec.name.clone(),
        arn: found.map_or(fresh_arn, |i| region.destinations[i].arn.clone()),
        connection_arn: connection.arn.clone(),
        endpoint: spec.endpoint.clone(),
        http_method: spec.http_method.clone(),
        rate_limit_per_second: Some(spec.rate_limit_per_second),
        description: spec.description.clone(),
    };
    match found {
        Some(i) => region.destinations[i] = destination,
        None => region.destinations.push(destination),
    }
    Ok(())
}

fn write_rule(
    region: &mut ObservedRegion,
    action: &Action,
    spec: &RuleSpec,
    arn: String,
) -> Result<(), String> {
    let found = position(
        &region.rules,
        action,
        &spec.name,
        |r| r.arn.clone(),
        |r| &r.name,
    )?;
    // PutRule replaces the rule but keeps its targets.
    let targets = found.map_or_else(Vec::new, |i| region.rules[i].targets.clone());
    let rule = ObservedRule {
        name: spec.name.clone(),
        arn: found.map_or(arn, |i| region.rules[i].arn.clone()),
        event_bus: spec.event_bus.clone(),
        // AWS hands the pattern back as text; the planner must parse it to compare.
        event_pattern: Some(spec.event_pattern.to_string()),
        state: spec.state.clone(),
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        targets,
    };
    match found {
        Some(i) => region.rules[i] = rule,
        None => region.rules.push(rule),
    }
    Ok(())
}

fn write_target(
    region: &mut ObservedRegion,
    action: &Action,
    rule_name: &str,
    spec: &TargetSpec,
) -> Result<(), String> {
    let Some(destination) = region
        .destinations
        .iter()
        .find(|d| d.name == spec.destination)
    else {
        return Err(format!("destination {} does not exist", spec.destination));
    };
    let target = ObservedTarget {
        id: spec.id.clone(),
        arn: destination.arn.clone(),
        role_arn: Some(spec.role_arn.clone()),
        input: spec.input.clone(),
        retry_policy: spec.retry_policy,
        dead_letter_arn: spec.dead_letter_arn.clone(),
    };
    let Some(rule) = region.rules.iter_mut().find(|r| r.name == rule_name) else {
        return Err(format!("rule {rule_name} does not exist"));
    };
    // A target action's `existing_arn` is its rule's ARN.
    let rule_arn = rule.arn.clone();
    let found = position(
        &rule.targets,
        action,
        &spec.id,
        |_| rule_arn.clone(),
        |t| &t.id,
    )?;
    match found {
        Some(i) => rule.targets[i] = target,
        None if rule.targets.len() >= MAX_TARGETS_PER_RULE => {
            return Err("a rule takes at most 5 targets".into())
        }
        None => rule.targets.push(target),
    }
    Ok(())
}

fn delete(region: &mut ObservedRegion, kind: ResourceKind, action: &Action) -> Result<(), String> {
    let name = action.name.as_str();
    match kind {
        ResourceKind::Target => {
            let (rule_name, id) = name.split_once('/').ok_or("target name is not rule/id")?;
            let Some(rule) = region.rules.iter_mut().find(|r| r.name == rule_name) else {
                return Err(format!("rule {rule_name} does not exist"));
            };
            let rule_arn = rule.arn.clone();
            let i = position(&rule.targets, action, id, |_| rule_arn.clone(), |t| &t.id)?;
            rule.targets.remove(i.unwrap_or_default());
        }
        ResourceKind::Rule => {
            let i = position(&region.rules, action, name, |r| r.arn.clone(), |r| &r.name)?;
            let i = i.unwrap_or_default();
            if !region.rules[i].targets.is_empty() {
                return Err("the rule still has targets".into());
            }
            region.rules.remove(i);
        }
        ResourceKind::ApiDestination => {
            let i = position(
                &region.destinations,
                action,
                name,
                |d| d.arn.clone(),
                |d| &d.name,
            )?;
            region.destinations.remove(i.unwrap_or_default());
        }
        ResourceKind::Connection => {
            let i = position(
                &region.connections,
                action,
                name,
                |c| c.arn.clone(),
                |c| &c.name,
            )?;
            let i = i.unwrap_or_default();
            let arn = &region.connections[i].arn;
            if region.destinations.iter().any(|d| &d.connection_arn == arn) {
                return Err("a destination still uses the connection".into());
            }
            region.connections.remove(i);
            region.recorded_fingerprints.remove(name);
        }
        ResourceKind::InvokeRole => return Err("roles are not regional".into()),
    }
    Ok(())
}
