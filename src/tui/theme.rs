//! Themes: TOML files in `themes/` (built in) and an optional user file that overrides
//! single colours (`<config dir>/theme.toml`).

use std::str::FromStr;

use ratatui::style::Color;
use serde::Deserialize;

/// The built-in themes, in the order `t` cycles them.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Colours used by the panes.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Name shown in the status bar.
    pub name: String,
    /// Text.
    pub fg: Color,
    /// Background.
    pub bg: Color,
    /// Secondary text.
    pub muted: Color,
    /// Titles, selection, the main series.
    pub accent: Color,
    /// Selected row background.
    pub highlight_bg: Color,
    /// Good news (kept, finished).
    pub good: Color,
    /// Bad news (dropped, failed).
    pub bad: Color,
    /// Warnings.
    pub warn: Color,
    /// Raw (unsmoothed) series, drawn faint.
    pub raw_series: Color,
    /// Smoothed series, drawn bold.
    pub smooth_series: Color,
    /// Second series.
    pub second_series: Color,
    /// Third series.
    pub third_series: Color,
    /// One colour per class.
    pub classes: Vec<Color>,
}

/// A theme file: every field optional so a user file can override just one.
#[derive(Debug, Default, Deserialize)]
struct ThemeFile {
    name: Option<String>,
    fg: Option<String>,
    bg: Option<String>,
    muted: Option<String>,
    accent: Option<String>,
    highlight_bg: Option<String>,
    good: Option<String>,
    bad: Option<String>,
    warn: Option<String>,
    raw_series: Option<String>,
    smooth_series: Option<String>,
    second_series: Option<String>,
    third_series: Option<String>,
    classes: Option<Vec<String>>,
}

fn color(field: &str, v: &str) -> Result<Color, String> {
    Color::from_str(v)
        .map_err(|_| format!("theme colour {field} = \"{v}\" is not a colour name or #rrggbb"))
}

impl Theme {
    /// Class colour, cycling when there are more classes than colours.
    pub fn class(&self, i: usize) -> Color {
        if self.classes.is_empty() {
            self.accent
        } else {
            self.classes[i % self.classes.len()]
        }
    }

    /// Applies a theme file's fields over this theme.
    pub fn overlay(mut self, toml_text: &str, origin: &str) -> Result<Self, String> {
        let f: ThemeFile =
            toml::from_str(toml_text).map_err(|e| format!("{origin}: {}", e.message()))?;
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &f.$field {
                    self.$field = color(stringify!($field), v).map_err(|e| format!("{origin}: {e}"))?;
                }
            )*};
        }
        set!(
            fg,
            bg,
            muted,
            accent,
            highlight_bg,
            good,
            bad,
            warn,
            raw_series,
            smooth_series,
            second_series,
            third_series
        );
        if let Some(n) = f.name {
            self.name = n;
        }
        if let Some(cs) = f.classes {
            self.classes = cs
                .iter()
                .map(|c| color("classes", c))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{origin}: {e}"))?;
        }
        Ok(self)
    }

    /// A built-in theme by index (wrapping).
    pub fn built_in(index: usize) -> Theme {
        let (name, text) = BUILT_IN[index % BUILT_IN.len()];
        Theme::plain(name)
            .overlay(text, name)
            .unwrap_or_else(|_| Theme::plain(name))
    }

    /// Index of a built-in theme by name.
    pub fn index_of(name: &str) -> Option<usize> {
        BUILT_IN.iter().position(|(n, _)| *n == name)
    }

    /// Terminal default colours, the base every file overlays.
    fn plain(name: &str) -> Theme {
        Theme {
            name: name.into(),
            fg: Color::Reset,
            bg: Color::Reset,
            muted: Color::DarkGray,
            accent: Color::Cyan,
            highlight_bg: Color::DarkGray,
            good: Color::Green,
            bad: Color::Red,
            warn: Color::Yellow,
            raw_series: Color::DarkGray,
            smooth_series: Color::Cyan,
            second_series: Color::Magenta,
            third_series: Color::Blue,
            classes: vec![Color::Cyan, Color::Red, Color::Green, Color::Yellow],
        }
    }
}
