//! Time as the domain sees it: whole Unix seconds, which is what the database stores and what
//! `expires_in` is counted in.

use time::OffsetDateTime;
use time::macros::format_description;

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

/// The current time in whole seconds.
pub fn now() -> UnixTime {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats a timestamp the way the vendor does in `passwordExpiryDate`: ISO 8601 without a
/// zone, in UTC (`2027-11-22T00:00:00`).
pub fn iso_without_zone(at: UnixTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59".to_owned())
}

/// Formats a timestamp as RFC 3339 (`2026-11-23T06:41:48Z`) for admin listings.
pub fn rfc3339(at: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_vendor() {
        assert_eq!(iso_without_zone(1_826_841_600), "2027-11-22T00:00:00");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
