//! RFC 3261 §12 dialogs (placeholder).
