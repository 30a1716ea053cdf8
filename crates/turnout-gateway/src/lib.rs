//! The gateway pipeline.
