//! The `zonewright` binary. STUB: to follow.

fn main() {}
