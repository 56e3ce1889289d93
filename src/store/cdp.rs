//! What the customer data asks of storage: pushes applied atomically (idempotency key,
//! unification and the writes in one transaction under a per-tenant lock, so updates get a
//! strict per-tenant order for delta pulls), pulls in that order, segments, GDPR requests and
//! WebTag keys.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::cdp::model::{
    Channel, Customer, CustomerData, CustomerId, IncomingRecord, Segment, UnixMicros,
};
use crate::domain::clock::UnixTime;
use crate::domain::model::{Instance, InstanceId, Tenant, TenantId, TokenId};

/// One push, validated.
#[derive(Debug, Clone, Copy)]
pub struct PushBatch<'a> {
    /// The tenant whose data it is.
    pub tenant_id: TenantId,
    /// The instance pushing.
    pub instance_id: InstanceId,
    /// Tracker or WebTag.
    pub channel: Channel,
    /// `Idempotency-Key` and the SHA-256 of the body it came with.
    pub idempotency: Option<(&'a str, &'a [u8])>,
    /// The records, in body order.
    pub records: &'a [IncomingRecord],
    /// Now, in seconds.
    pub now: UnixTime,
    /// Now, in microseconds.
    pub now_us: UnixMicros,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored this many records.
    Stored(usize),
    /// A retry of an earlier push with the same key and body: nothing stored; the earlier
    /// count.
    Replayed(usize),
    /// The key was used before with a different body.
    KeyReused,
}

/// Which customers a pull asks for, in (updated, id) order.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Only this normalised email.
    pub email: Option<String>,
    /// Only customers updated strictly after this instant.
    pub updated_after_us: Option<UnixMicros>,
    /// Keyset cursor: only customers after this (updated, id).
    pub after: Option<(UnixMicros, CustomerId)>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// How a secureApi request names a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    /// `gcrId`.
    Gcr(String),
    /// `email_address` (normalised).
    Email(String),
    /// `mobile_number`.
    Phone(String),
    /// `customer_code_external` (`SourceCustomerNumber`).
    SourceNumber(String),
}

/// A GDPR request to insert.
#[derive(Debug, Clone)]
pub struct NewGdprRequest {
    /// Public id (a UUID).
    pub request_id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// `access` or `forget`.
    pub req_type: String,
    /// `gcrid`, `email` or `mobile`.
    pub req_param: String,
    /// The value naming the person; erased once processed.
    pub req_value: String,
    /// Who asked (`reqSource`).
    pub req_source: String,
    /// Registration time.
    pub created_at: UnixTime,
    /// When the worker may process it.
    pub due_at: UnixTime,
}

/// A GDPR request as held.
#[derive(Debug, Clone)]
pub struct GdprRequest {
    /// Row id.
    pub id: i64,
    /// Public id.
    pub request_id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// `access` or `forget`.
    pub req_type: String,
    /// `gcrid`, `email` or `mobile`.
    pub req_param: String,
    /// The value, while pending.
    pub req_value: Option<String>,
    /// `reqSource`.
    pub req_source: String,
    /// `pending`, `done` or `revoked`.
    pub status: String,
    /// The export of a done access request (JSON).
    pub export: Option<String>,
    /// Registration time.
    pub created_at: UnixTime,
    /// Due time.
    pub due_at: UnixTime,
    /// When it was processed or revoked.
    pub processed_at: Option<UnixTime>,
}

/// What a WebTag access key opens: its token's instance and tenant, while the token lives.
#[derive(Debug, Clone)]
pub struct WebTagContext {
    /// The token the key was issued with.
    pub token_id: TokenId,
    /// The webtag instance.
    pub instance: Instance,
    /// Its tenant.
    pub tenant: Tenant,
    /// Origins the browser may send events from.
    pub allowed_origins: Vec<String>,
}

/// Customer data storage.
#[async_trait]
pub trait CdpStore: Send + Sync + 'static {
    /// Applies a push in one transaction: the idempotency check, unification and every write.
    async fn push(&self, batch: PushBatch<'_>) -> Result<PushOutcome, StoreError>;
    /// A page of customers in (updated, id) order, each with its source records and events
    /// (events newest first), read in one statement.
    async fn customers(
        &self,
        tenant: TenantId,
        query: &CustomerQuery,
    ) -> Result<Vec<CustomerData>, StoreError>;
    /// At most `limit` customers found by a key, most recently updated first, each with its
    /// source records and events, read in one statement.
    async fn find_customers(
        &self,
        tenant: TenantId,
        key: &CustomerKey,
        limit: i64,
    ) -> Result<Vec<CustomerData>, StoreError>;

    /// The segments of a tenant, by name.
    async fn segments(&self, tenant: TenantId) -> Result<Vec<Segment>, StoreError>;
    /// Creates or replaces a segment.
    async fn put_segment(&self, tenant: TenantId, segment: &Segment) -> Result<(), StoreError>;
    /// Deletes a segment; whether it existed.
    async fn delete_segment(&self, tenant: TenantId, name: &str) -> Result<bool, StoreError>;

    /// Stores a new GDPR request.
    async fn insert_gdpr_request(&self, request: &NewGdprRequest) -> Result<(), StoreError>;
    /// A tenant's request by its public id.
    async fn gdpr_request(
        &self,
        tenant: TenantId,
        request_id: &str,
    ) -> Result<Option<GdprRequest>, StoreError>;
    /// Revokes a pending request; false when it is not pending (done, revoked or unknown).
    async fn revoke_gdpr_request(
        &self,
        tenant: TenantId,
        request_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Pending requests due by `now`, oldest first.
    async fn due_gdpr_requests(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<GdprRequest>, StoreError>;
    /// Completes a pending access request with its export; the value is erased. False when
    /// the request was no longer pending.
    async fn finish_access(
        &self,
        id: i64,
        subjects: &[String],
        export: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Completes a pending forget request: erases the customers, their source records and
    /// events, and earlier access exports about them, in one transaction. False when the
    /// request was no longer pending.
    async fn finish_forget(
        &self,
        id: i64,
        tenant: TenantId,
        customers: &[Customer],
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Forgets idempotency keys older than `before`.
    async fn prune_push_keys(&self, before: UnixTime) -> Result<u64, StoreError>;

    /// Stores the keyed hash of a WebTag access key issued with a token.
    async fn insert_webtag_key(&self, token: TokenId, key_hash: &[u8]) -> Result<(), StoreError>;
    /// What a WebTag key opens, while its token is active.
    async fn webtag_key(
        &self,
        key_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<WebTagContext>, StoreError>;
    /// Replaces an instance's allowed origins; whether the instance exists.
    async fn set_allowed_origins(
        &self,
        instance: InstanceId,
        origins: &[String],
    ) -> Result<bool, StoreError>;
    /// An instance's allowed origins.
    async fn allowed_origins(&self, instance: InstanceId) -> Result<Vec<String>, StoreError>;
}
