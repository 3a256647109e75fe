//! The MDE client: sign-in, models, errors, `OData` listing, result links.

pub mod act;
pub mod assertion;
pub mod auth;
pub mod client;
pub mod cloud;
pub mod device;
pub mod error;
pub mod limits;
pub mod link;
pub mod models;
pub mod policy;

pub use client::{ActionList, CallBudget, ListQuery, MdeClient};
pub use error::{ApiError, Operation};
pub use models::LIVE_RESPONSE;
pub use policy::OutboundPolicy;
