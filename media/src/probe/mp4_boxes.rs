//! Just enough ISO BMFF (MP4) parsing to see the order of top-level boxes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Stop after this many boxes; real files have a handful at top level.
const MAX_TOP_LEVEL_BOXES: usize = 1024;

/// Whether the `moov` box comes before the first `mdat` box (what
/// `movflags=+faststart` arranges). False when either is missing or the file
/// is not an MP4.
pub(crate) fn moov_before_mdat(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut offset = 0u64;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        let Some((kind, size)) = read_box_header(&mut file, offset, file_len)? else {
            return Ok(false);
        };
        match &kind {
            b"moov" => return Ok(true),
            b"mdat" => return Ok(false),
            _ => {}
        }
        offset = match offset.checked_add(size) {
            Some(next) if next > offset => next,
            _ => return Ok(false),
        };
    }
    Ok(false)
}

/// The box type and total size at `offset`, or `None` at the end of the
/// file or where the bytes do not look like a box.
fn read_box_header(
    file: &mut File,
    offset: u64,
    file_len: u64,
) -> io::Result<Option<([u8; 4], u64)>> {
    if offset.saturating_add(8) > file_len {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut header = [0u8; 8];
    file.read_exact(&mut header)?;
    let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let kind = [header[4], header[5], header[6], header[7]];
    if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Ok(None);
    }
    let size = match size32 {
        // The box runs to the end of the file.
        0 => file_len - offset,
        // A 64-bit size follows the type.
        1 => {
            let mut large = [0u8; 8];
            if offset.saturating_add(16) > file_len {
                return Ok(None);
            }
            file.read_exact(&mut large)?;
            u64::from_be_bytes(large)
        }
        size => u64::from(size),
    };
    if size < 8 {
        return Ok(None);
    }
    Ok(Some((kind, size)))
}

#[cfg(test)]
mod tests {
    use super::moov_before_mdat;
    use std::io::Write;

    fn file_with(boxes: &[(&[u8; 4], usize)]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        for (kind, size) in boxes {
            let mut bytes = (*size as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(*kind);
            bytes.resize(*size, 0);
            file.write_all(&bytes).expect("write");
        }
        file
    }

    #[test]
    fn finds_box_order() {
        let fast = file_with(&[(b"ftyp", 16), (b"moov", 24), (b"mdat", 40)]);
        assert!(moov_before_mdat(fast.path()).expect("read"));
        let slow = file_with(&[(b"ftyp", 16), (b"mdat", 40), (b"moov", 24)]);
        assert!(!moov_before_mdat(slow.path()).expect("read"));
    }

    #[test]
    fn garbage_is_not_faststart() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"\x00\x00\x00\x01\xff\xfe hello")
            .expect("write");
        assert!(!moov_before_mdat(file.path()).expect("read"));
    }
}
