//! `fb-planner`: `plan(&DesiredState, &ObservedState) -> Plan`, and the plan's renderings.
//!
//! Pure: no aws-sdk, sled, tokio or reqwest, no clock, no IO. Same inputs, same plan.
