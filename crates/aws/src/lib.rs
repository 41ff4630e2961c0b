//! `fb-aws`: sessions per account × region (assumed roles), the EventBridge/IAM inventory that
//! builds an `ObservedState`, the executor that applies a `Plan` once, and the Security Hub
//! client (batched BatchUpdateFindings, GetFindings).
//!
//! Must not: decide what to change (that is the planner's), or retry a whole plan (the caller's
//! loop does; each action reports whether a retry can help).
