//! Segment rules: which customers belong to a named segment of a tenant.
//!
//! Rules are stored as JSON (what an admin sent) and parsed again whenever they are
//! evaluated, so that a rule saved by an older version that no longer parses simply matches
//! nobody instead of failing a profile request. Parsing is strict (unknown keys, empty
//! lists, zero counts and deep nesting are refused) so that a typo is reported when the
//! rule is saved rather than silently matching nobody.
//!
//! ```json
//! {"attribute":"tier","equals":"gold"}
//! {"event":"checkout","atLeast":2,"withinDays":30}
//! {"emailDomain":"example.com"}
//! {"all":[RULE,…]}   {"any":[RULE,…]}
//! ```

use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::model::{CustomerData, Segment, UnixMicros};

/// Deepest nesting of rules accepted (a leaf rule alone is depth 1). Evaluation recurses, so
/// the depth is bounded; real segments need far less.
pub const MAX_DEPTH: usize = 8;

/// Microseconds in a day, for `withinDays`.
const MICROS_PER_DAY: i128 = 86_400_000_000;

/// A parsed segment rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `{"attribute":K,"equals":V}`: the customer's attributes have key `K` with value `V`
    /// (numbers compare by value, so `2` equals `2.0`; a missing key never matches, not
    /// even `null`).
    AttributeEquals {
        /// The attribute key.
        attribute: String,
        /// The value it must have.
        equals: Value,
    },
    /// `{"event":T,"atLeast":N,"withinDays":D}`: the customer has at least `N` (default 1)
    /// events of type `T`, counting only those that occurred at most `D` days before now
    /// when `withinDays` is given (events dated after now count too: sources' clocks drift).
    Event {
        /// The event `Type`.
        event: String,
        /// Minimum count, at least 1.
        at_least: u64,
        /// The window in days, at least 1, or `None` for all time.
        within_days: Option<u64>,
    },
    /// `{"emailDomain":D}`: the customer's email address is at domain `D` (case-insensitive).
    EmailDomain(String),
    /// `{"all":[…]}`: every rule matches.
    All(Vec<Rule>),
    /// `{"any":[…]}`: at least one rule matches.
    Any(Vec<Rule>),
}

/// The keys that decide a rule's kind, in the order messages list them.
const KIND_KEYS: [&str; 5] = ["attribute", "event", "emailDomain", "all", "any"];

/// Parses a rule from its JSON form, refusing anything not exactly as documented on
/// [`Rule`]. The error is a sentence for an admin, naming where in the rule the problem is
/// (e.g. `all[1]: unknown key "equal"; …`).
pub fn parse_rule(value: &Value) -> Result<Rule, String> {
    parse_at(value, 1, "")
}

/// Prefixes a message with the path of the rule it concerns.
fn at(path: &str, message: impl std::fmt::Display) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

fn parse_at(value: &Value, depth: usize, path: &str) -> Result<Rule, String> {
    if depth > MAX_DEPTH {
        return Err(at(
            path,
            format!("rules may nest at most {MAX_DEPTH} levels deep"),
        ));
    }
    let Value::Object(object) = value else {
        return Err(at(path, "a rule must be a JSON object"));
    };
    let kinds: Vec<&str> = KIND_KEYS
        .iter()
        .copied()
        .filter(|k| object.contains_key(*k))
        .collect();
    let kind = match kinds.as_slice() {
        [kind] => *kind,
        [] => {
            return Err(at(
                path,
                format!("a rule must have one of the keys {}", KIND_KEYS.join(", ")),
            ));
        }
        _ => {
            return Err(at(
                path,
                format!(
                    "a rule must have only one of the keys {}; found {}",
                    KIND_KEYS.join(", "),
                    kinds.join(", ")
                ),
            ));
        }
    };
    let allowed: &[&str] = match kind {
        "attribute" => &["attribute", "equals"],
        "event" => &["event", "atLeast", "withinDays"],
        other => &[other][..],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(at(
            path,
            format!(
                "unknown key \"{shown}\" in a rule with \"{kind}\"; allowed keys: {}",
                allowed.join(", ")
            ),
        ));
    }
    match kind {
        "attribute" => {
            let attribute = non_empty_string(object, "attribute", path)?;
            let equals = object
                .get("equals")
                .cloned()
                .ok_or_else(|| at(path, "\"equals\" is required with \"attribute\""))?;
            Ok(Rule::AttributeEquals { attribute, equals })
        }
        "event" => {
            let event = non_empty_string(object, "event", path)?;
            let at_least = positive_integer(object, "atLeast", path)?.unwrap_or(1);
            let within_days = positive_integer(object, "withinDays", path)?;
            Ok(Rule::Event {
                event,
                at_least,
                within_days,
            })
        }
        "emailDomain" => {
            let domain = non_empty_string(object, "emailDomain", path)?;
            if domain.contains('@') {
                return Err(at(
                    path,
                    "\"emailDomain\" must be a domain such as example.com, without @",
                ));
            }
            Ok(Rule::EmailDomain(domain.to_lowercase()))
        }
        list_kind => {
            let Some(Value::Array(items)) = object.get(list_kind) else {
                return Err(at(path, format!("\"{list_kind}\" must be a list of rules")));
            };
            if items.is_empty() {
                return Err(at(
                    path,
                    format!("\"{list_kind}\" must list at least one rule"),
                ));
            }
            let mut rules = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let child = if path.is_empty() {
                    format!("{list_kind}[{i}]")
                } else {
                    format!("{path}.{list_kind}[{i}]")
                };
                rules.push(parse_at(item, depth + 1, &child)?);
            }
            Ok(if list_kind == "all" {
                Rule::All(rules)
            } else {
                Rule::Any(rules)
            })
        }
    }
}

/// A required string key, trimmed, non-empty.
fn non_empty_string(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, String> {
    match object.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(at(path, format!("\"{key}\" must be a non-empty string"))),
    }
}

/// An optional key that, when present, is an integer ≥ 1.
fn positive_integer(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(at(
                path,
                format!("\"{key}\" must be a whole number of at least 1"),
            )),
        },
    }
}

/// JSON equality, except that numbers compare by value (`2` = `2.0`), also inside arrays and
/// objects: attribute values come from many senders that format numbers differently.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

impl Rule {
    /// Whether the customer matches the rule at `now_us` (which `withinDays` counts back
    /// from).
    pub fn matches(&self, data: &CustomerData, now_us: UnixMicros) -> bool {
        match self {
            Rule::AttributeEquals { attribute, equals } => data
                .customer
                .attributes
                .as_ref()
                .and_then(|attributes| attributes.get(attribute))
                .is_some_and(|value| json_equal(value, equals)),
            Rule::Event {
                event,
                at_least,
                within_days,
            } => {
                let cutoff =
                    within_days.map(|days| i128::from(now_us) - i128::from(days) * MICROS_PER_DAY);
                let count = data
                    .events
                    .iter()
                    .filter(|e| &e.event_type == event)
                    .filter(|e| cutoff.is_none_or(|c| i128::from(e.occurred_us) >= c))
                    .count();
                u64::try_from(count).is_ok_and(|count| count >= *at_least)
            }
            Rule::EmailDomain(domain) => data
                .customer
                .email
                .as_deref()
                .and_then(|email| email.trim().rsplit_once('@'))
                .is_some_and(|(_, d)| d.to_lowercase() == *domain),
            Rule::All(rules) => rules.iter().all(|r| r.matches(data, now_us)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(data, now_us)),
        }
    }

    /// The rule's JSON form, as [`parse_rule`] reads it.
    pub fn to_json(&self) -> Value {
        match self {
            Rule::AttributeEquals { attribute, equals } => {
                json!({ "attribute": attribute, "equals": equals })
            }
            Rule::Event {
                event,
                at_least,
                within_days,
            } => {
                let mut object = Map::new();
                object.insert("event".to_owned(), json!(event));
                object.insert("atLeast".to_owned(), json!(at_least));
                if let Some(days) = within_days {
                    object.insert("withinDays".to_owned(), json!(days));
                }
                Value::Object(object)
            }
            Rule::EmailDomain(domain) => json!({ "emailDomain": domain }),
            Rule::All(rules) => {
                json!({ "all": rules.iter().map(Rule::to_json).collect::<Vec<_>>() })
            }
            Rule::Any(rules) => {
                json!({ "any": rules.iter().map(Rule::to_json).collect::<Vec<_>>() })
            }
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    /// Reads a rule with [`parse_rule`]'s checks, so request bodies can embed a `Rule`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_rule(&value).map_err(D::Error::custom)
    }
}

impl Serialize for Rule {
    /// Writes [`Rule::to_json`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The names of the segments the customer is in, sorted and without duplicates. A segment
/// whose stored rule no longer parses is skipped: it matches nobody rather than failing the
/// request.
pub fn memberships(segments: &[Segment], data: &CustomerData, now_us: UnixMicros) -> Vec<String> {
    let mut names: Vec<String> = segments
        .iter()
        .filter(|segment| parse_rule(&segment.rule).is_ok_and(|rule| rule.matches(data, now_us)))
        .map(|segment| segment.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cdp::model::{Customer, Event};
    use proptest::prelude::*;

    const NOW: i64 = 1_795_442_400_000_000;
    const DAY: i64 = 86_400_000_000;

    fn data(email: Option<&str>, attributes: Value, events: &[(&str, i64)]) -> CustomerData {
        CustomerData {
            customer: Customer {
                id: 1,
                tenant_id: 7,
                gcr_id: "gcr_x".to_owned(),
                email: email.map(str::to_owned),
                first_name: None,
                last_name: None,
                phone: None,
                attributes: attributes.as_object().cloned(),
                created_at: 0,
                updated_us: 0,
            },
            records: vec![],
            events: events
                .iter()
                .enumerate()
                .map(|(i, (event_type, at))| Event {
                    id: i as i64,
                    customer_id: 1,
                    source_customer_number: "C-1".to_owned(),
                    event_type: (*event_type).to_owned(),
                    subtype: None,
                    occurred_us: *at,
                    channel: "tracker".to_owned(),
                    received_at: 0,
                })
                .collect(),
        }
    }

    fn rule(value: Value) -> Rule {
        parse_rule(&value).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    fn error(value: Value) -> String {
        match parse_rule(&value) {
            Err(e) => e,
            Ok(rule) => panic!("{value} parsed as {rule:?}"),
        }
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            rule(json!({"attribute": "tier", "equals": "gold"})),
            Rule::AttributeEquals {
                attribute: "tier".to_owned(),
                equals: json!("gold")
            }
        );
        assert_eq!(
            rule(json!({"event": "checkout"})),
            Rule::Event {
                event: "checkout".to_owned(),
                at_least: 1,
                within_days: None
            }
        );
        assert_eq!(
            rule(json!({"event": "checkout", "atLeast": 2, "withinDays": 30})),
            Rule::Event {
                event: "checkout".to_owned(),
                at_least: 2,
                within_days: Some(30)
            }
        );
        assert_eq!(
            rule(json!({"emailDomain": "Example.COM"})),
            Rule::EmailDomain("example.com".to_owned())
        );
        let nested =
            json!({"all": [{"emailDomain": "a.b"}, {"any": [{"event": "x", "atLeast": 1}]}]});
        assert_eq!(rule(nested.clone()).to_json(), nested);
        let from_serde: Rule = serde_json::from_value(nested.clone()).unwrap();
        assert_eq!(serde_json::to_value(&from_serde).unwrap(), nested);
        assert!(serde_json::from_value::<Rule>(json!({"all": []})).is_err());
    }

    #[test]
    fn refuses_malformed_rules() {
        assert!(error(json!("vip")).contains("JSON object"));
        assert!(error(json!({})).contains("one of the keys"));
        assert!(error(json!({"attribute": "a", "equals": 1, "event": "x"})).contains("only one"));
        assert!(error(json!({"attribute": "a", "equal": 1})).contains("unknown key \"equal\""));
        assert!(error(json!({"attribute": "a"})).contains("\"equals\" is required"));
        assert!(error(json!({"attribute": "", "equals": 1})).contains("non-empty"));
        assert!(error(json!({"event": "x", "atLeast": 0})).contains("atLeast"));
        assert!(error(json!({"event": "x", "atLeast": 1.5})).contains("atLeast"));
        assert!(error(json!({"event": "x", "atLeast": -1})).contains("atLeast"));
        assert!(error(json!({"event": "x", "withinDays": 0})).contains("withinDays"));
        assert!(error(json!({"event": 3})).contains("\"event\""));
        assert!(error(json!({"emailDomain": "@a.b"})).contains("without @"));
        assert!(error(json!({"all": []})).contains("at least one"));
        assert!(error(json!({"any": {"event": "x"}})).contains("list of rules"));
        assert_eq!(
            error(json!({"all": [{"event": "x"}, {"any": [{"emailDomain": 1}]}]})),
            "all[1].any[0]: \"emailDomain\" must be a non-empty string"
        );
    }

    fn nest(depth: usize) -> Value {
        let mut value = json!({"event": "x"});
        for _ in 1..depth {
            value = json!({"all": [value]});
        }
        value
    }

    #[test]
    fn bounds_nesting() {
        assert!(parse_rule(&nest(MAX_DEPTH)).is_ok());
        assert!(error(nest(MAX_DEPTH + 1)).contains("at most 8 levels"));
        assert!(parse_rule(&nest(200)).is_err());
    }

    #[test]
    fn matches_attributes() {
        let d = data(
            None,
            json!({"tier": "gold", "level": 2, "tags": [1, "a"], "none": null}),
            &[],
        );
        assert!(rule(json!({"attribute": "tier", "equals": "gold"})).matches(&d, NOW));
        assert!(!rule(json!({"attribute": "tier", "equals": "Gold"})).matches(&d, NOW));
        assert!(rule(json!({"attribute": "level", "equals": 2.0})).matches(&d, NOW));
        assert!(rule(json!({"attribute": "tags", "equals": [1.0, "a"]})).matches(&d, NOW));
        assert!(rule(json!({"attribute": "none", "equals": null})).matches(&d, NOW));
        assert!(!rule(json!({"attribute": "missing", "equals": null})).matches(&d, NOW));
        let bare = data(None, Value::Null, &[]);
        assert!(!rule(json!({"attribute": "tier", "equals": "gold"})).matches(&bare, NOW));
    }

    #[test]
    fn counts_events_in_the_window() {
        let d = data(
            None,
            Value::Null,
            &[
                ("checkout", NOW - 40 * DAY),
                ("checkout", NOW - 30 * DAY),
                ("checkout", NOW - DAY),
                ("checkout", NOW + DAY),
                ("emailOpen", NOW),
            ],
        );
        assert!(rule(json!({"event": "checkout"})).matches(&d, NOW));
        assert!(rule(json!({"event": "checkout", "atLeast": 4})).matches(&d, NOW));
        assert!(!rule(json!({"event": "checkout", "atLeast": 5})).matches(&d, NOW));
        assert!(
            rule(json!({"event": "checkout", "atLeast": 3, "withinDays": 30})).matches(&d, NOW)
        );
        assert!(
            !rule(json!({"event": "checkout", "atLeast": 4, "withinDays": 30})).matches(&d, NOW)
        );
        assert!(!rule(json!({"event": "emailClick"})).matches(&d, NOW));
        let huge = json!({"event": "checkout", "atLeast": 4, "withinDays": u64::MAX});
        assert!(rule(huge).matches(&d, i64::MIN));
    }

    #[test]
    fn matches_email_domains() {
        let d = data(Some("ann@Example.com"), Value::Null, &[]);
        assert!(rule(json!({"emailDomain": "example.com"})).matches(&d, NOW));
        assert!(rule(json!({"emailDomain": "EXAMPLE.com"})).matches(&d, NOW));
        assert!(!rule(json!({"emailDomain": "ample.com"})).matches(&d, NOW));
        assert!(
            !rule(json!({"emailDomain": "example.com"}))
                .matches(&data(None, Value::Null, &[]), NOW)
        );
        assert!(
            !rule(json!({"emailDomain": "example.com"}))
                .matches(&data(Some("example.com"), Value::Null, &[]), NOW)
        );
    }

    #[test]
    fn combines_rules() {
        let d = data(
            Some("a@x.org"),
            json!({"tier": "gold"}),
            &[("checkout", NOW)],
        );
        let gold = json!({"attribute": "tier", "equals": "gold"});
        let other = json!({"emailDomain": "y.org"});
        assert!(rule(json!({"all": [gold, {"event": "checkout"}]})).matches(&d, NOW));
        assert!(!rule(json!({"all": [gold, other]})).matches(&d, NOW));
        assert!(rule(json!({"any": [other, gold]})).matches(&d, NOW));
        assert!(!rule(json!({"any": [other]})).matches(&d, NOW));
    }

    #[test]
    fn lists_memberships_sorted() {
        let segment = |name: &str, rule: Value| Segment {
            name: name.to_owned(),
            rule,
            created_at: 0,
        };
        let segments = vec![
            segment("vip", json!({"attribute": "tier", "equals": "gold"})),
            segment("buyers", json!({"event": "checkout"})),
            segment("broken", json!({"attribute": "tier"})),
            segment("others", json!({"emailDomain": "y.org"})),
        ];
        let d = data(
            Some("a@x.org"),
            json!({"tier": "gold"}),
            &[("checkout", NOW)],
        );
        assert_eq!(memberships(&segments, &d, NOW), vec!["buyers", "vip"]);
        assert!(memberships(&[], &d, NOW).is_empty());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("attribute".to_owned()),
            Just("equals".to_owned()),
            Just("event".to_owned()),
            Just("atLeast".to_owned()),
            Just("withinDays".to_owned()),
            Just("emailDomain".to_owned()),
            Just("all".to_owned()),
            Just("any".to_owned()),
            "[a-z]{1,4}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z@.]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(12, 64, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(value in json_value()) {
            if let Ok(rule) = parse_rule(&value) {
                prop_assert_eq!(parse_rule(&rule.to_json()), Ok(rule.clone()));
                let d = data(Some("a@b.c"), json!({"a": 1}), &[("x", NOW)]);
                let _ = rule.matches(&d, NOW);
            }
        }
    }
}
