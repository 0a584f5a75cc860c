//! File watching and reload. STUB: to follow.
