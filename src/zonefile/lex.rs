//! STUB: to follow.
