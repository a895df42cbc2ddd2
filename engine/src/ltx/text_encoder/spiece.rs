//! The parts of sentencepiece's `ModelProto` (spiece.model) a Unigram
//! tokenizer needs, read with a minimal protobuf decoder.
//!
//! Field numbers follow sentencepiece_model.proto: ModelProto { pieces = 1,
//! trainer_spec = 2, normalizer_spec = 3 }, SentencePiece { piece = 1,
//! score = 2, type = 3 }, TrainerSpec { unk_id = 40 }, NormalizerSpec
//! { precompiled_charsmap = 2, add_dummy_prefix = 3 }.

/// A piece's role (sentencepiece's `SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

#[derive(Debug, Clone)]
pub struct SentencePieceModel {
    pub pieces: Vec<Piece>,
    pub unk_id: usize,
    /// Empty when the model was trained without a normalisation rule.
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
}

/// What is wrong with the bytes, and where.
#[derive(Debug, thiserror::Error)]
#[error("malformed sentencepiece model: {0}")]
pub struct ProtoError(String);

fn err<T>(what: impl Into<String>) -> Result<T, ProtoError> {
    Err(ProtoError(what.into()))
}

/// One field of a protobuf message.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return err("truncated varint");
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        err("varint longer than 10 bytes")
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return err(format!("field of {len} bytes runs past the end"));
        };
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next (field number, value), or None at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()? as usize;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            wire => return err(format!("unsupported wire type {wire}")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn parse_piece(buf: &[u8]) -> Result<Piece, ProtoError> {
    let mut piece = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut r = Reader::new(buf);
    while let Some((field, value)) = r.field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => match std::str::from_utf8(b) {
                Ok(s) => piece.piece = s.to_owned(),
                Err(_) => return err("a piece is not UTF-8"),
            },
            (2, Value::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (3, Value::Varint(t)) => {
                piece.kind = match t {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    other => return err(format!("unknown piece type {other}")),
                }
            }
            _ => {}
        }
    }
    Ok(piece)
}

impl SentencePieceModel {
    pub fn parse(buf: &[u8]) -> Result<Self, ProtoError> {
        let mut model = SentencePieceModel {
            pieces: Vec::new(),
            unk_id: 0,
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
        };
        let mut r = Reader::new(buf);
        while let Some((field, value)) = r.field()? {
            match (field, value) {
                (1, Value::Bytes(b)) => model.pieces.push(parse_piece(b)?),
                (2, Value::Bytes(b)) => {
                    let mut t = Reader::new(b);
                    while let Some((f, v)) = t.field()? {
                        if let (40, Value::Varint(id)) = (f, v) {
                            model.unk_id = id as usize;
                        }
                    }
                }
                (3, Value::Bytes(b)) => {
                    let mut n = Reader::new(b);
                    while let Some((f, v)) = n.field()? {
                        match (f, v) {
                            (2, Value::Bytes(map)) => model.precompiled_charsmap = map.to_vec(),
                            (3, Value::Varint(flag)) => model.add_dummy_prefix = flag != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return err("no pieces");
        }
        if model.unk_id >= model.pieces.len() {
            return err(format!(
                "unk_id {} is past the {} pieces",
                model.unk_id,
                model.pieces.len()
            ));
        }
        Ok(model)
    }
}
