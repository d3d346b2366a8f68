//! Image encoders: TIFF and BITMAPINFOHEADER BMP via `image`, BITMAPV5HEADER BMP by hand.

use std::io::Cursor;

use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

pub(super) fn encode_tiff(img: &RgbaImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut buf = Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut buf).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgba8,
    )?;
    Ok(buf.into_inner())
}

pub(super) fn encode_bmp_info(img: &RgbImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut buf = Vec::new();
    image::codecs::bmp::BmpEncoder::new(&mut buf).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(buf)
}

/// Encodes an RGB image as a 24-bit uncompressed BMP with a BITMAPV5HEADER: a 14-byte file
/// header plus a 124-byte info header (pixel data at offset 138), bottom-up BGR rows padded
/// to a multiple of 4 bytes, sRGB colour space. This is the header the real C-NMC
/// preliminary-test images carry.
pub fn encode_bmp_v5(img: &RgbImage) -> Vec<u8> {
    const HEADER: u32 = 14 + 124;
    let (w, h) = (img.width(), img.height());
    let stride = (w * 3).div_ceil(4) * 4;
    let data_size = stride * h;
    let mut b = Vec::with_capacity((HEADER + data_size) as usize);
    let u16le = |b: &mut Vec<u8>, v: u16| b.extend_from_slice(&v.to_le_bytes());
    let u32le = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    // BITMAPFILEHEADER
    b.extend_from_slice(b"BM");
    u32le(&mut b, HEADER + data_size); // file size
    u32le(&mut b, 0); // reserved
    u32le(&mut b, HEADER); // pixel data offset
    // BITMAPV5HEADER
    u32le(&mut b, 124); // header size
    u32le(&mut b, w); // width (i32)
    u32le(&mut b, h); // height (i32, positive: bottom-up)
    u16le(&mut b, 1); // planes
    u16le(&mut b, 24); // bits per pixel
    u32le(&mut b, 0); // BI_RGB
    u32le(&mut b, data_size); // image size
    u32le(&mut b, 2835); // x pixels per metre (72 dpi)
    u32le(&mut b, 2835); // y pixels per metre
    u32le(&mut b, 0); // colours used
    u32le(&mut b, 0); // important colours
    for _ in 0..4 {
        u32le(&mut b, 0); // R, G, B, A masks (unused with BI_RGB)
    }
    u32le(&mut b, 0x7352_4742); // LCS_sRGB ('sRGB')
    b.extend_from_slice(&[0u8; 36]); // CIEXYZTRIPLE endpoints
    for _ in 0..3 {
        u32le(&mut b, 0); // gamma R, G, B
    }
    u32le(&mut b, 4); // LCS_GM_IMAGES
    u32le(&mut b, 0); // profile data
    u32le(&mut b, 0); // profile size
    u32le(&mut b, 0); // reserved
    debug_assert_eq!(b.len(), HEADER as usize);
    let pad = (stride - w * 3) as usize;
    for y in (0..h).rev() {
        for x in 0..w {
            let p = img.get_pixel(x, y).0;
            b.extend_from_slice(&[p[2], p[1], p[0]]);
        }
        b.extend(std::iter::repeat_n(0u8, pad));
    }
    b
}
