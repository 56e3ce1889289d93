//! What each endpoint's body may be. Handlers read their bodies as bytes and parse them
//! themselves (the vendors' clients often send no `Content-Type`, or a JSON header with an
//! empty body), so a declared type is checked here: one the endpoint cannot read is a
//! `415 unsupported_media_type` that says what to send, instead of a parse error that
//! names the wrong thing.

use axum::http::{HeaderMap, StatusCode, header};

use super::error::{ApiError, ErrorCode};

/// The kind of body an endpoint reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `application/x-www-form-urlencoded` (the OAuth endpoints, RFC 6749 §4.4.2).
    Form,
    /// A JSON document (`application/json` or any `+json` type).
    Json,
    /// Records for a push: JSON, NDJSON, or `text/plain` (what `navigator.sendBeacon` sends
    /// for a string, which spares the browser a CORS preflight).
    Records,
}

impl Reads {
    fn accepts(self, media: &mime::Mime) -> bool {
        let json = media.subtype() == mime::JSON || media.suffix() == Some(mime::JSON);
        match self {
            Reads::Form => {
                media.type_() == mime::APPLICATION && media.subtype() == mime::WWW_FORM_URLENCODED
            }
            Reads::Json => media.type_() == mime::APPLICATION && json,
            Reads::Records => {
                (media.type_() == mime::APPLICATION
                    && (json || matches!(media.subtype().as_str(), "x-ndjson" | "jsonl")))
                    || (media.type_() == mime::TEXT && media.subtype() == mime::PLAIN)
            }
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Reads::Form => {
                "The body must be form-encoded: send Content-Type: application/x-www-form-urlencoded with name=value pairs, as OAuth 2.0 requires."
            }
            Reads::Json => "The body must be JSON: send Content-Type: application/json.",
            Reads::Records => {
                "The body must be records as JSON or NDJSON: send Content-Type: application/json or application/x-ndjson."
            }
        }
    }
}

/// Refuses a non-empty body whose declared `Content-Type` the endpoint cannot read. A body
/// with no `Content-Type` is read as the endpoint's kind, and an empty body has nothing to
/// read, so neither is refused here.
pub fn require_readable(headers: &HeaderMap, body: &[u8], reads: Reads) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let mut declared = headers.get_all(header::CONTENT_TYPE).iter();
    let Some(value) = declared.next() else {
        return Ok(());
    };
    if declared.next().is_some() {
        return Err(ApiError::invalid_request(
            "Send the Content-Type header once.",
        ));
    }
    let readable = value
        .to_str()
        .ok()
        .and_then(|text| text.parse::<mime::Mime>().ok())
        .is_some_and(|media| reads.accepts(&media));
    if readable {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            reads.expected(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn check(content_type: Option<&str>, body: &str, reads: Reads) -> Option<StatusCode> {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        require_readable(&headers, body.as_bytes(), reads)
            .err()
            .map(|e| e.status)
    }

    #[test]
    fn a_declared_type_the_endpoint_cannot_read_is_415() {
        let unsupported = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            check(Some("application/json"), "{}", Reads::Form),
            unsupported
        );
        assert_eq!(check(Some("text/xml"), "<a/>", Reads::Json), unsupported);
        assert_eq!(
            check(
                Some("application/x-www-form-urlencoded"),
                "a=b",
                Reads::Json
            ),
            unsupported
        );
        assert_eq!(
            check(
                Some("multipart/form-data; boundary=x"),
                "--x",
                Reads::Records
            ),
            unsupported
        );
        assert_eq!(check(Some("not a type"), "{}", Reads::Json), unsupported);
    }

    #[test]
    fn readable_absent_or_empty_bodies_pass() {
        assert_eq!(
            check(
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                "a=b",
                Reads::Form
            ),
            None
        );
        assert_eq!(
            check(Some("Application/JSON; charset=utf-8"), "{}", Reads::Json),
            None
        );
        assert_eq!(check(Some("application/hal+json"), "{}", Reads::Json), None);
        assert_eq!(
            check(Some("application/x-ndjson"), "{}", Reads::Records),
            None
        );
        assert_eq!(
            check(Some("text/plain;charset=UTF-8"), "{}", Reads::Records),
            None
        );
        assert_eq!(check(None, "{}", Reads::Form), None);
        assert_eq!(
            check(Some("application/x-www-form-urlencoded"), "", Reads::Json),
            None
        );
    }
}
