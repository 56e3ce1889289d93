//! cdp-auth: self-hosted API authentication for Customer Data Platforms.
//!
//! Data enters through [`http`] or [`cli`], is checked by [`domain`], and is kept by
//! [`store`]; arrows point one way.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod keyfile;
pub mod store;
pub mod telemetry;
pub mod views;
