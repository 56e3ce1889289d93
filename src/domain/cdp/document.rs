//! The JSON of a unified customer, with its source records and events: one shape for the a360
//! pull (which adds HAL links) and for GDPR access exports.

use serde_json::{Map, Value, json};

use super::model::{CustomerData, SourceRecord};
use super::profile::{event_time, rfc3339_micros};
use crate::domain::clock;

fn attributes(value: &Option<Map<String, Value>>) -> Value {
    value.clone().map_or(Value::Null, Value::Object)
}

fn record_json(record: &SourceRecord) -> Value {
    json!({
        "sourceCustomerNumber": record.source_customer_number,
        "email": record.email,
        "firstName": record.first_name,
        "lastName": record.last_name,
        "phone": record.phone,
        "attributes": attributes(&record.attributes),
        "receivedAt": clock::rfc3339(record.received_at),
    })
}

/// A customer as the API shows it: profile fields, `createdAt`, `updatedAt` (microseconds,
/// unique per tenant, so a delta pull can resume from it), source records and events (newest
/// first).
pub fn customer_json(data: &CustomerData) -> Value {
    let customer = &data.customer;
    json!({
        "gcrId": customer.gcr_id,
        "email": customer.email,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "phone": customer.phone,
        "attributes": attributes(&customer.attributes),
        "createdAt": clock::rfc3339(customer.created_at),
        "updatedAt": rfc3339_micros(customer.updated_us),
        "sourceRecords": data.records.iter().map(record_json).collect::<Vec<_>>(),
        "events": data.events.iter().map(|event| json!({
            "type": event.event_type,
            "subtype": event.subtype,
            "eventTimeStamp": event_time(event.occurred_us),
            "channel": event.channel,
            "sourceCustomerNumber": event.source_customer_number,
        })).collect::<Vec<_>>(),
    })
}
