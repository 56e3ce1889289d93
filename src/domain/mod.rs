//! The rules of cdp-auth, free of I/O frameworks: what tenants, instances and tokens are, how
//! secrets are made and kept, and what each a1user request does. HTTP and the CLI call into
//! this module; it calls the [`crate::store::Store`] trait and nothing else.

pub mod a1user;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authn;
pub mod cdp;
pub mod client_assertion;
pub mod client_keys;
pub mod clock;
pub mod dpop;
pub mod error;
pub mod forward_auth;
pub mod jose;
pub mod json;
pub mod jwt;
pub mod keyring;
pub mod model;
pub mod names;
pub mod oauth;
pub mod policy;
pub mod replay;
pub mod secrets;
pub mod secure_api;
pub mod throttle;
pub mod token_writer;
pub mod verified_cache;

pub use error::DomainError;
