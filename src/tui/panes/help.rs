//! Help overlay: every key binding, straight from the bindings table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::block;
use crate::tui::app::App;
use crate::tui::keys::{BINDINGS, Scope};

/// Text lines of the help (also used by the help test).
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    for b in BINDINGS {
        let scope = match b.scope {
            Scope::Global => "everywhere".to_string(),
            Scope::Tab(tab) => format!("{} tab", tab.title()),
            Scope::QuitDialog => "quit dialog".to_string(),
        };
        if last.as_deref() != Some(scope.as_str()) {
            out.push(Line::from(Span::styled(
                scope.clone(),
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
            )));
            last = Some(scope);
        }
        out.push(Line::from(vec![
            Span::styled(format!(" {:<10}", b.keys), Style::default().fg(t.warn)),
            Span::raw(b.help),
        ]));
    }
    out
}

/// Draws the overlay.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    f.render_widget(Clear, area);
    let blk = block(&app.theme, "Keys (? to close)");
    let inner = blk.inner(area);
    f.render_widget(
        blk.style(Style::default().fg(app.theme.fg).bg(app.theme.bg)),
        area,
    );
    let all = lines(app);
    // As many columns as the lines need (each at least 36 wide when the screen allows).
    let rows = (inner.height as usize).max(1);
    let columns = all
        .len()
        .div_ceil(rows)
        .clamp(1, ((inner.width / 36) as usize).max(1));
    let per = all.len().div_ceil(columns);
    let areas = ratatui::layout::Layout::horizontal(vec![
        ratatui::layout::Constraint::Ratio(
            1,
            columns as u32
        );
        columns
    ])
    .split(inner);
    for (chunk, area) in all.chunks(per.max(1)).zip(areas.iter()) {
        f.render_widget(Paragraph::new(chunk.to_vec()), *area);
    }
}
