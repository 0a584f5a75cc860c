//! Listeners and dispatch. STUB: to follow.
