//! Placeholder: EventBridge pattern matching (owned by the pipeline helper).
