//! A clip before encoding: RGB frames and PCM samples.

/// Packed RGB24, row-major, `data.len() == width * height * 3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A black image.
    pub fn new(width: u32, height: u32) -> Self {
        let len = width as usize * height as usize * 3;
        RgbImage {
            width,
            height,
            data: vec![0; len],
        }
    }

    /// The colour at (x, y), or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let offset = self.offset(x, y)?;
        let rgb = self.data.get(offset..offset + 3)?;
        Some([rgb[0], rgb[1], rgb[2]])
    }

    /// Sets the colour at (x, y); coordinates outside the image are ignored
    /// so drawing code can clip by simply overrunning the edges.
    pub fn set_pixel(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        if let Some(offset) = self.offset(x, y) {
            if let Some(dst) = self.data.get_mut(offset..offset + 3) {
                dst.copy_from_slice(&rgb);
            }
        }
    }

    /// Whether `data` holds exactly `width * height` RGB pixels.
    pub fn has_consistent_size(&self) -> bool {
        u64::from(self.width) * u64::from(self.height) * 3 == self.data.len() as u64
    }

    fn offset(&self, x: u32, y: u32) -> Option<usize> {
        (x < self.width && y < self.height)
            .then(|| (y as usize * self.width as usize + x as usize) * 3)
    }
}

/// Interleaved samples in -1..1.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

impl Audio {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        match self.channels {
            0 => 0,
            channels => self.samples.len() / usize::from(channels),
        }
    }
}

/// A finished clip, still uncompressed.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: Vec<RgbImage>,
    pub audio: Audio,
    /// What the renderer changed about the request, for the user (e.g.
    /// "121 frames, not 120: the model makes 8n+1").
    pub notes: Vec<String>,
}
