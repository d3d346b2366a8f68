//! Decoding and resizing images: RGB kept (alpha and extra channels dropped, 16-bit scaled
//! to 8), resized to a square side, stored as `u8` HWC; converted to `f32` CHW in [0, 1]
//! only when a batch is built.

use std::io::Read;
use std::path::Path;

use image::imageops::FilterType;
use image::{ImageReader, Limits};

/// Larger sides are refused before decoding (a header can claim anything).
pub const MAX_SIDE: u32 = 16_384;

/// What a header says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeInfo {
    /// Format name (`bmp`, `tiff`, …), from the content, not the extension.
    pub format: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(1 << 30);
    l
}

/// Reads only the header. Errors are one sentence (the caller adds the path).
pub fn probe(path: &Path) -> Result<ProbeInfo, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() == 0 {
        return Err("empty file (0 bytes)".into());
    }
    content_format(path)?;
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not a recognised image (unknown header)".into());
    };
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| format!("unreadable {} header: {e}", format_name(format)))?;
    if width == 0 || height == 0 {
        return Err(format!("header claims an empty {width}x{height} image"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "header claims {width}x{height} pixels, over the {MAX_SIDE}-pixel limit"
        ));
    }
    if format == image::ImageFormat::Bmp {
        check_bmp_length(path, meta.len())?;
    }
    Ok(ProbeInfo {
        format: format_name(format),
        width,
        height,
    })
}

/// The format the first bytes announce; a file whose content matches no image format is
/// refused even when its extension says `.bmp` (a text file renamed, a download error page).
fn content_format(path: &Path) -> Result<image::ImageFormat, String> {
    let mut head = [0u8; 32];
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let n = f.read(&mut head).map_err(|e| format!("cannot read: {e}"))?;
    image::guess_format(&head[..n]).map_err(|_| {
        let ext = path
            .extension()
            .map(|e| format!(" although its name ends in .{}", e.to_string_lossy()))
            .unwrap_or_default();
        format!("not a recognised image: its first bytes match no image format{ext}")
    })
}

fn format_name(f: image::ImageFormat) -> String {
    f.extensions_str()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("{f:?}").to_lowercase())
}

/// An uncompressed BMP shorter than its header promises is truncated; catching it here
/// costs 34 bytes of reading instead of a full decode.
fn check_bmp_length(path: &Path, len: u64) -> Result<(), String> {
    let mut head = [0u8; 34];
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    if f.read_exact(&mut head).is_err() {
        return Err(format!(
            "truncated BMP: {len} bytes, shorter than its header"
        ));
    }
    let u32_at = |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let offset = u32_at(10) as u64;
    let width = u32_at(18) as i32 as i64;
    let height = (u32_at(22) as i32 as i64).abs();
    let bpp = u16::from_le_bytes([head[28], head[29]]) as i64;
    let compression = u32_at(30);
    if compression == 0 && width > 0 && bpp > 0 {
        let row = ((width * bpp + 31) / 32) * 4;
        let need = offset + (row * height) as u64;
        if len < need {
            return Err(format!(
                "truncated BMP: {len} bytes, its header needs {need}"
            ));
        }
    }
    Ok(())
}

/// Identity of the decode + resize pipeline, part of every cache key: changing the filter or
/// the channel handling must never reuse images or embeddings computed the old way.
pub const PREPROCESSING: &str = "rgb8 first-3-channels catmull-rom (PIL bicubic)";

/// Decodes an image, keeps its first 3 channels and resizes it to `size`×`size` with a
/// bicubic (Catmull-Rom, a = −0.5) filter, as PIL's default `Image.resize` does in the
/// original pipeline (`tests/interop.rs` measures the difference against PIL). RGB8, HWC,
/// row-major.
pub fn load_rgb(path: &Path, size: u32) -> Result<Vec<u8>, String> {
    content_format(path)?;
    let mut reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read: {e}"))?;
    if reader.format().is_none() {
        return Err("not a recognised image (unknown header)".into());
    }
    reader.limits(limits());
    let img = reader.decode().map_err(|e| format!("cannot decode: {e}"))?;
    let rgb = img.to_rgb8();
    let out = if rgb.width() == size && rgb.height() == size {
        rgb
    } else {
        image::imageops::resize(&rgb, size, size, FilterType::CatmullRom)
    };
    Ok(out.into_raw())
}

/// Appends one HWC RGB8 image as CHW `f32` in [0, 1].
pub fn push_chw(rgb: &[u8], size: usize, out: &mut Vec<f32>) {
    let plane = size * size;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let dst = &mut out[start..];
    for (i, px) in rgb.chunks_exact(3).enumerate().take(plane) {
        dst[i] = px[0] as f32 / 255.0;
        dst[plane + i] = px[1] as f32 / 255.0;
        dst[2 * plane + i] = px[2] as f32 / 255.0;
    }
}
