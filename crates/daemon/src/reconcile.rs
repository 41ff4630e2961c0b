//! Placeholder: the reconcile orchestration (owned by the reconcile helper).
