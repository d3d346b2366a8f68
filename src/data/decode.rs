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

/// Why a file is not a usable image, in words a skipped-files list shows after its path.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// Its first bytes match no image format (`ext_note`: what its name claims).
    #[error("not a recognised image: its first bytes match no image format{ext_note}")]
    NotAnImage {
        /// " although its name ends in .bmp", or nothing.
        ext_note: String,
    },
    /// The decoder recognised no header.
    #[error("not a recognised image (unknown header)")]
    UnknownHeader,
    /// A header the decoder cannot read.
    #[error("unreadable {format} header: {why}")]
    BadHeader {
        /// The format.
        format: String,
        /// The decoder's words.
        why: String,
    },
    /// A header claiming no pixels.
    #[error("header claims an empty {width}x{height} image")]
    EmptySize {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// A header claiming more pixels than the limit.
    #[error("header claims {width}x{height} pixels, over the {MAX_SIDE}-pixel limit")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// A BMP shorter than its header.
    #[error("truncated BMP: {len} bytes, shorter than its header")]
    ShortBmpHeader {
        /// File length.
        len: u64,
    },
    /// The pixels could not be decoded.
    #[error("cannot decode: {0}")]
    Decode(#[from] image::ImageError),
    /// A BMP shorter than its pixels.
    #[error("truncated BMP: {len} bytes, its header needs {need}")]
    TruncatedBmp {
        /// File length.
        len: u64,
        /// Bytes the header promises.
        need: u64,
    },
}

/// Reads only the header. Errors are one sentence (the caller adds the path).
pub fn probe(path: &Path) -> Result<ProbeInfo, ProbeError> {
    let meta = std::fs::metadata(path)?;
    if meta.len() == 0 {
        return Err(ProbeError::Empty);
    }
    content_format(path)?;
    let reader = ImageReader::open(path).and_then(|r| r.with_guessed_format())?;
    let Some(format) = reader.format() else {
        return Err(ProbeError::UnknownHeader);
    };
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ProbeError::BadHeader {
            format: format_name(format),
            why: e.to_string(),
        })?;
    if width == 0 || height == 0 {
        return Err(ProbeError::EmptySize { width, height });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(ProbeError::TooLarge { width, height });
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
fn content_format(path: &Path) -> Result<image::ImageFormat, ProbeError> {
    let mut head = [0u8; 32];
    let mut f = std::fs::File::open(path)?;
    let n = f.read(&mut head)?;
    image::guess_format(&head[..n]).map_err(|_| ProbeError::NotAnImage {
        ext_note: path
            .extension()
            .map(|e| format!(" although its name ends in .{}", e.to_string_lossy()))
            .unwrap_or_default(),
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
fn check_bmp_length(path: &Path, len: u64) -> Result<(), ProbeError> {
    let mut head = [0u8; 34];
    let mut f = std::fs::File::open(path)?;
    if f.read_exact(&mut head).is_err() {
        return Err(ProbeError::ShortBmpHeader { len });
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
            return Err(ProbeError::TruncatedBmp { len, need });
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
pub fn load_rgb(path: &Path, size: u32) -> Result<Vec<u8>, ProbeError> {
    content_format(path)?;
    let mut reader = ImageReader::open(path).and_then(|r| r.with_guessed_format())?;
    if reader.format().is_none() {
        return Err(ProbeError::UnknownHeader);
    }
    reader.limits(limits());
    let img = reader.decode()?;
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
