//! Cell thumbnails. Where the terminal answers for an image protocol (sixel, kitty, iTerm2)
//! they are drawn by ratatui-image; everywhere else, and in tests, with half blocks: each
//! cell shows two vertically stacked pixels ('▀' with the top pixel as foreground and the
//! bottom one as background), which works in any true-colour terminal over SSH.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ratatui::Frame;
use ratatui::layout::{Rect, Size};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};

/// Cells of the graphics-protocol image drawn in thumbnail strips.
pub const STRIP_CELLS: (u16, u16) = (16, 8);
/// Cells of the graphics-protocol image drawn when a thumbnail is enlarged.
pub const ZOOM_CELLS: (u16, u16) = (64, 32);

static PICKER: OnceLock<Picker> = OnceLock::new();

/// Which image protocol the terminal speaks, from the environment that survives SSH
/// (`TERM`, `LC_TERMINAL`) or `BLOODSHOT_GRAPHICS=halfblocks|sixel|kitty|iterm2`.
///
/// The terminal is deliberately not queried over stdin: a query that gets no answer (tmux,
/// some SSH clients) leaves a reader behind that swallows the first keystrokes.
pub fn detect_protocol(get: &dyn Fn(&str) -> Option<String>) -> ProtocolType {
    let lower = |k: &str| get(k).unwrap_or_default().to_ascii_lowercase();
    match lower("BLOODSHOT_GRAPHICS").as_str() {
        "sixel" => return ProtocolType::Sixel,
        "kitty" => return ProtocolType::Kitty,
        "iterm2" | "iterm" => return ProtocolType::Iterm2,
        "halfblocks" | "none" => return ProtocolType::Halfblocks,
        _ => {}
    }
    let term = lower("TERM");
    if lower("TMUX").is_empty() && !term.starts_with("screen") && !term.starts_with("tmux") {
        if term.contains("kitty") || term.contains("ghostty") {
            return ProtocolType::Kitty;
        }
        if lower("LC_TERMINAL") == "iterm2" || term.contains("wezterm") {
            return ProtocolType::Iterm2;
        }
        if term.contains("foot") || term.contains("mlterm") || term.contains("sixel") {
            return ProtocolType::Sixel;
        }
    }
    ProtocolType::Halfblocks
}

/// Chooses the thumbnail protocol once at start; returns its name.
pub fn init_graphics() -> &'static str {
    let protocol = detect_protocol(&|k| std::env::var(k).ok());
    // Cell size in pixels is a guess without a query; thumbnails are scaled to fit anyway.
    #[allow(deprecated)]
    let mut picker = Picker::from_fontsize(ratatui_image::FontSize {
        width: 10,
        height: 20,
    });
    picker.set_protocol_type(protocol);
    let name = match picker.protocol_type() {
        ProtocolType::Halfblocks => "half blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty",
        ProtocolType::Iterm2 => "iTerm2",
    };
    let _ = PICKER.set(picker);
    name
}

/// A small RGB image, with its graphics-protocol rendering when the terminal has one.
#[derive(Clone)]
pub struct Thumb {
    /// Width in pixels (= columns).
    pub w: usize,
    /// Height in pixels (= 2 × rows).
    pub h: usize,
    /// RGB8, row-major.
    pub rgb: Vec<u8>,
    /// File name of the image (shown when enlarged).
    pub name: String,
    /// Sixel / kitty / iTerm2 images sized to [`STRIP_CELLS`] and [`ZOOM_CELLS`], when the
    /// terminal speaks one.
    graphic: Option<Arc<(Protocol, Protocol)>>,
}

impl std::fmt::Debug for Thumb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Thumb({}x{}, graphic: {})",
            self.w,
            self.h,
            self.graphic.is_some()
        )
    }
}

impl PartialEq for Thumb {
    fn eq(&self, other: &Self) -> bool {
        (self.w, self.h, &self.rgb) == (other.w, other.h, &other.rgb)
    }
}

impl Eq for Thumb {}

/// Draws a thumbnail into `area`: the protocol image when there is one (the enlarged one for
/// areas wider than a strip cell), half blocks else.
pub fn render(f: &mut Frame, thumb: &Thumb, area: Rect) {
    match &thumb.graphic {
        Some(p) if area.width > STRIP_CELLS.0 => f.render_widget(Image::new(&p.1), area),
        Some(p) => f.render_widget(Image::new(&p.0), area),
        None => f.render_widget(
            Paragraph::new(thumb.lines(area.width as usize, area.height as usize)),
            area,
        ),
    }
}

impl Thumb {
    /// Decodes and shrinks an image to `px`×`px`.
    pub fn from_path(path: &Path, px: u32) -> Result<Thumb, String> {
        let rgb = bloodshot::data::decode::load_rgb(path, px).map_err(|e| e.to_string())?;
        let graphic = PICKER
            .get()
            .filter(|p| p.protocol_type() != ProtocolType::Halfblocks)
            .and_then(|p| {
                let img =
                    image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(px, px, rgb.clone())?);
                let at = |(w, h): (u16, u16)| {
                    p.new_protocol(img.clone(), Size::new(w, h), Resize::Fit(None))
                        .ok()
                };
                Some(Arc::new((at(STRIP_CELLS)?, at(ZOOM_CELLS)?)))
            });
        Ok(Thumb {
            w: px as usize,
            h: px as usize,
            rgb,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            graphic,
        })
    }

    /// A thumbnail of one flat colour (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn solid(px: usize, rgb: [u8; 3]) -> Thumb {
        Thumb {
            w: px,
            h: px,
            rgb: rgb.iter().copied().cycle().take(px * px * 3).collect(),
            name: String::new(),
            graphic: None,
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
