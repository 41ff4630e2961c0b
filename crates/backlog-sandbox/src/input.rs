//! Request parameters (query or form) and the strict checks Backlog documents: known names
//! only, required names present, numbers that parse.
//!
//! Must not: accept a parameter name the endpoint does not document (→ 400 code 7).

use axum::http::StatusCode;
use serde_json::{json, Value};

/// A Backlog-style error answer.
#[derive(Debug, Clone)]
pub struct ApiErr {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiErr {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 7, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 6, message)
    }

    pub fn body(&self) -> Value {
        json!({"errors": [{"message": self.message, "code": self.code, "moreInfo": ""}]})
    }
}

/// Decoded `name=value` pairs; `%5B%5D` and `[]` both arrive as `[]`.
#[derive(Debug, Default, Clone)]
pub struct Input {
    pub pairs: Vec<(String, String)>,
}

impl Input {
    pub fn parse(raw: &str) -> Result<Self, ApiErr> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            .map(|pairs| Self { pairs })
            .map_err(|_| ApiErr::invalid("Malformed parameters."))
    }

    /// A JSON object body (only for the create endpoint that EventBridge direct mode calls).
    pub fn from_json(body: &[u8]) -> Result<Self, ApiErr> {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| ApiErr::invalid("Malformed JSON body."))?;
        let Value::Object(map) = value else {
            return Err(ApiErr::invalid("JSON body must be an object."));
        };
        let mut pairs = Vec::new();
        for (name, v) in map {
            let scalar = |v: &Value| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            };
            match &v {
                Value::Array(items) => {
                    let array_name = if name.ends_with("[]") {
                        name.clone()
                    } else {
                        format!("{name}[]")
                    };
                    pairs.extend(
                        items
                            .iter()
                            .filter_map(scalar)
                            .map(|s| (array_name.clone(), s)),
                    );
                }
                other => pairs.extend(scalar(other).map(|s| (name.clone(), s))),
            }
        }
        Ok(Self { pairs })
    }

    /// Rejects names not in `allowed`; `customField_*` in `allowed` admits every custom field.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ApiErr> {
        let custom = allowed.contains(&"customField_*");
        for (name, _) in &self.pairs {
            let ok =
                allowed.contains(&name.as_str()) || (custom && name.starts_with("customField_"));
            if !ok {
                return Err(ApiErr::invalid(format!("Undefined parameter: {name}")));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiErr> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ApiErr::invalid(format!(
                "Missing required parameter: {name}"
            ))),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiErr> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiErr::invalid(format!("Parameter {name} must be a number: {v:?}"))
                })
            })
            .transpose()
    }

    pub fn required_int(&self, name: &str) -> Result<i64, ApiErr> {
        self.required(name)?;
        Ok(self.int(name)?.unwrap_or_default())
    }

    /// Every value of `name[]`.
    pub fn ints(&self, name: &str) -> Result<Vec<i64>, ApiErr> {
        let array = format!("{name}[]");
        self.pairs
            .iter()
            .filter(|(n, _)| *n == array)
            .map(|(_, v)| {
                v.trim().parse().map_err(|_| {
                    ApiErr::invalid(format!("Parameter {array} must be numbers: {v:?}"))
                })
            })
            .collect()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiErr> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiErr::invalid(format!(
                "Parameter {name} must be true or false: {v:?}"
            ))),
        }
    }

    pub fn date(&self, name: &str) -> Result<Option<chrono::NaiveDate>, ApiErr> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiErr::invalid(format!("Parameter {name} must be yyyy-MM-dd: {v:?}"))
                })
            })
            .transpose()
    }

    /// `count` within 1..=100 (default `default`).
    pub fn count(&self, default: i64) -> Result<usize, ApiErr> {
        let c = self.int("count")?.unwrap_or(default);
        if !(1..=100).contains(&c) {
            return Err(ApiErr::invalid(format!(
                "Parameter count must be between 1 and 100: {c}"
            )));
        }
        Ok(c as usize)
    }

    /// `order`: `asc` or `desc` (default desc). Returns true for ascending.
    pub fn ascending(&self) -> Result<bool, ApiErr> {
        match self.get("order") {
            None | Some("desc") => Ok(false),
            Some("asc") => Ok(true),
            Some(v) => Err(ApiErr::invalid(format!(
                "Parameter order must be asc or desc: {v:?}"
            ))),
        }
    }
}
