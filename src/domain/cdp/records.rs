//! Parsing and validating push bodies (`POST /v2/{tenantId}/dw/tracker`) and the WebTag
//! query form (`GET` of the same path) into [`IncomingRecord`]s.
//!
//! A push is all or nothing: every record is checked before anything is stored, and every
//! problem found is reported (up to [`MAX_ERRORS`]) so that a sender can fix a whole batch
//! in one round trip instead of discovering its mistakes one at a time.

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{Channel, IncomingEvent, IncomingRecord};
use super::profile::parse_rfc3339_micros;
use crate::domain::json::{self, JsonError};

/// Most errors one rejection reports; beyond this a sender learns nothing new and the
/// response would only grow.
pub const MAX_ERRORS: usize = 100;

/// Longest string value accepted, in characters (after trimming). Keeps one record from
/// filling the database with a single field.
pub const MAX_STRING_CHARS: usize = 1024;

/// Largest `Attributes` object accepted, in bytes of compact JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// Longest unknown key name echoed back in an error, in characters: the key comes from the
/// sender and could be arbitrarily long.
const MAX_ECHOED_KEY_CHARS: usize = 64;

/// The message for a string field that is empty or only whitespace.
pub const EMPTY_STRING_MESSAGE: &str =
    "must not be an empty string; send null or omit it to clear the field";

/// `SourceCustomerNumber`: the customer's id in the source system (required).
pub const SOURCE_CUSTOMER_NUMBER: &str = "SourceCustomerNumber";
/// `Email`.
pub const EMAIL: &str = "Email";
/// `FirstName`.
pub const FIRST_NAME: &str = "FirstName";
/// `LastName`.
pub const LAST_NAME: &str = "LastName";
/// `Phone`.
pub const PHONE: &str = "Phone";
/// `Attributes`.
pub const ATTRIBUTES: &str = "Attributes";
/// `Type`: the event's type.
pub const TYPE: &str = "Type";
/// `Subtype`: the event's subtype.
pub const SUBTYPE: &str = "Subtype";
/// `EventTimeStamp`: when the event happened (RFC 3339).
pub const EVENT_TIME_STAMP: &str = "EventTimeStamp";

/// Every key a record may carry, in the order error messages list them.
pub const RECORD_KEYS: [&str; 9] = [
    SOURCE_CUSTOMER_NUMBER,
    EMAIL,
    FIRST_NAME,
    LAST_NAME,
    PHONE,
    ATTRIBUTES,
    TYPE,
    SUBTYPE,
    EVENT_TIME_STAMP,
];

/// The keys WebTag keys may not send: browsers are untrusted, so they may add events to a
/// customer but never change who the customer is.
const PROFILE_KEYS: [&str; 5] = [EMAIL, FIRST_NAME, LAST_NAME, PHONE, ATTRIBUTES];

/// Query parameters of the WebTag `GET` form that address the endpoint rather than the
/// record, and so are not record fields.
const QUERY_TRANSPORT_KEYS: [&str; 2] = ["scheme", "accessKey"];

/// One problem with a push, as listed in the 400 response's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// 0-based index of the record, or `None` when the problem is with the body as a whole
    /// (not UTF-8, not JSON, empty, too many records) or with the single GET record.
    pub record: Option<usize>,
    /// The record key at fault, if one is.
    pub field: Option<String>,
    /// What is wrong, as a sentence fragment a person can act on.
    pub message: String,
}

impl RecordError {
    fn body(message: impl Into<String>) -> Self {
        RecordError {
            record: None,
            field: None,
            message: message.into(),
        }
    }
}

/// Why a push was refused: every problem found, capped at [`MAX_ERRORS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct PushRejected {
    /// The problems, in body order. Never empty.
    pub errors: Vec<RecordError>,
}

impl PushRejected {
    fn single(error: RecordError) -> Self {
        PushRejected {
            errors: vec![error],
        }
    }

    /// One sentence for `error_description`: the first problem, e.g. `record 3: field Email:
    /// must not be an empty string; send null or omit it to clear the field`, followed by
    /// `(and N more)` when there are others.
    pub fn summary(&self) -> String {
        let Some(first) = self.errors.first() else {
            return "the push was rejected".to_owned();
        };
        let mut text = String::new();
        if let Some(record) = first.record {
            text.push_str(&format!("record {record}: "));
        }
        if let Some(field) = &first.field {
            text.push_str(&format!("field {field}: "));
        }
        text.push_str(&first.message);
        let more = self.errors.len() - 1;
        if more > 0 {
            text.push_str(&format!(" (and {more} more)"));
        }
        text
    }
}

/// Collects errors up to [`MAX_ERRORS`].
#[derive(Default)]
struct Errors {
    list: Vec<RecordError>,
}

impl Errors {
    fn push(&mut self, record: Option<usize>, field: Option<&str>, message: impl Into<String>) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(RecordError {
                record,
                field: field.map(str::to_owned),
                message: message.into(),
            });
        }
    }

    fn is_full(&self) -> bool {
        self.list.len() >= MAX_ERRORS
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

/// Normalises an email address for matching customers: trimmed and lowercased, so that
/// `Ann@Example.com ` and `ann@example.com` are the same person.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Parses and validates a push body into records.
///
/// The body's shape decides the format, whatever the `Content-Type`: a first non-whitespace
/// byte `[` means a JSON array of records; otherwise a body that is one JSON value is a
/// single record, and a body of several lines is NDJSON (one object per line, blank lines
/// ignored). A body that is not UTF-8 or not JSON, is empty, or holds more than
/// `max_records` records is refused as a whole (`record: None`); otherwise every record is
/// validated and all problems are reported together.
pub fn parse_push_body(
    body: &[u8],
    channel: Channel,
    max_records: usize,
) -> Result<Vec<IncomingRecord>, PushRejected> {
    let text = std::str::from_utf8(body)
        .map_err(|_| PushRejected::single(RecordError::body("the body is not UTF-8 text")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(PushRejected::single(RecordError::body(
            "the body is empty; send a JSON array of records, one JSON object, or NDJSON",
        )));
    }
    let values = if trimmed.starts_with('[') {
        match json::value_from_str(trimmed) {
            Ok(Value::Array(values)) => values,
            Ok(_) => unreachable_shape()?,
            Err(e @ JsonError::DuplicateKey { .. }) => return Err(duplicate_key(&e)),
            Err(e) => {
                return Err(PushRejected::single(RecordError::body(format!(
                    "the body is not valid JSON: {e}"
                ))));
            }
        }
    } else {
        match json::value_from_str(trimmed) {
            Ok(value @ Value::Object(_)) => vec![value],
            // One JSON value, read to its end but for the duplicate: not NDJSON.
            Err(e @ JsonError::DuplicateKey { .. }) if !is_ndjson(trimmed) => {
                return Err(duplicate_key(&e));
            }
            Ok(_) => {
                return Err(PushRejected::single(RecordError::body(
                    "the body must be a JSON array of records, one JSON object, or NDJSON \
                     (one object per line)",
                )));
            }
            Err(e) => parse_ndjson(trimmed, max_records, &e)?,
        }
    };
    if values.is_empty() {
        return Err(PushRejected::single(RecordError::body(
            "the body holds no records; send at least one",
        )));
    }
    check_count(values.len(), max_records)?;
    let mut errors = Errors::default();
    let mut records = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        if errors.is_full() {
            break;
        }
        if let Some(record) = validate_record(value, Some(index), channel, &mut errors) {
            records.push(record);
        }
    }
    if errors.len() > 0 {
        return Err(PushRejected {
            errors: errors.list,
        });
    }
    Ok(records)
}

/// A body whose one JSON value has an object naming a key twice.
fn duplicate_key(error: &JsonError) -> PushRejected {
    PushRejected::single(RecordError::body(format!(
        "the body has a duplicate key: {error}"
    )))
}

/// Whether a body that is not one JSON value is meant as NDJSON: several non-blank lines,
/// each of them starting an object.
fn is_ndjson(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    lines.clone().count() > 1 && lines.all(|line| line.starts_with('{') && line.ends_with('}'))
}

/// A JSON text starting with `[` is always an array; kept as an error rather than a panic.
fn unreachable_shape() -> Result<Vec<Value>, PushRejected> {
    Err(PushRejected::single(RecordError::body(
        "the body must be a JSON array of records, one JSON object, or NDJSON",
    )))
}

/// Refuses pushes of more than `max_records` records.
fn check_count(count: usize, max_records: usize) -> Result<(), PushRejected> {
    if count > max_records {
        return Err(PushRejected::single(RecordError::body(format!(
            "too many records: {count}; at most {max_records} per push"
        ))));
    }
    Ok(())
}

/// Splits an NDJSON body (already known not to be one JSON value) into values. A body of a
/// single line is simply not JSON, and is reported with `whole_error`.
fn parse_ndjson(
    text: &str,
    max_records: usize,
    whole_error: &JsonError,
) -> Result<Vec<Value>, PushRejected> {
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    if lines.len() < 2 {
        return Err(PushRejected::single(RecordError::body(format!(
            "the body is not valid JSON: {whole_error}"
        ))));
    }
    check_count(lines.len(), max_records)?;
    let mut errors = Errors::default();
    let mut values = Vec::with_capacity(lines.len());
    for (line_number, line) in lines {
        match json::value_from_str(line) {
            Ok(value) => values.push(value),
            Err(e @ JsonError::DuplicateKey { .. }) => errors.push(
                None,
                None,
                format!("line {line_number} of the NDJSON body has a duplicate key: {e}"),
            ),
            Err(e) => errors.push(
                None,
                None,
                format!("line {line_number} of the NDJSON body is not valid JSON: {e}"),
            ),
        }
        if errors.is_full() {
            break;
        }
    }
    if errors.len() > 0 {
        return Err(PushRejected {
            errors: errors.list,
        });
    }
    Ok(values)
}

/// The sender's key name, shortened if it is unreasonably long.
fn echoed_key(key: &str) -> String {
    if key.chars().count() <= MAX_ECHOED_KEY_CHARS {
        key.to_owned()
    } else {
        let mut short: String = key.chars().take(MAX_ECHOED_KEY_CHARS).collect();
        short.push('…');
        short
    }
}

/// Trims a string value and checks it is non-empty and not too long.
fn checked_string(
    text: &str,
    index: Option<usize>,
    field: &str,
    empty_message: &str,
    errors: &mut Errors,
) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        errors.push(index, Some(field), empty_message);
        return None;
    }
    if trimmed.chars().count() > MAX_STRING_CHARS {
        errors.push(
            index,
            Some(field),
            format!("must be at most {MAX_STRING_CHARS} characters"),
        );
        return None;
    }
    // No database stores a NUL in text (PostgreSQL refuses it), and no real value holds one.
    if trimmed.contains('\0') {
        errors.push(index, Some(field), "must not contain a NUL character");
        return None;
    }
    Some(trimmed.to_owned())
}

/// The outcome of reading one optional field.
enum Field<T> {
    /// Key absent.
    Absent,
    /// Key present with `null`.
    Null,
    /// Key present with a valid value.
    Value(T),
    /// Key present but wrong; the error is already recorded.
    Invalid,
}

impl<T> Field<T> {
    fn into_option(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Whether the key was sent with something other than `null`.
    fn is_given(&self) -> bool {
        matches!(self, Field::Value(_) | Field::Invalid)
    }
}

/// Reads a field that may be a string or `null`.
fn nullable_string(
    object: &Map<String, Value>,
    key: &str,
    index: Option<usize>,
    errors: &mut Errors,
) -> Field<String> {
    match object.get(key) {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::String(s)) => match checked_string(s, index, key, EMPTY_STRING_MESSAGE, errors)
        {
            Some(s) => Field::Value(s),
            None => Field::Invalid,
        },
        Some(_) => {
            errors.push(index, Some(key), "must be a string or null");
            Field::Invalid
        }
    }
}

/// Reads a field that, when present, must be a string (`null` is refused).
fn strict_string(
    object: &Map<String, Value>,
    key: &str,
    index: Option<usize>,
    errors: &mut Errors,
) -> Field<String> {
    match object.get(key) {
        None => Field::Absent,
        Some(Value::String(s)) => match checked_string(s, index, key, EMPTY_STRING_MESSAGE, errors)
        {
            Some(s) => Field::Value(s),
            None => Field::Invalid,
        },
        Some(_) => {
            errors.push(
                index,
                Some(key),
                "must be a string; omit it if there is none",
            );
            Field::Invalid
        }
    }
}

/// Validates one record. Errors go to `errors`; `None` when the record is invalid.
fn validate_record(
    value: &Value,
    index: Option<usize>,
    channel: Channel,
    errors: &mut Errors,
) -> Option<IncomingRecord> {
    let Value::Object(object) = value else {
        errors.push(index, None, "a record must be a JSON object");
        return None;
    };
    let before = errors.len();

    for key in object.keys() {
        if !RECORD_KEYS.contains(&key.as_str()) {
            errors.push(
                index,
                Some(&echoed_key(key)),
                format!("unknown key; a record may have {}", RECORD_KEYS.join(", ")),
            );
        }
    }

    let source_customer_number = match object.get(SOURCE_CUSTOMER_NUMBER) {
        None | Some(Value::Null) => {
            errors.push(index, Some(SOURCE_CUSTOMER_NUMBER), "is required");
            None
        }
        Some(Value::String(s)) => checked_string(
            s,
            index,
            SOURCE_CUSTOMER_NUMBER,
            "must not be an empty string; it is required",
            errors,
        ),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(_) => {
            errors.push(
                index,
                Some(SOURCE_CUSTOMER_NUMBER),
                "must be a string or an integer",
            );
            None
        }
    };

    if channel == Channel::WebTag {
        for key in PROFILE_KEYS {
            if object.contains_key(key) {
                errors.push(
                    index,
                    Some(key),
                    "not allowed: WebTag keys send events only \
                     (SourceCustomerNumber, Type, Subtype, EventTimeStamp)",
                );
            }
        }
    }
    let profile_string = |key: &str, errors: &mut Errors| match channel {
        Channel::Tracker => nullable_string(object, key, index, errors).into_option(),
        Channel::WebTag => None,
    };
    let email = profile_string(EMAIL, errors);
    let first_name = profile_string(FIRST_NAME, errors);
    let last_name = profile_string(LAST_NAME, errors);
    let phone = profile_string(PHONE, errors);
    let attributes = match (channel, object.get(ATTRIBUTES)) {
        (Channel::WebTag, _) | (_, None | Some(Value::Null)) => None,
        (_, Some(Value::Object(map))) => {
            let size = serde_json::to_vec(map).map_or(usize::MAX, |bytes| bytes.len());
            if size > MAX_ATTRIBUTES_BYTES {
                errors.push(
                    index,
                    Some(ATTRIBUTES),
                    format!("must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"),
                );
                None
            } else {
                Some(map.clone())
            }
        }
        (_, Some(_)) => {
            errors.push(index, Some(ATTRIBUTES), "must be a JSON object or null");
            None
        }
    };

    let event_type = strict_string(object, TYPE, index, errors);
    let subtype = nullable_string(object, SUBTYPE, index, errors);
    let stamp = match strict_string(object, EVENT_TIME_STAMP, index, errors) {
        Field::Value(text) => match parse_rfc3339_micros(&text) {
            Some(us) => Field::Value(us),
            None => {
                errors.push(
                    index,
                    Some(EVENT_TIME_STAMP),
                    "must be an RFC 3339 timestamp such as 2026-11-23T14:00:00Z",
                );
                Field::Invalid
            }
        },
        Field::Absent => Field::Absent,
        Field::Null => Field::Null,
        Field::Invalid => Field::Invalid,
    };
    if event_type.is_given() {
        // Only a valid Type asks for a timestamp: after a wrong one, which the sender must
        // fix anyway, a second error about the same event is noise.
        if matches!(event_type, Field::Value(_)) && matches!(stamp, Field::Absent) {
            errors.push(
                index,
                Some(EVENT_TIME_STAMP),
                "is required when Type is given",
            );
        }
    } else {
        if channel == Channel::WebTag {
            errors.push(
                index,
                Some(TYPE),
                "is required: WebTag keys send events only",
            );
        }
        if stamp.is_given() {
            errors.push(
                index,
                Some(EVENT_TIME_STAMP),
                "is only allowed together with Type",
            );
        }
        if subtype.is_given() {
            errors.push(index, Some(SUBTYPE), "is only allowed together with Type");
        }
    }

    if errors.len() > before {
        return None;
    }
    let event = match (event_type, stamp) {
        (Field::Value(event_type), Field::Value(occurred_us)) => Some(IncomingEvent {
            event_type,
            subtype: subtype.into_option(),
            occurred_us,
        }),
        _ => None,
    };
    Some(IncomingRecord {
        source_customer_number: source_customer_number?,
        email,
        first_name,
        last_name,
        phone,
        attributes,
        event,
    })
}

/// Builds the one record of a WebTag `GET` from its query parameters.
///
/// The parameters are the record's keys (`SourceCustomerNumber`, `Type`, `Subtype`,
/// `EventTimeStamp`), all strings; `scheme` and `accessKey` address the endpoint and are
/// ignored; any other parameter, or one given twice, is an error. WebTag rules apply, so
/// `Type` and `EventTimeStamp` are required. Errors carry `record: None`.
pub fn record_from_query(pairs: &[(String, String)]) -> Result<IncomingRecord, PushRejected> {
    let mut errors = Errors::default();
    let mut object = Map::new();
    for (key, value) in pairs {
        if QUERY_TRANSPORT_KEYS.contains(&key.as_str()) {
            continue;
        }
        if !RECORD_KEYS.contains(&key.as_str()) {
            errors.push(
                None,
                Some(&echoed_key(key)),
                "unknown query parameter; a WebTag event may have SourceCustomerNumber, \
                 Type, Subtype, EventTimeStamp",
            );
            continue;
        }
        if object
            .insert(key.clone(), Value::String(value.clone()))
            .is_some()
        {
            errors.push(None, Some(key), "must be given only once");
        }
    }
    let record = validate_record(&Value::Object(object), None, Channel::WebTag, &mut errors);
    match record {
        Some(record) if errors.len() == 0 => Ok(record),
        _ => Err(PushRejected {
            errors: errors.list,
        }),
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn a_nul_character_in_any_string_field_is_refused() {
        for field in ["SourceCustomerNumber", "Email", "FirstName", "Type"] {
            let mut record = serde_json::json!({
                "SourceCustomerNumber": "C-1",
                "Type": "emailOpen",
                "EventTimeStamp": "2026-11-20T10:00:00Z",
            });
            record[field] = serde_json::Value::String("a\u{0}b".into());
            let body = serde_json::to_vec(&record).unwrap();
            let refused = parse_push_body(&body, Channel::Tracker, 10).unwrap_err();
            assert_eq!(
                refused.errors[0].field.as_deref(),
                Some(field),
                "{refused:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// 2026-11-23T14:00:00Z in microseconds.
    const T0_US: i64 = 1_795_442_400_000_000;

    fn push(body: &str) -> Result<Vec<IncomingRecord>, PushRejected> {
        parse_push_body(body.as_bytes(), Channel::Tracker, 10_000)
    }

    fn rejected(body: &str) -> PushRejected {
        match push(body) {
            Err(e) => e,
            Ok(records) => panic!("accepted {records:?}"),
        }
    }

    fn webtag(body: &str) -> Result<Vec<IncomingRecord>, PushRejected> {
        parse_push_body(body.as_bytes(), Channel::WebTag, 10_000)
    }

    fn only(number: &str) -> IncomingRecord {
        IncomingRecord {
            source_customer_number: number.to_owned(),
            email: None,
            first_name: None,
            last_name: None,
            phone: None,
            attributes: None,
            event: None,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_a_full_record() {
        let records = push(
            r#"{"SourceCustomerNumber":" C-1 ","Email":"Ann@Example.com ","FirstName":"Ann",
                "LastName":null,"Phone":"+49 1","Attributes":{"tier":"gold"},
                "Type":"emailOpen","Subtype":"spring","EventTimeStamp":"2026-11-23T14:00:00.5Z"}"#,
        )
        .unwrap();
        let mut attributes = Map::new();
        attributes.insert("tier".to_owned(), json!("gold"));
        assert_eq!(
            records,
            vec![IncomingRecord {
                source_customer_number: "C-1".to_owned(),
                email: Some("Ann@Example.com".to_owned()),
                first_name: Some("Ann".to_owned()),
                last_name: None,
                phone: Some("+49 1".to_owned()),
                attributes: Some(attributes),
                event: Some(IncomingEvent {
                    event_type: "emailOpen".to_owned(),
                    subtype: Some("spring".to_owned()),
                    occurred_us: T0_US + 500_000,
                }),
            }]
        );
    }

    #[test]
    fn accepts_every_body_shape() {
        let expected = vec![only("1"), only("2")];
        assert_eq!(
            push(r#"  [{"SourceCustomerNumber":"1"}, {"SourceCustomerNumber":2}]"#).unwrap(),
            expected
        );
        assert_eq!(
            push("{\"SourceCustomerNumber\":\"1\"}\n\n  \r\n{\"SourceCustomerNumber\":\"2\"}\r\n")
                .unwrap(),
            expected
        );
        assert_eq!(
            push("\u{feff}{\n  \"SourceCustomerNumber\": \"1\"\n}\n").unwrap(),
            vec![only("1")]
        );
        assert_eq!(
            push(r#"{"SourceCustomerNumber":18446744073709551615}"#).unwrap(),
            vec![only("18446744073709551615")]
        );
        assert_eq!(
            push(r#"{"SourceCustomerNumber":-5}"#).unwrap(),
            vec![only("-5")]
        );
    }

    #[test]
    fn refuses_bad_bodies_as_a_whole() {
        for body in [
            "", "  \n ", "[]", "nope", "[{]", "5", "\"x\"", "null", "{} {}",
        ] {
            let e = rejected(body);
            assert_eq!(e.errors.len(), 1, "{body}");
            assert_eq!(e.errors[0].record, None, "{body}");
            assert_eq!(e.errors[0].field, None, "{body}");
        }
        let e = parse_push_body(&[0xff, 0xfe], Channel::Tracker, 10).unwrap_err();
        assert_eq!(e.errors[0].message, "the body is not UTF-8 text");
        let e = rejected("{\"SourceCustomerNumber\":\"1\"}\n{oops\n{\"a\":}");
        assert_eq!(e.errors.len(), 2);
        assert!(e.errors[0].message.starts_with("line 2 "), "{e:?}");
        assert!(e.errors[1].message.starts_with("line 3 "), "{e:?}");
    }

    #[test]
    fn limits_the_number_of_records() {
        let body = r#"[{"SourceCustomerNumber":"1"},{"SourceCustomerNumber":"2"},{"SourceCustomerNumber":"3"}]"#;
        assert_eq!(
            parse_push_body(body.as_bytes(), Channel::Tracker, 3)
                .unwrap()
                .len(),
            3
        );
        let e = parse_push_body(body.as_bytes(), Channel::Tracker, 2).unwrap_err();
        assert_eq!(e.summary(), "too many records: 3; at most 2 per push");
        let ndjson = "{}\n{}\n{}";
        let e = parse_push_body(ndjson.as_bytes(), Channel::Tracker, 2).unwrap_err();
        assert_eq!(e.errors[0].record, None);
    }

    #[test]
    fn reports_every_error_with_its_record() {
        let e = rejected(
            r#"[{"SourceCustomerNumber":"1"},
                {"SourceCustomerNumber":"2","Email":"  "},
                5,
                {"Email":null,"Colour":"red","Phone":7}]"#,
        );
        let list: Vec<(Option<usize>, Option<&str>)> = e
            .errors
            .iter()
            .map(|e| (e.record, e.field.as_deref()))
            .collect();
        assert_eq!(
            list,
            vec![
                (Some(1), Some("Email")),
                (Some(2), None),
                (Some(3), Some("Colour")),
                (Some(3), Some("SourceCustomerNumber")),
                (Some(3), Some("Phone")),
            ]
        );
        assert_eq!(
            e.summary(),
            "record 1: field Email: must not be an empty string; send null or omit it to \
             clear the field (and 4 more)"
        );
        assert_eq!(
            serde_json::to_value(&e.errors[0]).unwrap(),
            json!({"record": 1, "field": "Email",
                   "message": "must not be an empty string; send null or omit it to clear the field"})
        );
        assert_eq!(e.to_string(), e.summary());
    }

    #[test]
    fn caps_the_error_list() {
        let body = format!("[{}]", vec!["{}"; 500].join(","));
        let e = rejected(&body);
        assert_eq!(e.errors.len(), MAX_ERRORS);
        assert!(e.summary().ends_with("(and 99 more)"));
    }

    #[test]
    fn checks_types_and_sizes() {
        let cases = [
            (r#"{"SourceCustomerNumber":1.5}"#, "SourceCustomerNumber"),
            (r#"{"SourceCustomerNumber":true}"#, "SourceCustomerNumber"),
            (
                r#"{"SourceCustomerNumber":"1","FirstName":["a"]}"#,
                "FirstName",
            ),
            (
                r#"{"SourceCustomerNumber":"1","Attributes":[]}"#,
                "Attributes",
            ),
            (
                r#"{"SourceCustomerNumber":"1","Attributes":"x"}"#,
                "Attributes",
            ),
            (r#"{"SourceCustomerNumber":"1","Type":null}"#, "Type"),
            (
                r#"{"SourceCustomerNumber":"1","Type":3,"EventTimeStamp":"2026-11-23T14:00:00Z"}"#,
                "Type",
            ),
            (
                r#"{"SourceCustomerNumber":"1","Type":"a"}"#,
                "EventTimeStamp",
            ),
            (
                r#"{"SourceCustomerNumber":"1","Type":"a","EventTimeStamp":"yesterday"}"#,
                "EventTimeStamp",
            ),
            (
                r#"{"SourceCustomerNumber":"1","Type":"a","EventTimeStamp":null}"#,
                "EventTimeStamp",
            ),
            (
                r#"{"SourceCustomerNumber":"1","EventTimeStamp":"2026-11-23T14:00:00Z"}"#,
                "EventTimeStamp",
            ),
            (r#"{"SourceCustomerNumber":"1","Subtype":"x"}"#, "Subtype"),
            (
                r#"{"SourceCustomerNumber":"1","Type":"a","Subtype":1,"EventTimeStamp":"2026-11-23T14:00:00Z"}"#,
                "Subtype",
            ),
        ];
        for (body, field) in cases {
            let e = rejected(body);
            assert_eq!(e.errors.len(), 1, "{body}: {e:?}");
            assert_eq!(e.errors[0].field.as_deref(), Some(field), "{body}");
            assert_eq!(e.errors[0].record, Some(0), "{body}");
        }
        let long = "x".repeat(MAX_STRING_CHARS);
        let ok = json!({"SourceCustomerNumber": long}).to_string();
        assert!(push(&ok).is_ok());
        let too_long = json!({"SourceCustomerNumber": "1", "LastName": format!("{long}é")});
        assert_eq!(
            rejected(&too_long.to_string()).errors[0].field.as_deref(),
            Some("LastName")
        );
        let big = json!({"SourceCustomerNumber": "1",
                         "Attributes": {"k": "y".repeat(MAX_ATTRIBUTES_BYTES)}});
        assert_eq!(
            rejected(&big.to_string()).errors[0].field.as_deref(),
            Some("Attributes")
        );
        // A null Subtype without a Type carries nothing and is fine.
        assert!(push(r#"{"SourceCustomerNumber":"1","Subtype":null}"#).is_ok());
    }

    #[test]
    fn webtag_sends_events_only() {
        let ok = webtag(
            r#"{"SourceCustomerNumber":"1","Type":"productBrowsed","Subtype":"SKU-1",
                "EventTimeStamp":"2026-11-23T14:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(ok[0].event.as_ref().map(|e| e.occurred_us), Some(T0_US));
        let e = webtag(r#"{"SourceCustomerNumber":"1"}"#).unwrap_err();
        assert_eq!(e.errors[0].field.as_deref(), Some("Type"));
        let e = webtag(
            r#"{"SourceCustomerNumber":"1","Email":null,"Attributes":{},"Type":"a",
                "EventTimeStamp":"2026-11-23T14:00:00Z"}"#,
        )
        .unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_deref()).collect();
        assert_eq!(fields, vec![Some("Email"), Some("Attributes")]);
        assert!(e.errors[0].message.contains("WebTag keys send events only"));
    }

    #[test]
    fn reads_the_webtag_query_form() {
        let record = record_from_query(&pairs(&[
            ("scheme", "a1webtag"),
            ("accessKey", "k"),
            ("SourceCustomerNumber", "C-1"),
            ("Type", "productBrowsed"),
            ("EventTimeStamp", "2026-11-23T14:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(
            record.event,
            Some(IncomingEvent {
                event_type: "productBrowsed".to_owned(),
                subtype: None,
                occurred_us: T0_US,
            })
        );
        let e = record_from_query(&pairs(&[
            ("SourceCustomerNumber", "C-1"),
            ("Type", "a"),
            ("Type", "b"),
            ("utm", "x"),
            ("Email", "a@b"),
            ("Subtype", " "),
        ]))
        .unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_deref()).collect();
        assert_eq!(
            fields,
            vec![
                Some("Type"),
                Some("utm"),
                Some("Email"),
                Some("Subtype"),
                Some("EventTimeStamp")
            ]
        );
        assert!(e.errors.iter().all(|e| e.record.is_none()));
        assert_eq!(
            e.summary(),
            "field Type: must be given only once (and 4 more)"
        );
        assert!(record_from_query(&[]).is_err());
    }

    #[test]
    fn normalises_emails() {
        assert_eq!(normalise_email("  Ann@Example.COM "), "ann@example.com");
    }

    #[test]
    fn shortens_echoed_keys() {
        let key = "k".repeat(1000);
        let e = rejected(&json!({"SourceCustomerNumber": "1", key: 1}).to_string());
        assert_eq!(
            e.errors[0].field.as_ref().map(|f| f.chars().count()),
            Some(MAX_ECHOED_KEY_CHARS + 1)
        );
    }

    /// Strings that survive trimming unchanged and are never empty.
    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z0-9é@+.-]([A-Za-z0-9é@+. -]{0,30}[A-Za-z0-9é@+.-])?"
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    /// Any JSON value, nested a few levels.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        ".{0,6}",
                        proptest::sample::select(RECORD_KEYS.to_vec()).prop_map(str::to_owned)
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A valid record together with its JSON form.
    fn valid_record() -> impl Strategy<Value = (IncomingRecord, Value)> {
        let event = proptest::option::of((
            text(),
            opt_text(),
            -62_167_219_200_000_000i64..=253_402_300_799_999_999i64,
        ));
        let attributes = proptest::option::of(proptest::collection::btree_map(
            ".{0,6}",
            prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(|n| json!(n)),
                ".{0,6}".prop_map(Value::String)
            ],
            0..4,
        ));
        (
            text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            attributes,
            event,
        )
            .prop_map(|(number, email, first, last, phone, attributes, event)| {
                let attributes: Option<Map<String, Value>> =
                    attributes.map(|m| m.into_iter().collect());
                let mut object = Map::new();
                object.insert(SOURCE_CUSTOMER_NUMBER.to_owned(), json!(number));
                for (key, value) in [
                    (EMAIL, &email),
                    (FIRST_NAME, &first),
                    (LAST_NAME, &last),
                    (PHONE, &phone),
                ] {
                    object.insert(key.to_owned(), json!(value));
                }
                object.insert(ATTRIBUTES.to_owned(), json!(attributes));
                if let Some((event_type, subtype, us)) = &event {
                    object.insert(TYPE.to_owned(), json!(event_type));
                    object.insert(SUBTYPE.to_owned(), json!(subtype));
                    object.insert(
                        EVENT_TIME_STAMP.to_owned(),
                        json!(crate::domain::cdp::profile::event_time(*us)),
                    );
                }
                let record = IncomingRecord {
                    source_customer_number: number,
                    email,
                    first_name: first,
                    last_name: last,
                    phone,
                    attributes,
                    event: event.map(|(event_type, subtype, occurred_us)| IncomingEvent {
                        event_type,
                        subtype,
                        occurred_us,
                    }),
                };
                (record, Value::Object(object))
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_push_body(&body, Channel::Tracker, 10);
            let _ = parse_push_body(&body, Channel::WebTag, 10);
        }

        #[test]
        fn arbitrary_text_never_panics(body in "[\\[\\]{}\",:\n 0-9a-zA-Z]{0,64}") {
            let _ = parse_push_body(body.as_bytes(), Channel::Tracker, 10);
        }

        #[test]
        fn arbitrary_json_never_panics(value in json_value()) {
            let body = value.to_string();
            let _ = parse_push_body(body.as_bytes(), Channel::Tracker, 10);
            let _ = parse_push_body(body.as_bytes(), Channel::WebTag, 10);
            let wrapped = format!("[{body}]");
            if let Err(e) = parse_push_body(wrapped.as_bytes(), Channel::Tracker, 10) {
                prop_assert!(!e.errors.is_empty());
                prop_assert!(e.errors.len() <= MAX_ERRORS);
            }
        }

        #[test]
        fn valid_records_round_trip(items in proptest::collection::vec(valid_record(), 1..5)) {
            let (records, values): (Vec<_>, Vec<_>) = items.into_iter().unzip();
            let array = Value::Array(values.clone()).to_string();
            prop_assert_eq!(push(&array).unwrap(), records.clone());
            let ndjson: Vec<String> = values.iter().map(Value::to_string).collect();
            prop_assert_eq!(push(&ndjson.join("\n")).unwrap(), records.clone());
            // Surrounding whitespace is trimmed.
            let mut padded = values[0].clone();
            if let Some(Value::String(s)) = padded.get_mut(SOURCE_CUSTOMER_NUMBER) {
                *s = format!(" \t{s} ");
            }
            prop_assert_eq!(push(&padded.to_string()).unwrap(), vec![records[0].clone()]);
        }

        #[test]
        fn empty_strings_are_refused(
            (_, value) in valid_record(),
            field in proptest::sample::select(vec![
                SOURCE_CUSTOMER_NUMBER, EMAIL, FIRST_NAME, LAST_NAME, PHONE, TYPE, SUBTYPE,
                EVENT_TIME_STAMP,
            ]),
            blank in "[ \t\r\n]{0,4}",
        ) {
            let mut object = value.as_object().cloned().unwrap_or_default();
            object.insert(TYPE.to_owned(), json!("t"));
            object.insert(EVENT_TIME_STAMP.to_owned(), json!("2026-11-23T14:00:00Z"));
            object.insert(field.to_owned(), json!(blank));
            let e = push(&Value::Object(object).to_string()).unwrap_err();
            prop_assert!(
                e.errors.iter().any(|e| e.field.as_deref() == Some(field)
                    && e.record == Some(0)
                    && e.message.starts_with("must not be an empty string")),
                "{:?}", e
            );
        }
    }
}
