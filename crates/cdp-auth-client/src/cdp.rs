//! The few CDP API shapes an integration needs first: records to push, customers pulled.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record of an upstream push (`POST /v2/{tenantId}/dw/tracker`). Fields left `None` are
/// not sent; the server refuses empty strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The customer's id in the source system (required).
    #[serde(rename = "SourceCustomerNumber")]
    pub source_customer_number: String,
    /// E-mail address; customers are unified by it.
    #[serde(rename = "Email", skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(rename = "FirstName", skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(rename = "LastName", skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Phone number.
    #[serde(rename = "Phone", skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Free-form attributes (a JSON object).
    #[serde(rename = "Attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    /// An event type (`emailOpen`, `productBrowsed`, `checkout`…); needs `event_time_stamp`.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The event's subtype (campaign, product, category…).
    #[serde(rename = "Subtype", skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// When the event happened, RFC 3339.
    #[serde(rename = "EventTimeStamp", skip_serializing_if = "Option::is_none")]
    pub event_time_stamp: Option<String>,
}

impl Record {
    /// A record of the customer with this source id.
    pub fn new(source_customer_number: impl Into<String>) -> Self {
        Record {
            source_customer_number: source_customer_number.into(),
            ..Record::default()
        }
    }

    /// With an e-mail address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// With a first and last name.
    pub fn name(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }

    /// With a phone number.
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }

    /// With attributes (a JSON object).
    pub fn attributes(mut self, attributes: Value) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// With an event of this type and subtype at this RFC 3339 time.
    pub fn event(
        mut self,
        event_type: impl Into<String>,
        subtype: Option<&str>,
        at: impl Into<String>,
    ) -> Self {
        self.event_type = Some(event_type.into());
        self.subtype = subtype.map(str::to_owned);
        self.event_time_stamp = Some(at.into());
        self
    }
}

/// `{"accepted": N}`: records a push stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Records accepted.
    pub accepted: u64,
}

/// What to pull: page size and filters (`fq`).
#[derive(Debug, Clone, Default)]
pub struct PullQuery {
    /// Customers per page, 1..=1000 (server default 100).
    pub limit: Option<u32>,
    /// Only the customer with this e-mail address (`fq=email:…`).
    pub email: Option<String>,
    /// Only customers updated strictly after this RFC 3339 instant (`fq=updatedSince:…`):
    /// resume a delta pull with the last customer's `updated_at`.
    pub updated_since: Option<String>,
}

impl PullQuery {
    /// The query string pairs.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(email) = &self.email {
            pairs.push(("fq", format!("email:{email}")));
        }
        if let Some(since) = &self.updated_since {
            pairs.push(("fq", format!("updatedSince:{since}")));
        }
        pairs
    }
}

/// One page of a pull.
#[derive(Debug, Clone)]
pub struct CustomerPage {
    /// The customers on this page, ordered by (updated time, id).
    pub customers: Vec<Customer>,
    /// The path of the next page, while more remain; see `Client::next_customers`.
    pub next: Option<String>,
}

/// A unified customer, with its source records and events (newest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    /// The stable unified id (`gcr_…`).
    #[serde(rename = "gcrId")]
    pub gcr_id: String,
    /// Normalised e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(rename = "firstName", default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(rename = "lastName", default)]
    pub last_name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Merged attributes.
    #[serde(default)]
    pub attributes: Option<Value>,
    /// Last change, RFC 3339 with microseconds: the cursor of a delta pull.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    /// The records pushed for this customer (`sourceCustomerNumber`, fields, `receivedAt`).
    #[serde(rename = "sourceRecords", default)]
    pub source_records: Vec<Value>,
    /// Its events, newest first (`type`, `subtype`, `eventTimeStamp`, `channel`).
    #[serde(default)]
    pub events: Vec<Value>,
    /// Any further keys (`createdAt`, `_links`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The HAL page as the server sends it.
#[derive(Deserialize)]
pub(crate) struct HalPage {
    #[serde(rename = "_links", default)]
    links: Map<String, Value>,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Deserialize)]
struct Embedded {
    #[serde(default)]
    customers: Vec<Customer>,
}

impl From<HalPage> for CustomerPage {
    fn from(page: HalPage) -> Self {
        CustomerPage {
            customers: page.embedded.map(|e| e.customers).unwrap_or_default(),
            next: page
                .links
                .get("next")
                .and_then(|n| n.get("href"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}
