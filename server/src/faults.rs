//! Fault injection: rules queued by a test (`POST /__ferry/faults`) that the next upload requests obey.
//!
//! A test describes the failure it wants ("the next 2 uploads get a 503 with Retry-After: 2", "drop the
//! connection after 64 KiB") instead of racing the client; rules are consumed strictly in order, so a test
//! can script a sequence such as "let one through, then fail one" (`{"count":1}` then `{"count":1,"status":500}`).

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One rule; JSON in and out (`GET /__ferry/faults` shows the remaining `count`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// How many upcoming (matching) requests this rule applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer this status after reading the whole body (never counts as applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Sent as `Retry-After` with `status`; a string ("2", an HTTP date) or a number of seconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub retry_after: Option<String>,
    /// Sent as `Location` with `status` (a redirect: `{"status":307,"location":"/upload/moved"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Read the whole body, then never answer (until the client goes away or `/__ferry/reset`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub hang: bool,
    /// Close the TCP connection without any response once this many body bytes have been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after: Option<u64>,
    /// Read the body no faster than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_bytes_per_sec: Option<u64>,
    /// Only requests whose path starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

fn one() -> u32 {
    1
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "retryAfter must be a string or a number, not {other}"
        ))),
    }
}

impl Rule {
    /// Rejects rules that could never do what the test meant, so a typo fails loudly instead of passing.
    fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if let Some(s) = self.status {
            if !(100..=599).contains(&s) {
                return Err(format!("status {s} is not an HTTP status"));
            }
        }
        if self.retry_after.is_some() && self.status.is_none() {
            return Err("retryAfter needs a status".into());
        }
        if self.slow_bytes_per_sec == Some(0) {
            return Err("slowBytesPerSec must be positive".into());
        }
        if self.hang && self.drop_after.is_some() {
            return Err("hang and dropAfter exclude each other".into());
        }
        Ok(())
    }

    /// Parses a rule, or an array of rules, from a request body.
    pub fn parse_many(body: &[u8]) -> Result<Vec<Rule>, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let values = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut rules = Vec::with_capacity(values.len());
        for v in values {
            let rule: Rule =
                serde_json::from_value(v).map_err(|e| format!("invalid fault rule: {e}"))?;
            rule.validate()?;
            rules.push(rule);
        }
        Ok(rules)
    }
}

/// The queue of rules still to be consumed.
#[derive(Default)]
pub struct Faults {
    rules: VecDeque<Rule>,
}

impl Faults {
    pub fn push(&mut self, rule: Rule) {
        self.rules.push_back(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<Rule> {
        self.rules.iter().cloned().collect()
    }

    /// Consumes one use of the first rule that applies to `path`; returns it with `count: 1`.
    pub fn take(&mut self, path: &str) -> Option<Rule> {
        let index = self.rules.iter().position(|r| {
            r.path
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
        })?;
        let rule = &mut self.rules[index];
        rule.count -= 1;
        let taken = Rule {
            count: 1,
            ..rule.clone()
        };
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_and_filtered_by_path() {
        let mut f = Faults::default();
        for r in Rule::parse_many(
            br#"[{"count":2,"path":"/upload/a","status":503,"retryAfter":2},{"hang":true}]"#,
        )
        .unwrap()
        {
            f.push(r);
        }
        assert!(f.take("/upload/b").unwrap().hang);
        assert_eq!(
            f.take("/upload/a").unwrap().retry_after.as_deref(),
            Some("2")
        );
        assert_eq!(f.list()[0].count, 1);
        assert_eq!(f.take("/upload/a").unwrap().status, Some(503));
        assert!(f.take("/upload/a").is_none());
    }

    #[test]
    fn typos_are_rejected() {
        assert!(Rule::parse_many(br#"{"count":1,"stauts":500}"#).is_err());
        assert!(Rule::parse_many(br#"{"count":0,"status":500}"#).is_err());
        assert!(Rule::parse_many(br#"{"status":1000}"#).is_err());
        assert_eq!(Rule::parse_many(br#"{"status":500}"#).unwrap()[0].count, 1);
    }
}
