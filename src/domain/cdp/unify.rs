//! Unification: which customer each pushed record belongs to. A record joins the customer
//! holding its normalised email; failing that, the customer its `SourceCustomerNumber` already
//! belongs to; failing that, a new customer. Pure: the store looks up what exists, this plans
//! the writes, the store applies them in the same transaction.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::model::{CustomerId, IncomingEvent, IncomingRecord, UnixMicros};
use super::records::normalise_email;
use crate::domain::DomainError;
use crate::domain::secrets;

/// The customer a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Row id.
    pub id: CustomerId,
    /// Unified id.
    pub gcr_id: String,
}

/// What a push changes on one customer: each field the newest non-null value of the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerPatch {
    /// The existing customer, or `None` for a new one.
    pub existing: Option<Known>,
    /// Normalised email.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Attributes.
    pub attributes: Option<Map<String, Value>>,
}

/// The writes of one push. Records and events name their customer by index into `customers`.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// Customers to create or update, in first-touched order.
    pub customers: Vec<CustomerPatch>,
    /// Source records to upsert: one per `SourceCustomerNumber`, the batch's last.
    pub records: Vec<(usize, &'a IncomingRecord)>,
    /// Events to insert, in body order, with the record's source number.
    pub events: Vec<(usize, &'a str, &'a IncomingEvent)>,
}

/// Plans a push. `by_email` maps normalised emails, `by_source` source customer numbers, to
/// the customers that hold them before this push.
pub fn plan<'a>(
    records: &'a [IncomingRecord],
    by_email: &HashMap<String, Known>,
    by_source: &HashMap<String, Known>,
) -> Plan<'a> {
    let mut plan = Plan::default();
    // Where each customer, email and source number went in this batch.
    let mut slot_of_customer: HashMap<CustomerId, usize> = HashMap::new();
    let mut slot_of_email: HashMap<String, usize> = HashMap::new();
    let mut slot_of_source: HashMap<&'a str, usize> = HashMap::new();
    let mut record_slot: HashMap<&'a str, usize> = HashMap::new();

    for record in records {
        let email = record.email.as_deref().map(normalise_email);
        let source = record.source_customer_number.as_str();
        let found =
            |known: Option<&Known>, plan: &mut Plan<'a>, slots: &mut HashMap<CustomerId, usize>| {
                known.map(|known| {
                    *slots.entry(known.id).or_insert_with(|| {
                        plan.customers.push(CustomerPatch {
                            existing: Some(known.clone()),
                            ..CustomerPatch::default()
                        });
                        plan.customers.len() - 1
                    })
                })
            };
        let slot = match &email {
            Some(email) => slot_of_email
                .get(email)
                .copied()
                .or_else(|| found(by_email.get(email), &mut plan, &mut slot_of_customer)),
            None => None,
        }
        .or_else(|| slot_of_source.get(source).copied())
        .or_else(|| found(by_source.get(source), &mut plan, &mut slot_of_customer))
        .unwrap_or_else(|| {
            plan.customers.push(CustomerPatch::default());
            plan.customers.len() - 1
        });

        if let Some(email) = &email {
            slot_of_email.insert(email.clone(), slot);
        }
        slot_of_source.insert(source, slot);
        let patch = &mut plan.customers[slot];
        if let Some(email) = email {
            // The customer's old email no longer leads to it within this batch.
            if let Some(old) = patch.email.replace(email)
                && slot_of_email.get(&old) == Some(&slot)
                && Some(&old) != patch.email.as_ref()
            {
                slot_of_email.remove(&old);
            }
        }
        overwrite(&mut patch.first_name, &record.first_name);
        overwrite(&mut patch.last_name, &record.last_name);
        overwrite(&mut patch.phone, &record.phone);
        overwrite(&mut patch.attributes, &record.attributes);

        match record_slot.get(source) {
            Some(&at) => plan.records[at] = (slot, record),
            None => {
                record_slot.insert(source, plan.records.len());
                plan.records.push((slot, record));
            }
        }
        if let Some(event) = &record.event {
            plan.events.push((slot, source, event));
        }
    }
    plan
}

/// A new unified id: `gcr_`, ten base-36 digits of the time in microseconds, and fourteen
/// random lowercase alphanumerics (72 bits). Ids made later sort later, so inserting a batch of
/// new customers touches the right edge of the id index instead of random pages across it.
pub fn new_gcr_id(now_us: UnixMicros) -> Result<String, DomainError> {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut time = u64::try_from(now_us).unwrap_or(0);
    let mut prefix = [b'0'; 10];
    for digit in prefix.iter_mut().rev() {
        *digit = DIGITS[(time % 36) as usize];
        time /= 36;
    }
    let random = secrets::random_string(secrets::LOWER_ALPHANUMERIC, 14)?;
    Ok(format!("gcr_{}{random}", String::from_utf8_lossy(&prefix)))
}

fn overwrite<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        field.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(source: &str, email: Option<&str>) -> IncomingRecord {
        IncomingRecord {
            source_customer_number: source.to_owned(),
            email: email.map(str::to_owned),
            first_name: None,
            last_name: None,
            phone: None,
            attributes: None,
            event: None,
        }
    }

    fn known(id: CustomerId) -> Known {
        Known {
            id,
            gcr_id: format!("gcr_{id}"),
        }
    }

    #[test]
    fn later_ids_sort_later_and_keep_the_documented_shape() {
        let first = new_gcr_id(1_795_442_400_000_000).unwrap();
        let later = new_gcr_id(1_795_442_400_000_001).unwrap();
        assert!(first < later, "{first} {later}");
        assert_eq!(first.len(), 28);
        assert!(first.starts_with("gcr_"));
        assert!(
            first[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(new_gcr_id(1).unwrap(), new_gcr_id(1).unwrap());
    }

    #[test]
    fn emails_that_differ_in_case_and_spaces_are_one_customer() {
        let records = [
            record("A", Some("Ann@Example.com")),
            record("B", Some(" ann@example.COM ")),
        ];
        let plan = plan(&records, &HashMap::new(), &HashMap::new());
        assert_eq!(plan.customers.len(), 1);
        assert_eq!(plan.customers[0].email.as_deref(), Some("ann@example.com"));
        assert_eq!(plan.records.len(), 2);
    }

    #[test]
    fn a_record_without_email_joins_the_customer_of_its_source_number() {
        let records = [record("A", None)];
        let by_source = HashMap::from([("A".to_owned(), known(7))]);
        let plan = plan(&records, &HashMap::new(), &by_source);
        assert_eq!(plan.customers[0].existing, Some(known(7)));
        let records = [record("A", Some("x@y.z")), record("A", None)];
        let plan = super::plan(&records, &HashMap::new(), &HashMap::new());
        assert_eq!(plan.customers.len(), 1);
        assert_eq!(plan.records.len(), 1, "one source record per number");
    }

    #[test]
    fn email_wins_over_source_number() {
        let records = [record("A", Some("b@x.io"))];
        let by_email = HashMap::from([("b@x.io".to_owned(), known(2))]);
        let by_source = HashMap::from([("A".to_owned(), known(1))]);
        let plan = plan(&records, &by_email, &by_source);
        assert_eq!(plan.customers.len(), 1);
        assert_eq!(plan.customers[0].existing, Some(known(2)));
    }

    #[test]
    fn newest_non_null_value_wins_and_events_keep_body_order() {
        let mut first = record("A", None);
        first.first_name = Some("Ann".into());
        first.event = Some(IncomingEvent {
            event_type: "emailOpen".into(),
            subtype: None,
            occurred_us: 1,
        });
        let mut second = record("A", None);
        second.last_name = Some("Lee".into());
        second.event = Some(IncomingEvent {
            event_type: "emailClick".into(),
            subtype: None,
            occurred_us: 2,
        });
        let records = [first, second];
        let plan = plan(&records, &HashMap::new(), &HashMap::new());
        let patch = &plan.customers[0];
        assert_eq!(patch.first_name.as_deref(), Some("Ann"));
        assert_eq!(patch.last_name.as_deref(), Some("Lee"));
        let types: Vec<_> = plan.events.iter().map(|e| &e.2.event_type).collect();
        assert_eq!(types, ["emailOpen", "emailClick"]);
    }
}
