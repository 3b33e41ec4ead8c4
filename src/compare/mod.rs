//! Compare: clusters against human labels.

pub mod metrics;
