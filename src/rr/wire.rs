//! A bounds-checked cursor over wire RDATA, shared by the canonical form
//! ([`super::canonical`]) and the presentation-format printer in
//! [`crate::rdata`]. It lives here, below `rdata`, so `rr` needs nothing
//! from `rdata` (imports go one way: `rdata` -> `rr`).

/// The big-endian u16 at `at` of a message, if it is all there.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

/// The big-endian u32 at `at` of a message, if it is all there.
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

/// A cursor over wire RDATA; every read is bounds-checked.
pub(crate) struct Reader<'b> {
    pub(crate) b: &'b [u8],
    pub(crate) pos: usize,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(b: &'b [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_be_bytes(s.try_into().ok()?))
    }
    pub(crate) fn rest(&mut self) -> &'b [u8] {
        let s = self.b.get(self.pos..).unwrap_or(&[]);
        self.pos = self.b.len();
        s
    }
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    pub(crate) fn string(&mut self) -> Option<&'b [u8]> {
        let len = usize::from(self.u8()?);
        self.take(len)
    }
    /// Labels of an uncompressed name (no pointers, RFC 3597 §4).
    pub(crate) fn name(&mut self) -> Option<Vec<&'b [u8]>> {
        let start = self.pos;
        let mut labels = Vec::new();
        loop {
            let len = self.u8()?;
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            labels.push(self.take(usize::from(len))?);
        }
        if self.pos - start > 255 {
            return None;
        }
        Some(labels)
    }
}
