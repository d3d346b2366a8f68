//! Sweeps tab, explorer: the selected sweep's jobs as a table of varied hyper-parameters and
//! results (sorted by the marked column, filtered by the typed expression), and below it a
//! parallel-coordinates plot — one axis per hyper-parameter plus the result, one polyline per
//! job coloured by the result, the selected job highlighted.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as Segment};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use bloodshot::sweep::explore::{Explorer, Parallel, parallel};

use super::block;
use crate::tui::app::App;
use crate::tui::state::sweeps::SweepRow;
use crate::tui::theme::Theme;

/// Draws the explorer of `row`'s sweep.
pub fn render(f: &mut Frame, app: &App, row: &SweepRow, area: Rect) {
    let t = &app.theme;
    let x = &app.explorer;
    let table = x
        .table
        .as_ref()
        .filter(|(id, _)| *id == row.sweep.id)
        .map(|(_, table)| table);
    let Some(table) = table else {
        f.render_widget(
            Paragraph::new(Span::styled(
                "reading the jobs' results…",
                Style::default().fg(t.muted),
            ))
            .block(block(t, &format!("Explorer · {}", row.sweep.id))),
            area,
        );
        return;
    };
    let order = x.order();
    let sort_name = table.columns.get(x.sort).map_or("", |c| c.name.as_str());
    let title = format!(
        "Explorer · {} · {} of {} jobs · sorted by {sort_name} {}",
        row.sweep.id,
        order.len(),
        table.rows.len(),
        if x.descending { "▼" } else { "▲" }
    );
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    let table_h = (order.len() as u16 + 1).clamp(2, (inner.height / 2).max(4));
    let [table_area, filter_area, plot_area] = Layout::vertical([
        Constraint::Length(table_h),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    render_table(f, t, app, table, &order, table_area);
    render_filter(f, t, app, order.len(), filter_area);
    // Colour by the sort column when it is a result, else by the first k-shot result.
    let result = if table.columns.get(x.sort).is_some_and(|c| c.result) {
        Some(x.sort)
    } else {
        table
            .columns
            .iter()
            .position(|c| c.name.starts_with('k'))
            .or_else(|| table.columns.iter().position(|c| c.result))
    };
    if let Some(result) = result
        && plot_area.height >= 6
    {
        let selected = order.get(x.selected).copied();
        render_parallel(f, t, &parallel(table, &order, result), selected, plot_area);
    }
}

fn render_table(
    f: &mut Frame,
    t: &Theme,
    app: &App,
    table: &Explorer,
    order: &[usize],
    area: Rect,
) {
    let x = &app.explorer;
    // Each column as wide as its widest cell (at most 22); columns scroll so that the sort
    // column is always shown.
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(c, col)| {
            let cells = table
                .rows
                .iter()
                .map(|r| r.values[c].text(col.format).chars().count());
            cells
                .chain(std::iter::once(col.name.chars().count() + 1))
                .max()
                .unwrap_or(1)
                .min(22)
        })
        .collect();
    let avail = area.width.saturating_sub(4) as usize;
    let span = |a: usize, b: usize| widths[a..=b].iter().map(|w| w + 1).sum::<usize>();
    let mut first = 0;
    while first < x.sort && span(first, x.sort.min(widths.len() - 1)) > avail {
        first += 1;
    }
    let mut last = first;
    while last + 1 < widths.len() && span(first, last + 1) <= avail {
        last += 1;
    }
    let shown: Vec<usize> = (first..=last.min(widths.len().saturating_sub(1))).collect();
    let header = Row::new(
        std::iter::once(Cell::from("#")).chain(shown.iter().map(|&c| {
            let name = &table.columns[c].name;
            if c == x.sort {
                Cell::from(format!("{name}{}", if x.descending { "▼" } else { "▲" })).style(
                    Style::default()
                        .fg(t.accent)
                        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                )
            } else {
                Cell::from(name.clone())
            }
        })),
    )
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows: Vec<Row> =
        order
            .iter()
            .map(|&i| {
                let r = &table.rows[i];
                Row::new(std::iter::once(Cell::from(format!("{}", r.job + 1))).chain(
                    shown.iter().map(|&c| {
                        let col = &table.columns[c];
                        Cell::from(r.values[c].text(col.format))
                    }),
                ))
            })
            .collect();
    let constraints: Vec<Constraint> = std::iter::once(Constraint::Length(3))
        .chain(shown.iter().map(|&c| Constraint::Length(widths[c] as u16)))
        .collect();
    let mut state = TableState::default().with_selected(Some(x.selected));
    f.render_stateful_widget(
        Table::new(rows, constraints)
            .header(header)
            .row_highlight_style(Style::default().bg(t.highlight_bg).fg(t.accent)),
        area,
        &mut state,
    );
}

fn render_filter(f: &mut Frame, t: &Theme, app: &App, shown: usize, area: Rect) {
    let x = &app.explorer;
    let line = if let Some(p) = &x.prompt {
        Line::from(Span::styled(
            format!("filter> {p}█  (Enter applies, Esc closes)"),
            Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
        ))
    } else if let Some(e) = &x.filter_error {
        Line::from(Span::styled(e.clone(), Style::default().fg(t.bad)))
    } else {
        let what = if x.filter_text.is_empty() {
            "none".to_string()
        } else {
            format!("{} ({shown} shown)", x.filter_text)
        };
        Line::from(Span::styled(
            format!("filter: {what} · / filter · ←→ sort · r reverse · f follow job"),
            Style::default().fg(t.muted),
        ))
    };
    f.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), area);
}

/// Colour of a line by its result's position in [0, 1]: low, middle, high thirds.
fn ramp(t: &Theme, v: Option<f64>) -> Color {
    match v {
        None => t.muted,
        Some(v) if v < 1.0 / 3.0 => t.bad,
        Some(v) if v < 2.0 / 3.0 => t.warn,
        Some(_) => t.good,
    }
}

fn render_parallel(f: &mut Frame, t: &Theme, p: &Parallel, selected: Option<usize>, area: Rect) {
    let n = p.axes.len();
    let result = p.axes.last().map_or("", |a| a.name.as_str());
    let [title, top, plot, bottom, names] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "parallel coordinates · colour by ",
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{result}: ")),
            Span::styled("━low ", Style::default().fg(t.bad)),
            Span::styled("━mid ", Style::default().fg(t.warn)),
            Span::styled("━high ", Style::default().fg(t.good)),
            Span::styled("━selected", Style::default().fg(t.accent)),
        ])),
        title,
    );
    // Axis i sits at x = i; the last axis leaves room on the right for its labels.
    let right = (n.max(2) - 1) as f64;
    let w = plot.width.max(1) as usize;
    let label_room = 8.min(w / 4);
    let plot_w = (w - label_room).max(1);
    let column = |i: usize| -> usize {
        let frac = if n < 2 { 0.0 } else { i as f64 / right };
        ((frac * (plot_w * 2 - 1) as f64) as usize) / 2
    };
    let place = |texts: Vec<String>| -> Line<'static> {
        let mut out = String::new();
        for (i, s) in texts.into_iter().enumerate() {
            let at = column(i).max(out.chars().count() + usize::from(!out.is_empty()));
            while out.chars().count() < at {
                out.push(' ');
            }
            out.push_str(&s);
        }
        Line::from(Span::styled(out, Style::default().fg(t.muted)))
    };
    let ticks = |top: bool| {
        p.axes
            .iter()
            .map(|a| {
                let tick = if top { a.ticks.last() } else { a.ticks.first() };
                tick.cloned().unwrap_or_default()
            })
            .collect::<Vec<_>>()
    };
    f.render_widget(Paragraph::new(place(ticks(true))), top);
    f.render_widget(Paragraph::new(place(ticks(false))), bottom);
    f.render_widget(
        Paragraph::new(place(p.axes.iter().map(|a| a.name.clone()).collect()))
            .style(Style::default().add_modifier(Modifier::BOLD)),
        names,
    );
    let canvas_area = Rect {
        width: plot_w as u16,
        ..plot
    };
    draw_lines(f, t, p, selected, canvas_area);
}

/// The axes as vertical lines and one polyline per job across them, the selected job on top
/// in the accent colour; axis `i` at `x = i`.
fn draw_lines(f: &mut Frame, t: &Theme, p: &Parallel, selected: Option<usize>, area: Rect) {
    let n = p.axes.len();
    let right = (n.max(2) - 1) as f64;
    let lines = &p.lines;
    let muted = t.muted;
    let colours: Vec<Color> = lines.iter().map(|(_, _, c)| ramp(t, *c)).collect();
    let accent = t.accent;
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, right])
        .y_bounds([0.0, 1.0])
        .paint(move |ctx| {
            for i in 0..n {
                ctx.draw(&Segment::new(i as f64, 0.0, i as f64, 1.0, muted));
            }
            ctx.layer();
            // The selected job last, on top.
            let mut idx: Vec<usize> = (0..lines.len()).collect();
            idx.sort_by_key(|&k| Some(lines[k].0) == selected);
            for k in idx {
                let (row, pos, _) = &lines[k];
                let colour = if Some(*row) == selected {
                    accent
                } else {
                    colours[k]
                };
                for i in 1..pos.len() {
                    if let (Some(a), Some(b)) = (pos[i - 1], pos[i]) {
                        ctx.draw(&Segment::new((i - 1) as f64, a, i as f64, b, colour));
                    }
                }
            }
        });
    f.render_widget(canvas, area);
}
