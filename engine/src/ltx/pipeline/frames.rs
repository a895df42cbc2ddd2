//! Pixels ⇄ tensors: the VAE's video out as [`RgbImage`]s, a reference image
//! in as the VAE's input.

use candle_core::{DType, Device, Result, Tensor};

use crate::renderer::RgbImage;

/// The VAE's output [B, 3, F, H, W] in -1..1 → frames [F, H, W, 3] in 0..1
/// (f32, first sample), as diffusers' `postprocess_video` does.
pub fn video_to_unit_frames(video: &Tensor) -> Result<Tensor> {
    video
        .get(0)? // (3, f, h, w)
        .to_dtype(DType::F32)?
        .permute((1, 2, 3, 0))? // (f, h, w, 3)
        .affine(0.5, 0.5)?
        .clamp(0f32, 1f32)?
        .contiguous()
}

/// The VAE's output [B, 3, F, H, W] in -1..1 → 8-bit images of the first
/// sample (the same values as [`video_to_unit_frames`] then
/// [`unit_frames_to_images`]). A contiguous f32 clip on the CPU is read in
/// place, its frames shared out between the threads; any other clip is
/// widened to f32 on the CPU one frame at a time, never the whole clip.
pub fn video_to_images(video: &Tensor) -> Result<Vec<RgbImage>> {
    let (_, channels, count, height, width) = video.dims5()?;
    if channels != 3 {
        candle_core::bail!("expected 3 colour channels from the VAE, got {channels}");
    }
    let sample = video.get(0)?; // (3, f, h, w)
    let plane = height * width;
    let image = |data| RgbImage {
        width: width as u32,
        height: height as u32,
        data,
    };
    if sample.device().is_cpu() && sample.dtype() == DType::F32 && sample.is_contiguous() {
        let (storage, layout) = sample.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("expected a CPU tensor");
        };
        let clip = &cpu.as_slice::<f32>()?[layout.start_offset()..][..3 * count * plane];
        let mut frames: Vec<Vec<u8>> = vec![Vec::new(); count];
        let threads = candle_core::utils::get_num_threads().clamp(1, count.max(1));
        let per_thread = count.div_ceil(threads);
        crate::cpu_parallel::for_each_chunk(&mut frames, per_thread, |k, chunk| {
            let first = k * per_thread;
            for (j, frame) in chunk.iter_mut().enumerate() {
                let at = (first + j) * plane;
                let stride = count * plane; // from one colour plane to the next
                *frame = interleave(
                    &clip[at..at + plane],
                    &clip[stride + at..stride + at + plane],
                    &clip[2 * stride + at..2 * stride + at + plane],
                );
            }
        });
        return Ok(frames.into_iter().map(image).collect());
    }
    let mut images = Vec::with_capacity(count);
    for f in 0..count {
        let values = sample
            .narrow(1, f, 1)?
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?; // r plane, g plane, b plane
        images.push(image(interleave(
            &values[..plane],
            &values[plane..2 * plane],
            &values[2 * plane..],
        )));
    }
    Ok(images)
}

/// Three colour planes in -1..1 → interleaved 8-bit RGB.
fn interleave(r: &[f32], g: &[f32], b: &[f32]) -> Vec<u8> {
    let mut data = vec![0u8; r.len() * 3];
    for (((rgb, &r), &g), &b) in data.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
        rgb[0] = to_byte(r);
        rgb[1] = to_byte(g);
        rgb[2] = to_byte(b);
    }
    data
}

/// -1..1 → 0..255 as the two-step path computes it: to 0..1 and clamped,
/// then ×255 and rounded half away from zero. The rounding is `x + 0.5`
/// truncated, done in f64 where that sum is exact: `f32::round` is a libm
/// call on baseline x86-64 and was most of this conversion's time.
fn to_byte(v: f32) -> u8 {
    let unit = (v * 0.5 + 0.5).clamp(0.0, 1.0);
    (f64::from(unit * 255.0) + 0.5) as u8
}

/// Frames [F, H, W, 3] in 0..1 → 8-bit images (rounded).
pub fn unit_frames_to_images(frames: &Tensor) -> Result<Vec<RgbImage>> {
    let (count, height, width, _) = frames.dims4()?;
    let bytes = (frames.affine(255.0, 0.0)?.round()?.clamp(0f32, 255f32)?)
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    let frame_len = height * width * 3;
    Ok((0..count)
        .map(|i| RgbImage {
            width: width as u32,
            height: height as u32,
            data: bytes[i * frame_len..(i + 1) * frame_len].to_vec(),
        })
        .collect())
}

/// An image scaled to cover `width`×`height` and centre-cropped to it
/// (bilinear; the aspect ratio is kept, the overflow cut off).
pub fn cover_resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.width == width && image.height == height {
        return image.clone();
    }
    let scale = f64::max(
        f64::from(width) / f64::from(image.width),
        f64::from(height) / f64::from(image.height),
    );
    // Source window (in source pixels) that maps onto the output.
    let src_w = f64::from(width) / scale;
    let src_h = f64::from(height) / scale;
    let x0 = (f64::from(image.width) - src_w) / 2.0;
    let y0 = (f64::from(image.height) - src_h) / 2.0;
    let mut out = RgbImage::new(width, height);
    let max_x = f64::from(image.width - 1);
    let max_y = f64::from(image.height - 1);
    for y in 0..height {
        let sy = (y0 + (f64::from(y) + 0.5) / scale - 0.5).clamp(0.0, max_y);
        for x in 0..width {
            let sx = (x0 + (f64::from(x) + 0.5) / scale - 0.5).clamp(0.0, max_x);
            out.set_pixel(x, y, bilinear(image, sx, sy));
        }
    }
    out
}

fn bilinear(image: &RgbImage, x: f64, y: f64) -> [u8; 3] {
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - f64::from(x0), y - f64::from(y0));
    let px = |x, y| image.pixel(x, y).unwrap_or([0, 0, 0]);
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let mut rgb = [0u8; 3];
    for (i, v) in rgb.iter_mut().enumerate() {
        let top = f64::from(a[i]) * (1.0 - fx) + f64::from(b[i]) * fx;
        let bottom = f64::from(c[i]) * (1.0 - fx) + f64::from(d[i]) * fx;
        *v = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    rgb
}

/// An image as the VAE's input: [1, 3, 1, H, W] in -1..1.
pub fn image_to_pixels(image: &RgbImage, device: &Device, dtype: DType) -> Result<Tensor> {
    let (w, h) = (image.width as usize, image.height as usize);
    Tensor::from_vec(image.data.clone(), (h, w, 3), &Device::Cpu)?
        .to_dtype(DType::F32)?
        .permute((2, 0, 1))? // (3, h, w)
        .affine(1.0 / 127.5, -1.0)?
        .reshape((1, 3, 1, h, w))?
        .to_device(device)?
        .to_dtype(dtype)
}
