//! Kafka's primitive encodings as used by `__consumer_offsets` records: big-endian
//! ints, classic (int16/int32 length) and compact (unsigned varint length + 1) strings,
//! bytes and arrays, and tagged-field sections of flexible versions.
//!
//! Only what the record schemas need; the network protocol codec is `kafka-protocol`
//! (whose encoders are private to it). Public for the other coordinator record
//! formats (`__transaction_state` in `tidewater-txn`).

use bytes::{BufMut, Bytes, BytesMut};

use super::RecordError;

/// A cursor over one record key or value; every read is bounds-checked.
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes, RecordError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        let Some(end) = end else {
            return Err(RecordError::Truncated { field: what });
        };
        let out = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub fn uuid(&mut self, what: &'static str) -> Result<uuid::Uuid, RecordError> {
        Ok(uuid::Uuid::from_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub fn uvarint(&mut self, what: &'static str) -> Result<u32, RecordError> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let [byte] = self.array::<1>(what)?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Malformed {
            field: what,
            reason: "varint longer than 5 bytes",
        })
    }

    /// A length prefix: classic int16/int32 (-1 = null) or compact uvarint (0 = null).
    fn length(
        &mut self,
        compact: bool,
        wide: bool,
        what: &'static str,
    ) -> Result<Option<usize>, RecordError> {
        let len: i64 = if compact {
            i64::from(self.uvarint(what)?) - 1
        } else if wide {
            i64::from(self.i32(what)?)
        } else {
            i64::from(self.i16(what)?)
        };
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(RecordError::Malformed {
                field: what,
                reason: "negative length",
            }),
            n => usize::try_from(n)
                .map(Some)
                .map_err(|_| RecordError::Malformed {
                    field: what,
                    reason: "length overflow",
                }),
        }
    }

    pub fn nullable_string(
        &mut self,
        compact: bool,
        what: &'static str,
    ) -> Result<Option<String>, RecordError> {
        let Some(len) = self.length(compact, false, what)? else {
            return Ok(None);
        };
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| RecordError::Malformed {
                field: what,
                reason: "invalid UTF-8",
            })
    }

    pub fn string(&mut self, compact: bool, what: &'static str) -> Result<String, RecordError> {
        self.nullable_string(compact, what)?
            .ok_or(RecordError::Malformed {
                field: what,
                reason: "null for a non-nullable string",
            })
    }

    pub fn bytes(&mut self, compact: bool, what: &'static str) -> Result<Bytes, RecordError> {
        let len = self
            .length(compact, true, what)?
            .ok_or(RecordError::Malformed {
                field: what,
                reason: "null for non-nullable bytes",
            })?;
        self.take(len, what)
    }

    pub fn array_len(&mut self, compact: bool, what: &'static str) -> Result<usize, RecordError> {
        self.nullable_array_len(compact, what)?
            .ok_or(RecordError::Malformed {
                field: what,
                reason: "null array",
            })
    }

    /// An array's length, `None` for a null array.
    pub fn nullable_array_len(
        &mut self,
        compact: bool,
        what: &'static str,
    ) -> Result<Option<usize>, RecordError> {
        let Some(len) = self.length(compact, true, what)? else {
            return Ok(None);
        };
        // Every element takes at least one byte; refuse counts the buffer cannot hold
        // before allocating for them.
        if len > self.remaining() {
            return Err(RecordError::Truncated { field: what });
        }
        Ok(Some(len))
    }

    /// Skips a tagged-field section: we write none and know of none to read.
    pub fn skip_tagged_fields(&mut self, what: &'static str) -> Result<(), RecordError> {
        self.tagged_fields(what).map(drop)
    }

    /// A tagged-field section: each field's tag and raw value, in order.
    pub fn tagged_fields(&mut self, what: &'static str) -> Result<Vec<(u32, Bytes)>, RecordError> {
        let count = self.uvarint(what)?;
        let mut out = Vec::new();
        for _ in 0..count {
            let tag = self.uvarint(what)?;
            let size = self.uvarint(what)?;
            out.push((tag, self.take(size as usize, what)?));
        }
        Ok(out)
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Appends Kafka primitives to a buffer.
pub struct Writer {
    buf: BytesMut,
    compact: bool,
}

impl Writer {
    pub fn new(version: i16, compact: bool) -> Self {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        Self { buf, compact }
    }

    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub fn uuid(&mut self, v: uuid::Uuid) {
        self.buf.put_slice(v.as_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// Writes a length prefix; `None` is null. Lengths beyond the wire's range are
    /// clamped by the callers' own limits (strings <= i16::MAX are validated upstream).
    fn length(&mut self, len: Option<usize>, wide: bool) {
        match (self.compact, len) {
            (true, None) => self.uvarint(0),
            (true, Some(n)) => self.uvarint(u32::try_from(n).unwrap_or(u32::MAX - 1) + 1),
            (false, None) if wide => self.buf.put_i32(-1),
            (false, None) => self.buf.put_i16(-1),
            (false, Some(n)) if wide => self.buf.put_i32(i32::try_from(n).unwrap_or(i32::MAX)),
            (false, Some(n)) => self.buf.put_i16(i16::try_from(n).unwrap_or(i16::MAX)),
        }
    }

    pub fn nullable_string(&mut self, s: Option<&str>) {
        self.length(s.map(str::len), false);
        if let Some(s) = s {
            self.buf.put_slice(s.as_bytes());
        }
    }

    pub fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.length(Some(b.len()), true);
        self.buf.put_slice(b);
    }

    pub fn array_len(&mut self, n: usize) {
        self.length(Some(n), true);
    }

    /// An array's length; `None` writes a null array.
    pub fn nullable_array_len(&mut self, n: Option<usize>) {
        self.length(n, true);
    }

    /// An empty tagged-field section (flexible versions only).
    pub fn no_tagged_fields(&mut self) {
        if self.compact {
            self.uvarint(0);
        }
    }

    /// A tagged-field section of `(tag, value bytes)` in ascending tag order
    /// (flexible versions only; a record leaves out fields at their default).
    pub fn tagged_fields(&mut self, fields: &[(u32, &[u8])]) {
        if !self.compact {
            return;
        }
        self.uvarint(u32::try_from(fields.len()).unwrap_or(u32::MAX));
        for (tag, value) in fields {
            self.uvarint(*tag);
            self.uvarint(u32::try_from(value.len()).unwrap_or(u32::MAX));
            self.buf.put_slice(value);
        }
    }

    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}
