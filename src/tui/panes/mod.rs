//! Drawing: one file per pane, each a pure function of the [`App`] state.

pub mod compare;
pub mod data;
pub mod explorer;
pub mod help;
pub mod kshot;
pub mod runs;
pub mod sweeps;
pub mod train;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Dataset, GraphType, Paragraph, Tabs, Wrap};

use super::action::Tab;
use super::app::App;
use super::theme::Theme;

/// Smallest area the panes are laid out in; below it a one-line notice is drawn.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Draws the whole console.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let t = &app.theme;
    f.render_widget(
        Block::default().style(Style::default().fg(t.fg).bg(t.bg)),
        area,
    );
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "bloodshot: enlarge the terminal to at least {}×{}",
            MIN_SIZE.0, MIN_SIZE.1
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(f, app, header);
    match app.tab {
        Tab::Data => data::render(f, app, body),
        Tab::Train => train::render(f, app, body),
        Tab::KShot => kshot::render(f, app, body),
        Tab::Runs => runs::render(f, app, body),
        Tab::Sweeps => sweeps::render(f, app, body),
    }
    draw_status(f, app, status);
    if app.help {
        // As large as the screen allows: the key table grows with every feature.
        help::render(
            f,
            app,
            centered(
                area,
                area.width.saturating_sub(4).min(160),
                area.height.saturating_sub(2).min(40),
            ),
        );
    }
    if app.quit_dialog {
        draw_quit_dialog(f, app, centered(area, 56, 7));
    }
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let titles: Vec<Line> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, tab)| Line::from(format!("{} {}", i + 1, tab.title())))
        .collect();
    let selected = Tab::ALL.iter().position(|x| *x == app.tab).unwrap_or(0);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(26)]).areas(area);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .style(Style::default().fg(t.muted))
            .highlight_style(
                Style::default()
                    .fg(t.accent)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
            .divider("│"),
        left,
    );
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "bloodshot",
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::styled("  ? help  q quit", Style::default().fg(t.muted)),
        ]))
        .right_aligned(),
        right,
    );
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let training = if app.train.view.active() {
        let (e, s) = app.train.view.at;
        format!(
            " ● training epoch {e}/{} step {s}/{} ",
            app.train.view.epochs.1, app.train.view.steps_per_epoch
        )
    } else {
        String::new()
    };
    let msg = app.status.clone().unwrap_or_default();
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(training, Style::default().fg(t.bg).bg(t.good)),
            Span::styled(format!(" {msg}"), Style::default().fg(t.fg)),
            Span::styled(format!("  theme {}", t.name), Style::default().fg(t.muted)),
        ])),
        area,
    );
}

fn draw_quit_dialog(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    f.render_widget(Clear, area);
    if app.sweeps.running() {
        let text = vec![
            Line::from("A sweep runs in this console. Quitting stops it:"),
            Line::from("its trainings save their state; resume it later."),
            Line::from(vec![
                Span::styled(" a / n ", Style::default().fg(t.accent)),
                Span::raw("stop the sweep and quit"),
            ]),
            Line::from(vec![
                Span::styled(" Esc ", Style::default().fg(t.accent)),
                Span::raw("cancel, keep it running"),
            ]),
        ];
        f.render_widget(
            Paragraph::new(text)
                .block(block(t, "Quit"))
                .style(Style::default().fg(t.fg).bg(t.bg)),
            area,
        );
        return;
    }
    let text = vec![
        Line::from("A run is training. Quit how?"),
        Line::from(""),
        Line::from(vec![
            Span::styled(" a ", Style::default().fg(t.accent)),
            Span::raw("stop after this epoch (checkpoint kept)"),
        ]),
        Line::from(vec![
            Span::styled(" n ", Style::default().fg(t.accent)),
            Span::raw("stop now, saving the current state"),
        ]),
        Line::from(vec![
            Span::styled(" Esc ", Style::default().fg(t.accent)),
            Span::raw("cancel, keep training"),
        ]),
    ];
    f.render_widget(
        Paragraph::new(text)
            .block(block(t, "Quit"))
            .style(Style::default().fg(t.fg).bg(t.bg)),
        area,
    );
}

/// A bordered block with the theme's title style.
pub fn block<'a>(t: &Theme, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(t.muted))
        .title(Span::styled(
            title,
            Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
        ))
}

/// A bordered block whose title is a styled line (a legend, for charts).
pub fn block_titled<'a>(t: &Theme, title: Line<'a>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(t.muted))
        .title(title)
}

/// One line of a settings form: a marker, the label and the value; the selected line is
/// highlighted (←/→ change it).
pub fn form_line(t: &Theme, selected: bool, label: &str, value: String) -> Line<'static> {
    let style = if selected {
        Style::default()
            .bg(t.highlight_bg)
            .fg(t.fg)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(t.fg)
    };
    Line::from(vec![
        Span::styled(
            format!("{}{:<14}", if selected { "▸" } else { " " }, label),
            style,
        ),
        Span::styled(format!("{value:<16}"), style.fg(t.accent)),
    ])
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A horizontal bar of `frac` (0..=1) in `width` cells, with eighth blocks.
pub fn bar(frac: f64, width: usize) -> String {
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (frac * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let rem = eighths % 8;
    let mut s = "█".repeat(full);
    if rem > 0 && full < width {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][rem - 1]);
    }
    s
}

pub use bloodshot::report::text::duration;

/// A chart's axes over points `1..=n` (steps or epochs): x labelled `1` and `n`, y drawn
/// from `drawn.0` to `drawn.1` (values as drawn, e.g. log10) and labelled with the values
/// `values`.
pub fn chart_axes<'a>(
    chart: ratatui::widgets::Chart<'a>,
    t: &Theme,
    unit: &'a str,
    n: usize,
    drawn: (f64, f64),
    values: (f64, f64),
) -> ratatui::widgets::Chart<'a> {
    use ratatui::widgets::Axis;
    chart
        .legend_position(None)
        .x_axis(
            Axis::default()
                .title(unit)
                .bounds([1.0, (n as f64).max(2.0)])
                .labels(vec![Line::from("1"), Line::from(n.to_string())])
                .style(Style::default().fg(t.muted)),
        )
        .y_axis(
            Axis::default()
                .bounds([drawn.0, drawn.1])
                .labels(vec![
                    Line::from(axis_label(values.0)),
                    Line::from(axis_label(values.1)),
                ])
                .style(Style::default().fg(t.muted)),
        )
}

/// A named line of braille dots.
pub fn braille_line<'a>(name: &'static str, data: &'a [(f64, f64)], style: Style) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data)
}

/// A chart's axis label: `0`, or more decimals for smaller values.
pub fn axis_label(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Rows and columns of one strip cell: square (two pixels per row, one per column), as tall
/// as `height` allows, shrunk down to `min_rows` until `n` cells fit in `width`.
pub fn strip_cell(width: u16, height: u16, n: usize, min_rows: u16) -> (u16, u16) {
    let mut rows = height.max(1);
    while rows > min_rows && (n as u16).saturating_mul(2 * rows + 1) > width {
        rows -= 1;
    }
    (rows, 2 * rows)
}
