//! Cell thumbnails drawn with half blocks: each terminal cell shows two vertically stacked
//! pixels ('▀' with the top pixel as foreground and the bottom one as background), which
//! works in any true-colour terminal over SSH without a graphics protocol.

use std::path::Path;

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

/// A small RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    /// Width in pixels (= columns).
    pub w: usize,
    /// Height in pixels (= 2 × rows).
    pub h: usize,
    /// RGB8, row-major.
    pub rgb: Vec<u8>,
}

impl Thumb {
    /// Decodes and shrinks an image to `px`×`px`.
    pub fn from_path(path: &Path, px: u32) -> Result<Thumb, String> {
        let rgb = bloodshot::data::decode::load_rgb(path, px)?;
        Ok(Thumb {
            w: px as usize,
            h: px as usize,
            rgb,
        })
    }

    /// A thumbnail of one flat colour (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn solid(px: usize, rgb: [u8; 3]) -> Thumb {
        Thumb {
            w: px,
            h: px,
            rgb: rgb.iter().copied().cycle().take(px * px * 3).collect(),
        }
    }

    fn pixel(&self, x: usize, y: usize) -> Color {
        let i = (y.min(self.h - 1) * self.w + x.min(self.w - 1)) * 3;
        Color::Rgb(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    /// Lines of half blocks fitting `cols`×`rows` cells (nearest-neighbour scaling).
    pub fn lines(&self, cols: usize, rows: usize) -> Vec<Line<'static>> {
        if self.w == 0 || self.h == 0 || cols == 0 || rows == 0 {
            return vec![];
        }
        (0..rows)
            .map(|r| {
                let spans: Vec<Span> = (0..cols)
                    .map(|c| {
                        let x = c * self.w / cols;
                        let top = (2 * r) * self.h / (2 * rows);
                        let bottom = (2 * r + 1) * self.h / (2 * rows);
                        Span::styled(
                            "▀",
                            Style::default()
                                .fg(self.pixel(x, top))
                                .bg(self.pixel(x, bottom)),
                        )
                    })
                    .collect();
                Line::from(spans)
            })
            .collect()
    }
}
