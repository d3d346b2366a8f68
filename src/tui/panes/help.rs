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
    // Two columns when one does not fit.
    if all.len() <= inner.height as usize {
        f.render_widget(Paragraph::new(all), inner);
        return;
    }
    let half = all.len().div_ceil(2);
    let [l, r] = ratatui::layout::Layout::horizontal([
        ratatui::layout::Constraint::Percentage(50),
        ratatui::layout::Constraint::Percentage(50),
    ])
    .areas(inner);
    let mut all = all;
    let right = all.split_off(half);
    f.render_widget(Paragraph::new(all), l);
    f.render_widget(Paragraph::new(right), r);
}
