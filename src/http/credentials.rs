//! Parsing the `Authorization` header into Basic credentials or a Bearer token. Malformed
//! headers are a clear 400, never a panic; which kind a request needs is decided by the caller.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::connections::PeerAddress;
use super::error::{ApiError, Challenge};
use crate::domain::a1user::BasicCredentials;
use crate::domain::secrets::Secret;

/// What a request presented.
#[derive(Debug)]
pub enum Presented {
    /// No `Authorization` header.
    Missing,
    /// `Basic base64(username:password)`.
    Basic(BasicCredentials),
    /// `Bearer token`.
    Bearer(Secret),
    /// `DPoP token` (RFC 9449 §7.1): a token bound to a key, with a proof in the `DPoP`
    /// header.
    Dpop(Secret),
    /// Some other scheme (`Digest`, …).
    Other,
}

/// The address a request came from, for the failed-attempt limiter. Requests served without
/// connection info (in-process tests) have none.
#[derive(Debug, Clone, Copy)]
pub struct SourceAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(SourceAddress(
            parts
                .extensions
                .get::<ConnectInfo<PeerAddress>>()
                .map(|info| info.0.0.ip()),
        ))
    }
}

/// Reads the `Authorization` header.
pub fn presented(headers: &HeaderMap, source: SourceAddress) -> Result<Presented, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Presented::Missing);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_request(
            "Send exactly one Authorization header.",
        ));
    }
    let value = value.to_str().map_err(|_| {
        ApiError::invalid_request("The Authorization header must be printable ASCII.")
    })?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest, source).map(Presented::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(Secret::new(rest)))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Ok(Presented::Dpop(Secret::new(rest)))
    } else {
        Ok(Presented::Other)
    }
}

fn parse_basic(encoded: &str, source: SourceAddress) -> Result<BasicCredentials, ApiError> {
    let malformed = || {
        ApiError::invalid_request(
            "The Authorization header is not valid Basic credentials (base64 of username:password).",
        )
    };
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (username, password) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(BasicCredentials {
        username: username.to_owned(),
        password: Secret::new(password),
        source: source.0,
    })
}

/// RFC 6749 §2.3.1: on the OAuth endpoints, a client's id and secret are
/// `application/x-www-form-urlencoded` before they are Basic-encoded, so `tracker%5Fabc` is
/// `tracker_abc` and `+` a space. Only there: the a1user dialect's vendor clients send their
/// username and password as they are.
///
/// Malformed percent-encoding (a `%` not followed by two hex digits, or bytes that are not
/// UTF-8) answers like a wrong password, `401 invalid_client`: the header itself is well-formed
/// Basic, and what it carries simply cannot be anyone's credentials (ours are ASCII letters,
/// digits and `_`), so a strict client sees the same authentication failure, with the Basic
/// challenge, that it would for any other wrong secret, and learns nothing more.
pub fn form_decoded(credentials: BasicCredentials) -> Result<BasicCredentials, ApiError> {
    let decode = |encoded: &str| -> Option<String> {
        let bytes = encoded.as_bytes();
        let well_formed = bytes.iter().enumerate().all(|(i, b)| {
            *b != b'%'
                || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        });
        if !well_formed {
            return None;
        }
        let spaced = encoded.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|decoded| decoded.into_owned())
    };
    let refused = || ApiError::from(crate::domain::DomainError::InvalidCredentials);
    let username = decode(&credentials.username).ok_or_else(refused)?;
    let password = decode(credentials.password.expose()).ok_or_else(refused)?;
    Ok(BasicCredentials {
        username,
        password: Secret::new(password),
        source: credentials.source,
    })
}

/// The Basic credentials a request must carry; anything else is a 401 asking for them.
pub fn require_basic(
    headers: &HeaderMap,
    source: SourceAddress,
) -> Result<BasicCredentials, ApiError> {
    match presented(headers, source)? {
        Presented::Basic(credentials) => Ok(credentials),
        Presented::Missing => Err(ApiError::basic_required(
            "This request needs Basic credentials (instance username and password).",
        )),
        Presented::Bearer(_) | Presented::Dpop(_) | Presented::Other => Err(
            ApiError::basic_required("This request needs Basic credentials, not a token."),
        ),
    }
}

/// The Bearer token a request must carry; anything else is a 401 asking for one.
pub fn require_bearer(headers: &HeaderMap) -> Result<Secret, ApiError> {
    match presented(headers, SourceAddress(None))? {
        Presented::Bearer(token) => Ok(token),
        Presented::Missing => Err(ApiError::bearer_required(
            "This request needs a Bearer token.",
            Challenge::BearerMissing,
        )),
        Presented::Basic(_) | Presented::Dpop(_) | Presented::Other => {
            Err(ApiError::bearer_required(
                "This request needs a Bearer token, not a username and password.",
                Challenge::BearerInvalid,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn presented_here(headers: &HeaderMap) -> Result<Presented, ApiError> {
        presented(headers, SourceAddress(None))
    }

    fn with(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        headers
    }

    #[test]
    fn basic_is_decoded_and_split_at_the_first_colon() {
        let encoded = STANDARD.encode("tracker_abc123:pa:ss");
        let Presented::Basic(c) =
            presented_here(&with(format!("basic {encoded}").as_bytes())).unwrap()
        else {
            panic!("not basic")
        };
        assert_eq!(c.username, "tracker_abc123");
        assert_eq!(c.password.expose(), "pa:ss");
    }

    #[test]
    fn oauth_basic_credentials_are_form_decoded() {
        let presented = |user: &str, pass: &str| BasicCredentials {
            username: user.to_owned(),
            password: Secret::new(pass),
            source: None,
        };
        let decoded = form_decoded(presented("tracker%5Fab+c", "p%2Bq+r%3A")).unwrap();
        assert_eq!(decoded.username, "tracker_ab c");
        assert_eq!(decoded.password.expose(), "p+q r:");
        for (user, pass) in [("tracker%5", "x"), ("a", "%zz"), ("%ff", "x"), ("a%", "b")] {
            let err = form_decoded(presented(user, pass)).unwrap_err();
            assert_eq!(err.status, 401, "{user}:{pass}");
        }
    }

    #[test]
    fn malformed_basic_is_a_400() {
        for value in [
            &b"Basic !!!"[..],
            b"Basic dXNlcg==",
            b"Basic /w==",
            b"Basic \xff\xfe",
        ] {
            let err = presented_here(&with(value)).unwrap_err();
            assert_eq!(err.status, 400, "{value:?}");
        }
    }

    #[test]
    fn wrong_kind_is_a_401_with_the_right_challenge() {
        let bearer = with(b"Bearer abc");
        let err = require_basic(&bearer, SourceAddress(None)).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.challenge),
            (401, Challenge::Basic)
        );
        let basic = with(format!("Basic {}", STANDARD.encode("a:b")).as_bytes());
        let err = require_bearer(&basic).unwrap_err();
        assert_eq!(err.challenge, Challenge::BearerInvalid);
        let err = require_bearer(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.challenge, Challenge::BearerMissing);
    }
}
