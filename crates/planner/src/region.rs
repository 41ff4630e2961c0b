//! Planning one account × region: connections, API destinations, rules and their targets.
//!
//! Order of the actions (the executor runs them as listed): creates and updates in dependency
//! order — connections, destinations, rules, targets — then deletes in reverse — targets, rules,
//! destinations, connections. Within one kind, sorted by name (targets by rule, then id).
//!
//! Must not: put a resource we do not own in the plan. Only names `desired.naming.owns()`
//! accepts are looked at; every other observed rule, connection or destination (and the
//! targets of foreign rules) is invisible here.

use std::collections::{BTreeMap, BTreeSet};

use fb_model::plan::{Action, DesiredResource, RegionPlan, ResourceKind};
use fb_model::resources::{
    ApiDestinationSpec, ConnectionSpec, DesiredRegion, Naming, ObservedApiDestination,
    ObservedConnection, ObservedRegion, ObservedRule, RuleSpec,
};

use crate::action::{create, delete, push_update};
use crate::diff;

/// Plans one region. Either side may be missing: no desired region means "delete what we own
/// there"; no observed region means "nothing exists yet".
pub fn plan_region(
    naming: &Naming,
    region: &str,
    desired: Option<&DesiredRegion>,
    observed: Option<&ObservedRegion>,
) -> RegionPlan {
    if let Some(error) = observed.and_then(|o| o.error.clone()) {
        return error_plan(region, error);
    }
    let empty_desired = DesiredRegion {
        region: region.to_owned(),
        connections: Vec::new(),
        destinations: Vec::new(),
        rules: Vec::new(),
    };
    let empty_observed = ObservedRegion::default();
    let desired = desired.unwrap_or(&empty_desired);
    let observed = observed.unwrap_or(&empty_observed);

    let wanted = match Wanted::index(naming, desired) {
        Ok(w) => w,
        Err(error) => return error_plan(region, error),
    };
    let found = Found::index(naming, observed);

    let mut actions = Vec::new();
    wanted.connections(&found, observed, &mut actions);
    wanted.destinations(&found, &mut actions);
    wanted.rules(&found, &mut actions);
    wanted.targets(&found, &mut actions);
    found.deletes(&wanted, &mut actions);
    RegionPlan {
        region: region.to_owned(),
        actions,
        error: None,
    }
}

fn error_plan(region: &str, error: String) -> RegionPlan {
    RegionPlan {
        region: region.to_owned(),
        actions: Vec::new(),
        error: Some(error),
    }
}

/// The desired resources of a region, by name (sorted), checked to be ours and unique.
struct Wanted<'a> {
    connections: BTreeMap<&'a str, &'a ConnectionSpec>,
    destinations: BTreeMap<&'a str, &'a ApiDestinationSpec>,
    rules: BTreeMap<&'a str, &'a RuleSpec>,
}

impl<'a> Wanted<'a> {
    /// Refuses (with the reason) a desired state that would make us touch a name we do not own
    /// or write one name twice: nothing is planned in that region then.
    fn index(naming: &Naming, desired: &'a DesiredRegion) -> Result<Self, String> {
        let connections = unique_owned(naming, "connection", &desired.connections, |c| &c.name)?;
        let destinations = unique_owned(naming, "api_destination", &desired.destinations, |d| {
            &d.name
        })?;
        let rules = unique_owned(naming, "rule", &desired.rules, |r| &r.name)?;
        for rule in desired.rules.iter() {
            let mut ids = BTreeSet::new();
            if let Some(dup) = rule.targets.iter().find(|t| !ids.insert(t.id.as_str())) {
                return Err(format!(
                    "desired state is invalid: rule {} lists target id {} twice",
                    rule.name, dup.id
                ));
            }
        }
        Ok(Wanted {
            connections,
            destinations,
            rules,
        })
    }

    fn connections(&self, found: &Found, observed: &ObservedRegion, out: &mut Vec<Action>) {
        for (name, spec) in &self.connections {
            let resource = DesiredResource::Connection((*spec).clone());
            match found.connections.get(name) {
                None => out.push(create(ResourceKind::Connection, name, resource)),
                Some(o) => {
                    let recorded = observed.recorded_fingerprints.get(*name);
                    let changes = diff::connection(spec, o, recorded);
                    push_update(
                        out,
                        ResourceKind::Connection,
                        name,
                        changes,
                        resource,
                        &o.arn,
                    );
                }
            }
        }
    }

    fn destinations(&self, found: &Found, out: &mut Vec<Action>) {
        for (name, spec) in &self.destinations {
            let resource = DesiredResource::ApiDestination((*spec).clone());
            match found.destinations.get(name) {
                None => out.push(create(ResourceKind::ApiDestination, name, resource)),
                Some(o) => {
                    // A connection created by this plan has no ARN yet: the destination is
                    // repointed in place (its own ARN, which targets use, stays).
                    let connection_arn = found
                        .connections
                        .get(spec.connection.as_str())
                        .map(|c| c.arn.as_str());
                    let changes = diff::destination(spec, o, connection_arn);
                    push_update(
                        out,
                        ResourceKind::ApiDestination,
                        name,
                        changes,
                        resource,
                        &o.arn,
                    );
                }
            }
        }
    }

    fn rules(&self, found: &Found, out: &mut Vec<Action>) {
        for (name, spec) in &self.rules {
            // The rule is written without its targets: those are their own actions.
            let resource = DesiredResource::Rule(RuleSpec {
                targets: Vec::new(),
                ..(*spec).clone()
            });
            match found.rules.get(name) {
                None => out.push(create(ResourceKind::Rule, name, resource)),
                Some(o) => {
                    let changes = diff::rule(spec, o);
                    push_update(out, ResourceKind::Rule, name, changes, resource, &o.arn);
                }
            }
        }
    }

    fn targets(&self, found: &Found, out: &mut Vec<Action>) {
        for (rule_name, spec) in &self.rules {
            let observed_rule = found.rules.get(rule_name);
            let mut targets: Vec<_> = spec.targets.iter().collect();
            targets.sort_by(|a, b| a.id.cmp(&b.id));
            for target in targets {
                let name = target_name(rule_name, &target.id);
                let resource = DesiredResource::Target {
                    rule: (*rule_name).to_owned(),
                    target: target.clone(),
                };
                let existing = observed_rule
                    .and_then(|r| r.targets.iter().find(|t| t.id == target.id).map(|t| (r, t)));
                match existing {
                    None => out.push(create(ResourceKind::Target, &name, resource)),
                    Some((rule, o)) => {
                        let destination_arn = found
                            .destinations
                            .get(target.destination.as_str())
                            .map(|d| d.arn.as_str());
                        let changes = diff::target(target, o, destination_arn);
                        // A target has no ARN of its own: the rule's says which rule and bus.
                        push_update(
                            out,
                            ResourceKind::Target,
                            &name,
                            changes,
                            resource,
                            &rule.arn,
                        );
                    }
                }
            }
        }
    }

    fn wants_target(&self, rule: &str, id: &str) -> bool {
        self.rules
            .get(rule)
            .is_some_and(|r| r.targets.iter().any(|t| t.id == id))
    }
}

/// The observed resources we own, by name (sorted). Foreign ones never get in.
struct Found<'a> {
    connections: BTreeMap<&'a str, &'a ObservedConnection>,
    destinations: BTreeMap<&'a str, &'a ObservedApiDestination>,
    rules: BTreeMap<&'a str, &'a ObservedRule>,
}

impl<'a> Found<'a> {
    fn index(naming: &Naming, observed: &'a ObservedRegion) -> Self {
        fn owned<'a, T>(
            naming: &Naming,
            items: &'a [T],
            name: impl Fn(&T) -> &str,
        ) -> BTreeMap<&'a str, &'a T> {
            items
                .iter()
                .map(|item| (name(item), item))
                .filter(|(n, _)| naming.owns(n))
                .collect()
        }
        Found {
            connections: owned(naming, &observed.connections, |c| &c.name),
            destinations: owned(naming, &observed.destinations, |d| &d.name),
            rules: owned(naming, &observed.rules, |r| &r.name),
        }
    }

    /// Deletes, in reverse dependency order: targets, rules, destinations, connections.
    fn deletes(&self, wanted: &Wanted, out: &mut Vec<Action>) {
        for (rule_name, rule) in &self.rules {
            let mut targets: Vec<_> = rule.targets.iter().collect();
            targets.sort_by(|a, b| a.id.cmp(&b.id));
            for t in targets
                .into_iter()
                .filter(|t| !wanted.wants_target(rule_name, &t.id))
            {
                // A target has no ARN of its own: the rule's says which rule and bus.
                out.push(delete(
                    ResourceKind::Target,
                    &target_name(rule_name, &t.id),
                    &rule.arn,
                ));
            }
        }
        for (name, rule) in &self.rules {
            if !wanted.rules.contains_key(name) {
                out.push(delete(ResourceKind::Rule, name, &rule.arn));
            }
        }
        for (name, dest) in &self.destinations {
            if !wanted.destinations.contains_key(name) {
                out.push(delete(ResourceKind::ApiDestination, name, &dest.arn));
            }
        }
        for (name, conn) in &self.connections {
            if !wanted.connections.contains_key(name) {
                out.push(delete(ResourceKind::Connection, name, &conn.arn));
            }
        }
    }
}

fn unique_owned<'a, T>(
    naming: &Naming,
    kind: &str,
    items: &'a [T],
    name: impl Fn(&T) -> &str,
) -> Result<BTreeMap<&'a str, &'a T>, String> {
    let mut out = BTreeMap::new();
    for item in items {
        let n = name(item);
        if !naming.owns(n) {
            return Err(format!(
                "desired state is invalid: {kind} {n} is not named {}-…; nothing planned here",
                naming.prefix
            ));
        }
        if out.insert(n, item).is_some() {
            return Err(format!(
                "desired state is invalid: {kind} {n} is listed twice"
            ));
        }
    }
    Ok(out)
}

/// `<rule>/<target id>`, the name of a target action.
pub fn target_name(rule: &str, id: &str) -> String {
    format!("{rule}/{id}")
}
