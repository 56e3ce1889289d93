//! What the CDP holds: source records pushed upstream, the customers they unify into, the
//! events they carry, segments, and GDPR requests. Times of events and updates are Unix
//! microseconds, so that a tenant's updates have a strict, stable order for delta pulls.

use serde_json::{Map, Value};

use crate::domain::clock::UnixTime;
use crate::domain::model::{InstanceId, TenantId};

/// Unix time in microseconds.
pub type UnixMicros = i64;

/// Row id of a unified customer.
pub type CustomerId = i64;

/// One record of a push, validated: the source system's view of one customer, with at most
/// one event.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRecord {
    /// The customer's id in the source system (`SourceCustomerNumber`), never empty.
    pub source_customer_number: String,
    /// `Email` as sent (trimmed).
    pub email: Option<String>,
    /// `FirstName`.
    pub first_name: Option<String>,
    /// `LastName`.
    pub last_name: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Attributes`: a JSON object.
    pub attributes: Option<Map<String, Value>>,
    /// The event the record carries (`Type`, `Subtype`, `EventTimeStamp`).
    pub event: Option<IncomingEvent>,
}

/// An event carried by a record.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    /// `Type` (`emailOpen`, `productBrowsed`, … or custom).
    pub event_type: String,
    /// `Subtype`: for the derivations, the campaign of an email event, the product of
    /// `productBrowsed`, the category of `categoryBrowsed`, the query of `onsiteSearch`.
    pub subtype: Option<String>,
    /// `EventTimeStamp` in Unix microseconds.
    pub occurred_us: UnixMicros,
}

/// Which way a record came in; WebTag keys may send events only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `scheme=a1user`, a DW Tracker instance's bearer token.
    Tracker,
    /// `scheme=a1webtag`, a WebTag instance's browser `accessKey`.
    WebTag,
}

impl Channel {
    /// The word stored with each event.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Tracker => "tracker",
            Channel::WebTag => "webtag",
        }
    }
}

/// A unified customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Row id.
    pub id: CustomerId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The stable unified id (`gcrId`).
    pub gcr_id: String,
    /// Normalised email (trimmed, lowercased).
    pub email: Option<String>,
    /// First name (the newest non-null value pushed).
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Attributes (a JSON object; newest non-null object pushed).
    pub attributes: Option<Map<String, Value>>,
    /// When the customer first appeared (seconds).
    pub created_at: UnixTime,
    /// When the customer last changed (microseconds; strictly increasing per tenant).
    pub updated_us: UnixMicros,
}

/// A source record as held: the newest push for one `SourceCustomerNumber` of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The customer it unified into.
    pub customer_id: CustomerId,
    /// `SourceCustomerNumber`.
    pub source_customer_number: String,
    /// `Email` as pushed.
    pub email: Option<String>,
    /// `FirstName`.
    pub first_name: Option<String>,
    /// `LastName`.
    pub last_name: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Attributes`.
    pub attributes: Option<Map<String, Value>>,
    /// The instance that pushed it last.
    pub instance_id: Option<InstanceId>,
    /// When it was last pushed (seconds).
    pub received_at: UnixTime,
}

/// An event as held.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Row id (newer events have larger ids).
    pub id: i64,
    /// The customer it belongs to.
    pub customer_id: CustomerId,
    /// The record's `SourceCustomerNumber`.
    pub source_customer_number: String,
    /// `Type`.
    pub event_type: String,
    /// `Subtype`.
    pub subtype: Option<String>,
    /// `EventTimeStamp` (microseconds).
    pub occurred_us: UnixMicros,
    /// `tracker` or `webtag`.
    pub channel: String,
    /// When it was received (seconds).
    pub received_at: UnixTime,
}

/// A customer with everything held on them.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerData {
    /// The unified customer.
    pub customer: Customer,
    /// Its source records.
    pub records: Vec<SourceRecord>,
    /// Its events, newest `occurred_us` first.
    pub events: Vec<Event>,
}

/// A named segment of a tenant and the rule that decides membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Unique name within the tenant.
    pub name: String,
    /// The rule, as JSON (see [`super::segments::Rule`]).
    pub rule: Value,
    /// Creation time.
    pub created_at: UnixTime,
}
