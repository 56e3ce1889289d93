//! Forward auth: whether a request that a gateway (nginx `auth_request`, Traefik
//! `ForwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`) is about to pass to an API may go,
//! decided from the configured rules and the token the request carries.
//!
//! A rule names a path template, optionally the methods it covers, and optionally the scopes a
//! token must hold (any of them). The first rule whose template and methods match decides:
//! its `{tenantId}` must be the token's tenant and the token must hold one of its scopes, or
//! the request is refused; no matching rule refuses it too. Rules are parsed once, at start,
//! so that a decision is a walk over them that allocates nothing.
//!
//! Paths are matched segment by segment on their percent-decoded form; the query string plays
//! no part. A path that a gateway and the API behind it could read differently (`.` and `..`
//! segments, an encoded `/` or `\`, bytes that are not UTF-8 once decoded) is refused before
//! any rule is tried, since a rule could otherwise allow one path while the API serves another.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

use super::model::TokenKind;
use super::oauth::scope_of;
use crate::store::BearerContext;

/// Why a rule from the configuration cannot be used. Each names one value, so the
/// configuration can point at its line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    /// The template is not an absolute path.
    #[error("path {0:?} must start with /")]
    PathNotAbsolute(String),
    /// `**` before the last segment.
    #[error("path {0:?}: ** matches the rest of the path, so it may only be the last segment")]
    RestNotLast(String),
    /// `{tenantId}` twice.
    #[error("path {0:?} names {{tenantId}} more than once")]
    TwoTenantIds(String),
    /// A `{name}` other than `{tenantId}`.
    #[error("path {path:?}: unknown parameter {{{name}}} (the only one is {{tenantId}})")]
    UnknownParameter {
        /// The template.
        path: String,
        /// The parameter's name.
        name: String,
    },
    /// A segment that mixes a wildcard or a parameter with text, such as `v*` or `t{tenantId}`.
    #[error(
        "path {path:?}: segment {segment:?} is neither literal text nor exactly *, ** or {{tenantId}}"
    )]
    MixedSegment {
        /// The template.
        path: String,
        /// The segment.
        segment: String,
    },
    /// A `.` or `..` segment, which no request can match since such paths are refused.
    #[error("path {0:?} holds a . or .. segment, which no request path may hold")]
    DotSegment(String),
    /// A character that has no place in a decoded path template.
    #[error(
        "path {0:?} holds %, ?, #, a backslash or a control character: write literal segments decoded, without a query"
    )]
    BadCharacter(String),
    /// `methods = []`.
    #[error("methods lists no method: omit it to allow any method")]
    NoMethods,
    /// Not an HTTP method token.
    #[error("{0:?} is not an HTTP method (a token such as GET or POST)")]
    InvalidMethod(String),
    /// `scopes = []`.
    #[error("scopes lists no scope: omit it to allow any valid token")]
    NoScopes,
    /// Not of the form `a:b`.
    #[error(
        "{0:?} is not a scope of the form a:b (dw:tracker, dw:a360, dw:webtag, or <api>:<resource> for secureApi tokens)"
    )]
    InvalidScope(String),
}

/// One segment of a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Exactly this text (decoded).
    Literal(Box<str>),
    /// `{tenantId}`: any non-empty segment, which must then be the token's tenant id.
    TenantId,
    /// `*`: any one non-empty segment.
    One,
    /// `**`: the rest of the path, however many segments, also none.
    Rest,
}

/// A parsed path template such as `/v2/{tenantId}/dw/tracker` or `/api/v1/profile/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: Box<str>,
    segments: Vec<Segment>,
}

impl PathTemplate {
    /// Parses a template: literal segments, `*`, `**` (last only) and at most one
    /// `{tenantId}`.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let owned = || text.to_owned();
        let Some(rest) = text.strip_prefix('/') else {
            return Err(RuleError::PathNotAbsolute(owned()));
        };
        if text
            .chars()
            .any(|c| matches!(c, '%' | '?' | '#' | '\\') || c.is_control())
        {
            return Err(RuleError::BadCharacter(owned()));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(RuleError::RestNotLast(owned())),
                "*" => Segment::One,
                "." | ".." => return Err(RuleError::DotSegment(owned())),
                "{tenantId}" if segments.contains(&Segment::TenantId) => {
                    return Err(RuleError::TwoTenantIds(owned()));
                }
                "{tenantId}" => Segment::TenantId,
                part if part.len() > 2 && part.starts_with('{') && part.ends_with('}') => {
                    let name = &part[1..part.len() - 1];
                    if name.contains(['{', '}', '*']) {
                        return Err(RuleError::MixedSegment {
                            path: owned(),
                            segment: part.to_owned(),
                        });
                    }
                    return Err(RuleError::UnknownParameter {
                        path: owned(),
                        name: name.to_owned(),
                    });
                }
                part if part.contains(['{', '}', '*']) => {
                    return Err(RuleError::MixedSegment {
                        path: owned(),
                        segment: part.to_owned(),
                    });
                }
                part => Segment::Literal(part.into()),
            };
            segments.push(segment);
        }
        Ok(PathTemplate {
            text: text.into(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template has a `{tenantId}`.
    pub fn names_tenant(&self) -> bool {
        self.segments.contains(&Segment::TenantId)
    }

    /// Matches a decoded path: `None` if it does not match, else the segment that stood for
    /// `{tenantId}` (if the template has one).
    fn matches<'p>(&self, path: &'p OriginalPath<'_>) -> Option<Option<&'p str>> {
        let mut parts = path.segments();
        let mut tenant = None;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return Some(tenant),
                Segment::Literal(text) => {
                    if parts.next()? != &**text {
                        return None;
                    }
                }
                Segment::One => {
                    if parts.next()?.is_empty() {
                        return None;
                    }
                }
                Segment::TenantId => {
                    let part = parts.next()?;
                    if part.is_empty() {
                        return None;
                    }
                    tenant = Some(part);
                }
            }
        }
        match parts.next() {
            Some(_) => None,
            None => Some(tenant),
        }
    }
}

/// Whether `text` is an HTTP method token (RFC 9110 §5.6.2: `tchar`s).
pub fn is_method_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A method a rule covers, upper-cased once so that `get` in a configuration means `GET`.
/// Requests are compared with it case-sensitively, as HTTP methods are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMethod(Box<str>);

impl RuleMethod {
    /// Parses a method token.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        if !is_method_token(text) {
            return Err(RuleError::InvalidMethod(text.to_owned()));
        }
        Ok(RuleMethod(text.to_ascii_uppercase().into()))
    }

    /// The method, upper-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A scope a rule asks for: `a:b`, such as `dw:tracker` or the secureApi `profile:basic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleScope {
    text: Box<str>,
    colon: usize,
}

impl RuleScope {
    /// Parses `a:b`: two non-empty parts of OAuth scope-token characters (RFC 6749 §3.3),
    /// one colon between them.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let invalid = || RuleError::InvalidScope(text.to_owned());
        let scope_char =
            |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        let (api, resource) = text.split_once(':').ok_or_else(invalid)?;
        if api.is_empty()
            || resource.is_empty()
            || resource.contains(':')
            || !text.bytes().all(scope_char)
        {
            return Err(invalid());
        }
        Ok(RuleScope {
            text: text.into(),
            colon: api.len(),
        })
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The part before the colon: a secureApi token's api.
    fn api(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The part after the colon: a secureApi token's resource.
    fn resource(&self) -> &str {
        &self.text[self.colon + 1..]
    }
}

/// One rule: a template, the methods it covers (any when `None`) and the scopes it asks for
/// (any valid token when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    path: PathTemplate,
    methods: Option<Vec<RuleMethod>>,
    scopes: Option<Vec<RuleScope>>,
}

impl Rule {
    /// A rule; an empty list of methods or scopes is refused, since it would match nothing
    /// (omitting the list is how a rule says "any").
    pub fn new(
        path: PathTemplate,
        methods: Option<Vec<RuleMethod>>,
        scopes: Option<Vec<RuleScope>>,
    ) -> Result<Self, RuleError> {
        if methods.as_ref().is_some_and(Vec::is_empty) {
            return Err(RuleError::NoMethods);
        }
        if scopes.as_ref().is_some_and(Vec::is_empty) {
            return Err(RuleError::NoScopes);
        }
        Ok(Rule {
            path,
            methods,
            scopes,
        })
    }

    /// The rule's path template.
    pub fn path(&self) -> &PathTemplate {
        &self.path
    }

    fn covers(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m.as_str() == method))
    }
}

/// The configured rules, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// Why a request is refused (each a `403 insufficient_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'r> {
    /// There are no rules at all: every request is refused.
    NoRules,
    /// No rule matches the method and path.
    NoRule,
    /// The matching rule's `{tenantId}` is not the token's tenant.
    OtherTenant(&'r Rule),
    /// The token holds none of the matching rule's scopes.
    MissingScope(&'r Rule),
}

impl Refusal<'_> {
    /// A sentence for the answer's `error_description`, naming the request and the rule.
    pub fn describe(&self, method: &str, path: &OriginalPath<'_>) -> String {
        match self {
            Refusal::NoRules => {
                "No forward-auth rules are configured, so every request is denied: \
                 add [[forward_auth.rules]] to the configuration."
                    .to_owned()
            }
            Refusal::NoRule => format!(
                "No forward-auth rule matches {method} {}, so it is denied.",
                path.as_str()
            ),
            Refusal::OtherTenant(rule) => format!(
                "The token belongs to another tenant than the one the path names (rule {}).",
                rule.path.as_str()
            ),
            Refusal::MissingScope(rule) => {
                let wanted: Vec<&str> = rule
                    .scopes
                    .iter()
                    .flatten()
                    .map(RuleScope::as_str)
                    .collect();
                format!(
                    "The token holds none of the scopes rule {} asks for: {}.",
                    rule.path.as_str(),
                    wanted.join(", ")
                )
            }
        }
    }
}

impl Rules {
    /// The rules, in the order they are tried.
    pub fn new(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }

    /// Whether there are none (then every request is refused).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Decides a request: the rule that allows it, or why it is refused. The first rule whose
    /// template and methods match decides; a later rule is never tried once one matched.
    pub fn decide<'r>(
        &'r self,
        method: &str,
        path: &OriginalPath<'_>,
        token: &TokenFacts<'_>,
    ) -> Result<&'r Rule, Refusal<'r>> {
        if self.rules.is_empty() {
            return Err(Refusal::NoRules);
        }
        for rule in &self.rules {
            if !rule.covers(method) {
                continue;
            }
            let Some(tenant) = rule.path.matches(path) else {
                continue;
            };
            if let Some(tenant) = tenant
                && !is_decimal_of(tenant, token.tenant_id)
            {
                return Err(Refusal::OtherTenant(rule));
            }
            return match &rule.scopes {
                Some(scopes) if !scopes.iter().any(|s| token.scopes.holds(s)) => {
                    Err(Refusal::MissingScope(rule))
                }
                _ => Ok(rule),
            };
        }
        Err(Refusal::NoRule)
    }
}

/// Whether `segment` is exactly `id` in decimal: `7`, never `07` or `+7`, so that a path
/// naming a tenant matches only the way the API behind reads it.
fn is_decimal_of(segment: &str, id: i64) -> bool {
    let canonical = segment == "0" || !segment.starts_with('0');
    canonical && segment.bytes().all(|b| b.is_ascii_digit()) && segment.parse::<i64>() == Ok(id)
}

/// What a rule checks of a token: its tenant and its scopes.
#[derive(Debug, Clone, Copy)]
pub struct TokenFacts<'t> {
    /// The token's tenant id.
    pub tenant_id: i64,
    /// The scopes it holds.
    pub scopes: TokenScopes<'t>,
}

impl<'t> TokenFacts<'t> {
    /// The facts of a verified token.
    pub fn of(context: &'t BearerContext) -> Self {
        TokenFacts {
            tenant_id: context.tenant.id,
            scopes: TokenScopes::of(context),
        }
    }
}

/// The scopes a token holds, borrowed from its row: an instance token's scope words, or a
/// secureApi token's api with its resources (each held as `<api>:<resource>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScopes<'t> {
    /// Space-separated scopes (a1user and OAuth tokens).
    Words(&'t str),
    /// A secureApi token: its api and its space-separated resources.
    SecureApi {
        /// The api (`profile`, `gdpr`).
        api: &'t str,
        /// Its resources, space-separated.
        resources: &'t str,
    },
}

impl<'t> TokenScopes<'t> {
    /// The scopes of a verified token: a1user and OAuth tokens carry their stored scope, or
    /// their instance type's when none was stored; secureApi tokens their resources.
    pub fn of(context: &'t BearerContext) -> Self {
        let token = &context.token;
        match (token.kind, &context.instance) {
            (TokenKind::SecureApi, _) | (_, None) => TokenScopes::SecureApi {
                api: token.api.as_deref().unwrap_or(""),
                resources: token.scope.as_deref().unwrap_or(""),
            },
            (_, Some(instance)) => TokenScopes::Words(
                token
                    .scope
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| scope_of(instance.instance_type)),
            ),
        }
    }

    /// Whether one of them is `scope`.
    pub fn holds(&self, scope: &RuleScope) -> bool {
        match *self {
            TokenScopes::Words(words) => words.split(' ').any(|w| w == scope.as_str()),
            TokenScopes::SecureApi { api, resources } => {
                api == scope.api() && resources.split(' ').any(|r| r == scope.resource())
            }
        }
    }
}

impl fmt::Display for TokenScopes<'_> {
    /// Space-separated, as `X-Auth-Scope` carries them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TokenScopes::Words(words) => f.write_str(words),
            TokenScopes::SecureApi { api, resources } => {
                for (i, resource) in resources.split(' ').filter(|r| !r.is_empty()).enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{api}:{resource}")?;
                }
                Ok(())
            }
        }
    }
}

/// The word `X-Auth-Token-Kind` carries for a token of this dialect.
pub fn kind_word(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::A1user => "a1user",
        TokenKind::OAuth => "oauth",
        TokenKind::SecureApi => "secureapi",
    }
}

/// Why an original request's URI is refused (`400 invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathError {
    /// Not origin-form.
    #[error("it does not start with /")]
    NotAbsolute,
    /// A byte no request target holds, or a fragment.
    #[error("it holds a space, a control character, a non-ASCII byte or a # and does not parse")]
    Unparsable,
    /// `%` not followed by two hex digits.
    #[error("it holds a % that is not followed by two hexadecimal digits and does not parse")]
    BadPercent,
    /// `%2F`, `%5C` or a raw backslash.
    #[error(
        "it holds an encoded / or \\ (%2F, %5C) or a backslash, which a gateway and the API behind it may read differently"
    )]
    EncodedSeparator,
    /// Not UTF-8 once decoded.
    #[error("its path is not valid UTF-8 once percent-decoded")]
    NotUtf8,
    /// A `.` or `..` segment (also encoded, `%2e`).
    #[error(
        "its path holds a . or .. segment, which a gateway and the API behind it may resolve differently"
    )]
    DotSegment,
}

/// The path of the request a gateway asks about, validated and percent-decoded. Borrowed from
/// the request when it holds no `%`, which is the common case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPath<'a> {
    decoded: Cow<'a, str>,
}

impl<'a> OriginalPath<'a> {
    /// Parses an origin-form request target (`/path?query`); the query is checked for stray
    /// bytes and otherwise ignored.
    pub fn parse(target: &'a str) -> Result<Self, PathError> {
        if !target.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        if !target
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'#')
        {
            return Err(PathError::Unparsable);
        }
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        let bytes = path.as_bytes();
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\\' => return Err(PathError::EncodedSeparator),
                b'%' => {
                    let (Some(&high), Some(&low)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                        return Err(PathError::BadPercent);
                    };
                    let (Some(high), Some(low)) = (hex(high), hex(low)) else {
                        return Err(PathError::BadPercent);
                    };
                    if matches!(high << 4 | low, b'/' | b'\\') {
                        return Err(PathError::EncodedSeparator);
                    }
                    escaped = true;
                }
                _ => {}
            }
        }
        let decoded = if escaped {
            percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .map_err(|_| PathError::NotUtf8)?
        } else {
            Cow::Borrowed(path)
        };
        let parsed = OriginalPath { decoded };
        if parsed.segments().any(|s| s == "." || s == "..") {
            return Err(PathError::DotSegment);
        }
        Ok(parsed)
    }

    /// The decoded path.
    pub fn as_str(&self) -> &str {
        &self.decoded
    }

    /// Its segments: what lies between the slashes after the first.
    fn segments(&self) -> std::str::Split<'_, char> {
        self.decoded[1..].split('/')
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, methods: &[&str], scopes: &[&str]) -> Rule {
        let methods = (!methods.is_empty()).then(|| {
            methods
                .iter()
                .map(|m| RuleMethod::parse(m).unwrap())
                .collect()
        });
        let scopes = (!scopes.is_empty()).then(|| {
            scopes
                .iter()
                .map(|s| RuleScope::parse(s).unwrap())
                .collect()
        });
        Rule::new(PathTemplate::parse(path).unwrap(), methods, scopes).unwrap()
    }

    fn tracker(tenant_id: i64) -> TokenFacts<'static> {
        TokenFacts {
            tenant_id,
            scopes: TokenScopes::Words("dw:tracker"),
        }
    }

    fn decide<'r>(
        rules: &'r Rules,
        method: &str,
        target: &str,
        token: &TokenFacts<'_>,
    ) -> Result<&'r Rule, Refusal<'r>> {
        let path = OriginalPath::parse(target).unwrap();
        rules.decide(method, &path, token)
    }

    fn allowed(rules: &Rules, method: &str, target: &str, token: &TokenFacts<'_>) -> String {
        match decide(rules, method, target, token) {
            Ok(rule) => rule.path().as_str().to_owned(),
            Err(refusal) => panic!("{method} {target} refused: {refusal:?}"),
        }
    }

    #[test]
    fn tenant_id_must_be_the_tokens_tenant_in_decimal() {
        let rules = Rules::new(vec![rule("/v2/{tenantId}/dw/tracker", &["POST"], &[])]);
        allowed(&rules, "POST", "/v2/7/dw/tracker", &tracker(7));
        for other in ["/v2/8/dw/tracker", "/v2/07/dw/tracker", "/v2/+7/dw/tracker"] {
            assert!(
                matches!(
                    decide(&rules, "POST", other, &tracker(7)),
                    Err(Refusal::OtherTenant(_))
                ),
                "{other}"
            );
        }
        assert_eq!(
            decide(&rules, "POST", "/v2//dw/tracker", &tracker(7)),
            Err(Refusal::NoRule)
        );
    }

    #[test]
    fn methods_are_matched_case_sensitively_as_upper_case() {
        let rules = Rules::new(vec![rule("/x", &["get", "POST"], &[])]);
        allowed(&rules, "GET", "/x", &tracker(1));
        allowed(&rules, "POST", "/x", &tracker(1));
        assert_eq!(
            decide(&rules, "get", "/x", &tracker(1)),
            Err(Refusal::NoRule)
        );
        assert_eq!(
            decide(&rules, "DELETE", "/x", &tracker(1)),
            Err(Refusal::NoRule)
        );
        let any = Rules::new(vec![rule("/x", &[], &[])]);
        allowed(&any, "PROPFIND", "/x", &tracker(1));
    }

    #[test]
    fn one_star_is_one_non_empty_segment() {
        let rules = Rules::new(vec![rule("/a/*/c", &[], &[])]);
        allowed(&rules, "GET", "/a/b/c", &tracker(1));
        for target in ["/a//c", "/a/c", "/a/b/b/c", "/a/b/c/"] {
            assert_eq!(
                decide(&rules, "GET", target, &tracker(1)),
                Err(Refusal::NoRule),
                "{target}"
            );
        }
    }

    #[test]
    fn two_stars_are_the_rest_of_the_path_also_nothing() {
        let rules = Rules::new(vec![rule("/api/v1/profile/**", &[], &[])]);
        for target in [
            "/api/v1/profile",
            "/api/v1/profile/",
            "/api/v1/profile/b2b/basic",
            "/api/v1/profile/b2b/basic/deeper/",
        ] {
            allowed(&rules, "POST", target, &tracker(1));
        }
        for target in ["/api/v1/profiles", "/api/v1", "/api/v1/gdpr/b2b/x"] {
            assert_eq!(
                decide(&rules, "POST", target, &tracker(1)),
                Err(Refusal::NoRule),
                "{target}"
            );
        }
        let everything = Rules::new(vec![rule("/**", &[], &[])]);
        allowed(&everything, "GET", "/", &tracker(1));
        allowed(&everything, "GET", "/anything/at/all", &tracker(1));
    }

    #[test]
    fn literal_segments_match_exactly_and_the_query_plays_no_part() {
        let rules = Rules::new(vec![rule("/v2/{tenantId}/dw/a360/customers", &[], &[])]);
        allowed(
            &rules,
            "GET",
            "/v2/3/dw/a360/customers?limit=5&fq=email:x",
            &tracker(3),
        );
        allowed(&rules, "GET", "/v2/3/dw/a360/customers?", &tracker(3));
        for target in [
            "/v2/3/dw/a360/Customers",
            "/v2/3/dw/a360/customers/",
            "/v2/3/dw/a360/customers/gcr_1",
        ] {
            assert_eq!(
                decide(&rules, "GET", target, &tracker(3)),
                Err(Refusal::NoRule),
                "{target}"
            );
        }
    }

    #[test]
    fn matching_is_on_the_percent_decoded_segments() {
        let rules = Rules::new(vec![rule("/files/a b/ü", &[], &[])]);
        allowed(&rules, "GET", "/files/a%20b/%C3%BC", &tracker(1));
        allowed(&rules, "GET", "/%66iles/a%20b/%c3%bc", &tracker(1));
        let tenant = Rules::new(vec![rule("/v2/{tenantId}/**", &[], &[])]);
        allowed(&tenant, "GET", "/v2/%37/x", &tracker(7));
    }

    #[test]
    fn the_first_matching_rule_decides_even_when_a_later_one_would_allow() {
        let rules = Rules::new(vec![
            rule("/v2/{tenantId}/dw/tracker", &["POST"], &["dw:tracker"]),
            rule("/v2/{tenantId}/**", &["GET"], &["dw:a360"]),
            rule("/**", &[], &[]),
        ]);
        let a360 = TokenFacts {
            tenant_id: 7,
            scopes: TokenScopes::Words("dw:a360"),
        };
        assert!(matches!(
            decide(&rules, "POST", "/v2/7/dw/tracker", &a360),
            Err(Refusal::MissingScope(r)) if r.path().as_str() == "/v2/{tenantId}/dw/tracker"
        ));
        assert!(matches!(
            decide(&rules, "GET", "/v2/8/dw/a360/customers", &a360),
            Err(Refusal::OtherTenant(_))
        ));
        assert_eq!(
            allowed(&rules, "GET", "/v2/7/dw/a360/customers", &a360),
            "/v2/{tenantId}/**"
        );
        // A request no earlier rule matches reaches the last one.
        assert_eq!(allowed(&rules, "DELETE", "/v2/7/x", &a360), "/**");
    }

    #[test]
    fn no_rules_deny_everything_and_say_so() {
        let rules = Rules::default();
        let path = OriginalPath::parse("/x").unwrap();
        let refusal = rules.decide("GET", &path, &tracker(1)).unwrap_err();
        assert_eq!(refusal, Refusal::NoRules);
        assert!(
            refusal
                .describe("GET", &path)
                .contains("No forward-auth rules are configured")
        );
    }

    #[test]
    fn secure_api_tokens_hold_api_colon_resource() {
        let token = TokenFacts {
            tenant_id: 1,
            scopes: TokenScopes::SecureApi {
                api: "profile",
                resources: "basic segments",
            },
        };
        let rules = Rules::new(vec![
            rule("/api/v1/profile/b2b/basic", &[], &["profile:basic"]),
            rule("/api/v1/profile/b2b/campaigns", &[], &["profile:campaigns"]),
            rule("/api/v1/gdpr/**", &[], &["gdpr:basic"]),
            rule("/api/v1/both", &[], &["profile:nope", "profile:segments"]),
        ]);
        allowed(&rules, "POST", "/api/v1/profile/b2b/basic", &token);
        allowed(&rules, "POST", "/api/v1/both", &token);
        for target in ["/api/v1/profile/b2b/campaigns", "/api/v1/gdpr/b2b/x"] {
            assert!(matches!(
                decide(&rules, "POST", target, &token),
                Err(Refusal::MissingScope(_))
            ));
        }
        assert_eq!(token.scopes.to_string(), "profile:basic profile:segments");
        assert_eq!(TokenScopes::Words("dw:a360").to_string(), "dw:a360");
    }

    #[test]
    fn scopes_are_any_of_and_omitted_scopes_take_any_valid_token() {
        let rules = Rules::new(vec![
            rule("/push", &[], &["dw:a360", "dw:tracker"]),
            rule("/open", &[], &[]),
        ]);
        allowed(&rules, "POST", "/push", &tracker(1));
        allowed(&rules, "POST", "/open", &tracker(1));
        let webtag = TokenFacts {
            tenant_id: 1,
            scopes: TokenScopes::Words("dw:webtag"),
        };
        assert!(matches!(
            decide(&rules, "POST", "/push", &webtag),
            Err(Refusal::MissingScope(_))
        ));
        // A scope is matched whole, never as a prefix.
        let prefix = TokenFacts {
            tenant_id: 1,
            scopes: TokenScopes::Words("dw:trackerx"),
        };
        assert!(decide(&rules, "POST", "/push", &prefix).is_err());
    }

    #[test]
    fn templates_that_cannot_match_are_refused() {
        for (text, expected) in [
            ("v2/x", RuleError::PathNotAbsolute("v2/x".into())),
            ("", RuleError::PathNotAbsolute(String::new())),
            ("/a/**/b", RuleError::RestNotLast("/a/**/b".into())),
            (
                "/{tenantId}/{tenantId}",
                RuleError::TwoTenantIds("/{tenantId}/{tenantId}".into()),
            ),
            (
                "/v2/{tenant}",
                RuleError::UnknownParameter {
                    path: "/v2/{tenant}".into(),
                    name: "tenant".into(),
                },
            ),
            (
                "/v2/t{tenantId}",
                RuleError::MixedSegment {
                    path: "/v2/t{tenantId}".into(),
                    segment: "t{tenantId}".into(),
                },
            ),
            (
                "/v2/a*",
                RuleError::MixedSegment {
                    path: "/v2/a*".into(),
                    segment: "a*".into(),
                },
            ),
            ("/a/../b", RuleError::DotSegment("/a/../b".into())),
            ("/a%2Fb", RuleError::BadCharacter("/a%2Fb".into())),
            ("/a?x=1", RuleError::BadCharacter("/a?x=1".into())),
        ] {
            assert_eq!(PathTemplate::parse(text), Err(expected), "{text:?}");
        }
        assert!(PathTemplate::parse("/").is_ok());
        assert!(PathTemplate::parse("/**").is_ok());
        assert!(PathTemplate::parse("/v2/{tenantId}/dw/*/x/**").is_ok());
    }

    #[test]
    fn methods_and_scopes_are_validated() {
        for bad in ["", "GE T", "GET\n", "(GET)", "GÉT"] {
            assert!(RuleMethod::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RuleMethod::parse("patch").unwrap().as_str(), "PATCH");
        for bad in [
            "dw",
            "dw:",
            ":tracker",
            "a:b:c",
            "dw tracker",
            "dw:tr acker",
            "dw:\"x\"",
        ] {
            assert!(RuleScope::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RuleScope::parse("profile:basic").unwrap().api(), "profile");
        let path = PathTemplate::parse("/x").unwrap();
        assert_eq!(
            Rule::new(path.clone(), Some(vec![]), None),
            Err(RuleError::NoMethods)
        );
        assert_eq!(
            Rule::new(path, None, Some(vec![])),
            Err(RuleError::NoScopes)
        );
    }

    #[test]
    fn paths_a_gateway_and_its_upstream_may_read_differently_are_refused() {
        for (target, expected) in [
            ("v2/1", PathError::NotAbsolute),
            ("http://host/v2/1", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("/a b", PathError::Unparsable),
            ("/a#frag", PathError::Unparsable),
            ("/a\u{7f}", PathError::Unparsable),
            ("/é", PathError::Unparsable),
            ("/a%2", PathError::BadPercent),
            ("/a%zz", PathError::BadPercent),
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%5Cb", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::EncodedSeparator),
            ("/a%FFb", PathError::NotUtf8),
            ("/a/./b", PathError::DotSegment),
            ("/a/../b", PathError::DotSegment),
            ("/a/..", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("/a/%2e%2E/b", PathError::DotSegment),
            ("/a/%2e", PathError::DotSegment),
        ] {
            assert_eq!(OriginalPath::parse(target), Err(expected), "{target:?}");
        }
        // A query may hold what the path may not; it is not read.
        assert!(OriginalPath::parse("/a?x=%2F&y=../z&p=%zz").is_ok());
        assert_eq!(
            OriginalPath::parse("/a..b/.c").unwrap().as_str(),
            "/a..b/.c"
        );
    }

    #[test]
    fn a_path_without_escapes_is_borrowed() {
        let parsed = OriginalPath::parse("/v2/7/dw/tracker?scheme=a1user").unwrap();
        assert!(matches!(parsed.decoded, Cow::Borrowed("/v2/7/dw/tracker")));
    }

    #[test]
    fn token_kinds_have_their_header_words() {
        assert_eq!(kind_word(TokenKind::A1user), "a1user");
        assert_eq!(kind_word(TokenKind::OAuth), "oauth");
        assert_eq!(kind_word(TokenKind::SecureApi), "secureapi");
    }
}
