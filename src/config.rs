//! Configuration. STUB: to follow.
