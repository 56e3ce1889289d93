//! Derivations behind the secureApi `profile` resources (`basic`, `campaigns`,
//! `userActivity`, `affinity`, `recommendedProducts`), and the time formats the CDP speaks.
//!
//! Everything here is a pure function of a [`CustomerData`], so the HTTP layer only has to
//! load the customer and wrap the returned `data` object in `{"status":"OK",…}`, and every
//! derivation can be tested without a database.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::model::{CustomerData, Event, UnixMicros};

/// Microseconds in one second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// `0000-01-01T00:00:00Z`: the earliest instant RFC 3339 can write (four-digit years).
const MIN_RFC3339_US: UnixMicros = -62_167_219_200 * MICROS_PER_SECOND;

/// `9999-12-31T23:59:59.999999Z`: the latest instant RFC 3339 can write.
const MAX_RFC3339_US: UnixMicros = 253_402_300_799 * MICROS_PER_SECOND + 999_999;

/// How many entries `affinity` and `recommendedProducts` list at most.
pub const TOP_N: usize = 10;

/// `Type` of an event recording a browsed product (`Subtype` = the product).
pub const PRODUCT_BROWSED: &str = "productBrowsed";
/// `Type` of an event recording a browsed category (`Subtype` = the category).
pub const CATEGORY_BROWSED: &str = "categoryBrowsed";
/// `Type` of an event recording a purchase (`Subtype` = the product bought).
pub const CHECKOUT: &str = "checkout";

/// Turns microseconds into a UTC date-time, clamped to the years RFC 3339 can write, so
/// formatting never fails: a stored value out of range renders as the nearest bound rather
/// than breaking a whole response.
fn utc_datetime(us: UnixMicros) -> OffsetDateTime {
    let us = us.clamp(MIN_RFC3339_US, MAX_RFC3339_US);
    // In range by the clamp above, so this cannot fail; fall back to the epoch regardless.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Formats microseconds as RFC 3339 in UTC with exactly six fractional digits
/// (`2026-11-23T14:00:00.123456Z`).
///
/// Used for `updatedAt`: it is unique per tenant to the microsecond and clients resume delta
/// pulls with `fq=updatedSince:<updatedAt>`, so it must never lose precision, and a fixed
/// width keeps the text sortable.
pub fn rfc3339_micros(us: UnixMicros) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    utc_datetime(us)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_owned())
}

/// Formats microseconds as RFC 3339 in UTC, with fractional seconds only when they are not
/// zero (`2026-11-20T10:00:00Z`, `2026-11-20T10:00:00.25Z`).
///
/// Used for event timestamps and other instants a source sent us: most senders use whole
/// seconds, and this renders them the way they were sent.
pub fn event_time(us: UnixMicros) -> String {
    utc_datetime(us)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses an RFC 3339 timestamp (any offset) into Unix microseconds; finer precision is
/// truncated towards the past. `None` when the text is not RFC 3339.
///
/// The inverse of [`rfc3339_micros`] and [`event_time`]; used for `EventTimeStamp` and for
/// `fq=updatedSince:`.
pub fn parse_rfc3339_micros(text: &str) -> Option<UnixMicros> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1000)).ok()
}

/// Whole seconds as microseconds, saturating (seconds out of range cannot be formatted
/// anyway and are clamped by [`utc_datetime`]).
fn seconds_to_micros(seconds: i64) -> UnixMicros {
    seconds.saturating_mul(MICROS_PER_SECOND)
}

/// `basic`: who the customer is.
///
/// `{"gcrId","firstName","lastName","email","phone","sourceCustomerNumbers","createdAt",
/// "updatedAt"}`; `sourceCustomerNumbers` sorted ascending without duplicates so the answer
/// does not depend on storage order; `updatedAt` with six fractional digits like the pull API.
pub fn basic(data: &CustomerData) -> Value {
    let customer = &data.customer;
    let numbers: BTreeSet<&str> = data
        .records
        .iter()
        .map(|r| r.source_customer_number.as_str())
        .collect();
    json!({
        "gcrId": customer.gcr_id,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "sourceCustomerNumbers": numbers.into_iter().collect::<Vec<_>>(),
        "createdAt": event_time(seconds_to_micros(customer.created_at)),
        "updatedAt": rfc3339_micros(customer.updated_us),
    })
}

/// Email counters of one campaign.
#[derive(Default)]
struct CampaignTally {
    sent: u64,
    opened: u64,
    clicked: u64,
    bounced: u64,
    last_activity: UnixMicros,
}

/// `campaigns`: what the customer did with each email campaign.
///
/// Email events are grouped by `Subtype` (the campaign; events without one cannot be
/// attributed and are skipped): `emailSend` counts as sent, `emailOpen` opened,
/// `emailClick` clicked, `emailBounce` bounced. `lastActivity` is the newest such event;
/// campaigns are listed newest `lastActivity` first, ties by name.
pub fn campaigns(data: &CustomerData) -> Value {
    let mut tallies: BTreeMap<&str, CampaignTally> = BTreeMap::new();
    for event in &data.events {
        let Some(name) = event.subtype.as_deref() else {
            continue;
        };
        let counter: fn(&mut CampaignTally) -> &mut u64 = match event.event_type.as_str() {
            "emailSend" => |t| &mut t.sent,
            "emailOpen" => |t| &mut t.opened,
            "emailClick" => |t| &mut t.clicked,
            "emailBounce" => |t| &mut t.bounced,
            _ => continue,
        };
        let tally = tallies.entry(name).or_insert_with(|| CampaignTally {
            last_activity: event.occurred_us,
            ..CampaignTally::default()
        });
        *counter(tally) += 1;
        tally.last_activity = tally.last_activity.max(event.occurred_us);
    }
    let mut list: Vec<(&str, CampaignTally)> = tallies.into_iter().collect();
    list.sort_by(|(a_name, a), (b_name, b)| {
        b.last_activity
            .cmp(&a.last_activity)
            .then_with(|| a_name.cmp(b_name))
    });
    let campaigns: Vec<Value> = list
        .into_iter()
        .map(|(name, t)| {
            json!({
                "name": name,
                "sent": t.sent,
                "opened": t.opened,
                "clicked": t.clicked,
                "bounced": t.bounced,
                "lastActivity": event_time(t.last_activity),
            })
        })
        .collect();
    json!({ "campaigns": campaigns })
}

/// Events newest first: by `occurred_us`, then by row id (the later received first), so the
/// order is total even when the stored order is not what [`CustomerData`] promises.
fn newest_first(events: &[Event]) -> Vec<&Event> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        b.occurred_us
            .cmp(&a.occurred_us)
            .then_with(|| b.id.cmp(&a.id))
    });
    sorted
}

/// One event as the CDP renders it (`userActivity` and the pull API's `events`).
pub fn event_json(event: &Event) -> Value {
    json!({
        "type": event.event_type,
        "subtype": event.subtype,
        "eventTimeStamp": event_time(event.occurred_us),
        "channel": event.channel,
    })
}

/// `userActivity`: the customer's newest `page_size` events, newest first.
///
/// The caller validates `page_size` (1..=1000, default 20); zero yields an empty list.
pub fn user_activity(data: &CustomerData, page_size: usize) -> Value {
    let activities: Vec<Value> = newest_first(&data.events)
        .into_iter()
        .take(page_size)
        .map(event_json)
        .collect();
    json!({ "activities": activities })
}

/// Counts events of `event_type` by `Subtype` (events without one are skipped).
fn count_subtypes<'a>(events: &'a [Event], event_type: &str) -> BTreeMap<&'a str, u64> {
    let mut counts = BTreeMap::new();
    for event in events.iter().filter(|e| e.event_type == event_type) {
        if let Some(subtype) = event.subtype.as_deref() {
            *counts.entry(subtype).or_insert(0) += 1;
        }
    }
    counts
}

/// The [`TOP_N`] highest counts as `[{"name","score"}]`, highest first, ties by name, so the
/// list is deterministic.
fn top_scores<'a>(counts: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<Value> {
    let mut list: Vec<(&str, u64)> = counts.into_iter().collect();
    list.sort_by(|(a_name, a), (b_name, b)| b.cmp(a).then_with(|| a_name.cmp(b_name)));
    list.into_iter()
        .take(TOP_N)
        .map(|(name, score)| json!({ "name": name, "score": score }))
        .collect()
}

/// `affinity`: what the customer looks at most.
///
/// `{"categories":[{"name","score"}],"products":[…]}`: counts of `categoryBrowsed` and
/// `productBrowsed` events by `Subtype`, highest first (ties by name), top [`TOP_N`] each.
pub fn affinity(data: &CustomerData) -> Value {
    json!({
        "categories": top_scores(count_subtypes(&data.events, CATEGORY_BROWSED)),
        "products": top_scores(count_subtypes(&data.events, PRODUCT_BROWSED)),
    })
}

/// `recommendedProducts`: products the customer keeps browsing but has not bought.
///
/// `{"products":[{"name","score"}]}`: `productBrowsed` counts by `Subtype`, leaving out every
/// product that has a `checkout` event with that product as `Subtype`, highest first (ties
/// by name), top [`TOP_N`].
pub fn recommended_products(data: &CustomerData) -> Value {
    let bought: BTreeSet<&str> = data
        .events
        .iter()
        .filter(|e| e.event_type == CHECKOUT)
        .filter_map(|e| e.subtype.as_deref())
        .collect();
    let browsed = count_subtypes(&data.events, PRODUCT_BROWSED);
    let products = top_scores(
        browsed
            .into_iter()
            .filter(|(name, _)| !bought.contains(name)),
    );
    json!({ "products": products })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cdp::model::{Customer, SourceRecord};
    use proptest::prelude::*;

    /// 2026-11-23T14:00:00Z.
    const T0: i64 = 1_795_442_400;

    fn customer() -> Customer {
        Customer {
            id: 1,
            tenant_id: 7,
            gcr_id: "gcr_abcdefghijklmnopqrstuvwx".to_owned(),
            email: Some("ann@example.com".to_owned()),
            first_name: Some("Ann".to_owned()),
            last_name: None,
            phone: None,
            attributes: None,
            created_at: T0,
            updated_us: T0 * 1_000_000 + 123_456,
        }
    }

    fn record(number: &str) -> SourceRecord {
        SourceRecord {
            customer_id: 1,
            source_customer_number: number.to_owned(),
            email: None,
            first_name: None,
            last_name: None,
            phone: None,
            attributes: None,
            instance_id: None,
            received_at: T0,
        }
    }

    fn data(events: Vec<(&str, Option<&str>, i64)>) -> CustomerData {
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, (event_type, subtype, at))| Event {
                id: i as i64 + 1,
                customer_id: 1,
                source_customer_number: "C-1".to_owned(),
                event_type: event_type.to_owned(),
                subtype: subtype.map(str::to_owned),
                occurred_us: at,
                channel: "tracker".to_owned(),
                received_at: T0,
            })
            .collect();
        CustomerData {
            customer: customer(),
            records: vec![record("C-2"), record("C-1"), record("C-2")],
            events,
        }
    }

    fn s(seconds: i64) -> i64 {
        (T0 + seconds) * 1_000_000
    }

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(T0 * 1_000_000 + 123_456),
            "2026-11-23T14:00:00.123456Z"
        );
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(event_time(T0 * 1_000_000), "2026-11-23T14:00:00Z");
        assert_eq!(
            event_time(T0 * 1_000_000 + 250_000),
            "2026-11-23T14:00:00.25Z"
        );
        assert_eq!(
            event_time(T0 * 1_000_000 + 1),
            "2026-11-23T14:00:00.000001Z"
        );
        assert_eq!(event_time(i64::MAX), "9999-12-31T23:59:59.999999Z");
        assert_eq!(event_time(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339_micros(i64::MAX), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn parses_times() {
        assert_eq!(
            parse_rfc3339_micros("2026-11-23T14:00:00.123456Z"),
            Some(T0 * 1_000_000 + 123_456)
        );
        assert_eq!(
            parse_rfc3339_micros("2026-11-23T15:00:00+01:00"),
            Some(T0 * 1_000_000)
        );
        // Nanoseconds are truncated towards the past, also before 1970.
        assert_eq!(
            parse_rfc3339_micros("1969-12-31T23:59:59.9999999Z"),
            Some(-1)
        );
        assert_eq!(parse_rfc3339_micros("2026-11-23"), None);
        // RFC 3339 (section 5.6) lets a space stand for the `T`.
        assert_eq!(
            parse_rfc3339_micros("2026-11-23 14:00:00Z"),
            Some(T0 * 1_000_000)
        );
        assert_eq!(parse_rfc3339_micros("2026-11-23T14:00:00"), None);
        assert_eq!(parse_rfc3339_micros(""), None);
    }

    proptest! {
        #[test]
        fn times_round_trip(us in MIN_RFC3339_US..=MAX_RFC3339_US) {
            prop_assert_eq!(parse_rfc3339_micros(&rfc3339_micros(us)), Some(us));
            prop_assert_eq!(parse_rfc3339_micros(&event_time(us)), Some(us));
        }

        #[test]
        fn formatting_never_panics(us in any::<i64>()) {
            prop_assert_eq!(rfc3339_micros(us).len(), 27);
            let _ = event_time(us);
        }
    }

    #[test]
    fn basic_lists_the_customer() {
        let d = data(vec![]);
        assert_eq!(
            basic(&d),
            json!({
                "gcrId": "gcr_abcdefghijklmnopqrstuvwx",
                "firstName": "Ann",
                "lastName": null,
                "email": "ann@example.com",
                "phone": null,
                "sourceCustomerNumbers": ["C-1", "C-2"],
                "createdAt": "2026-11-23T14:00:00Z",
                "updatedAt": "2026-11-23T14:00:00.123456Z",
            })
        );
    }

    #[test]
    fn campaigns_group_email_events_by_subtype() {
        let d = data(vec![
            ("emailOpen", Some("spring"), s(30)),
            ("emailSend", Some("spring"), s(10)),
            ("emailSend", Some("autumn"), s(20)),
            ("emailClick", Some("autumn"), s(40)),
            ("emailBounce", Some("winter"), s(40)),
            ("emailOpen", None, s(50)),
            ("productBrowsed", Some("spring"), s(60)),
        ]);
        assert_eq!(
            campaigns(&d),
            json!({"campaigns": [
                {"name": "autumn", "sent": 1, "opened": 0, "clicked": 1, "bounced": 0,
                 "lastActivity": "2026-11-23T14:00:40Z"},
                {"name": "winter", "sent": 0, "opened": 0, "clicked": 0, "bounced": 1,
                 "lastActivity": "2026-11-23T14:00:40Z"},
                {"name": "spring", "sent": 1, "opened": 1, "clicked": 0, "bounced": 0,
                 "lastActivity": "2026-11-23T14:00:30Z"},
            ]})
        );
        assert_eq!(campaigns(&data(vec![])), json!({"campaigns": []}));
    }

    #[test]
    fn user_activity_is_newest_first_and_paged() {
        let d = data(vec![
            ("a", None, s(10)),
            ("b", Some("x"), s(30) + 500_000),
            ("c", None, s(20)),
            ("d", None, s(20)),
        ]);
        assert_eq!(
            user_activity(&d, 3),
            json!({"activities": [
                {"type": "b", "subtype": "x", "eventTimeStamp": "2026-11-23T14:00:30.5Z", "channel": "tracker"},
                {"type": "d", "subtype": null, "eventTimeStamp": "2026-11-23T14:00:20Z", "channel": "tracker"},
                {"type": "c", "subtype": null, "eventTimeStamp": "2026-11-23T14:00:20Z", "channel": "tracker"},
            ]})
        );
        assert_eq!(user_activity(&d, 0), json!({"activities": []}));
        assert_eq!(
            user_activity(&d, 100)["activities"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
    }

    #[test]
    fn affinity_counts_browsing() {
        let mut events = vec![
            ("categoryBrowsed", Some("shoes"), s(1)),
            ("categoryBrowsed", Some("shoes"), s(2)),
            ("categoryBrowsed", Some("hats"), s(3)),
            ("categoryBrowsed", None, s(3)),
            ("productBrowsed", Some("SKU-2"), s(4)),
            ("productBrowsed", Some("SKU-1"), s(5)),
        ];
        let many: Vec<String> = (0..12).map(|i| format!("P{i:02}")).collect();
        for name in &many {
            events.push(("productBrowsed", Some(name.as_str()), s(6)));
        }
        events.push(("productBrowsed", Some("SKU-2"), s(7)));
        let value = affinity(&data(events));
        assert_eq!(
            value["categories"],
            json!([{"name": "shoes", "score": 2}, {"name": "hats", "score": 1}])
        );
        let products = value["products"].as_array().cloned().unwrap_or_default();
        assert_eq!(products.len(), TOP_N);
        assert_eq!(products[0], json!({"name": "SKU-2", "score": 2}));
        assert_eq!(products[1], json!({"name": "P00", "score": 1}));
        assert_eq!(products[9], json!({"name": "P08", "score": 1}));
    }

    #[test]
    fn recommendations_leave_out_bought_products() {
        let d = data(vec![
            ("productBrowsed", Some("SKU-1"), s(1)),
            ("productBrowsed", Some("SKU-1"), s(2)),
            ("productBrowsed", Some("SKU-1"), s(3)),
            ("productBrowsed", Some("SKU-2"), s(4)),
            ("productBrowsed", Some("SKU-2"), s(5)),
            ("productBrowsed", Some("SKU-3"), s(6)),
            ("checkout", Some("SKU-1"), s(7)),
            ("checkout", None, s(8)),
            ("categoryBrowsed", Some("SKU-9"), s(9)),
        ]);
        assert_eq!(
            recommended_products(&d),
            json!({"products": [{"name": "SKU-2", "score": 2}, {"name": "SKU-3", "score": 1}]})
        );
        assert_eq!(recommended_products(&data(vec![])), json!({"products": []}));
    }
}
