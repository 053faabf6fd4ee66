//! Node configuration (placeholder until the config lands).
