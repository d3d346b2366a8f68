//! Data tab: base and target side by side.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bar, block};
use crate::tui::app::App;
use crate::tui::state::data::ScanState;
use crate::tui::theme::Theme;
use crate::tui::thumb::Thumb;

/// Draws the tab.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    dataset(
        f,
        &app.theme,
        "Base (training)",
        &app.base,
        &app.data.base,
        l,
    );
    dataset(
        f,
        &app.theme,
        "Target (few-shot)",
        &app.target,
        &app.data.target,
        r,
    );
}

fn dataset(
    f: &mut Frame,
    t: &Theme,
    title: &str,
    root: &std::path::Path,
    s: &ScanState,
    area: Rect,
) {
    let blk = block(t, title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    match s {
        ScanState::Idle => f.render_widget(
            Paragraph::new(format!("{}\nnot scanned yet (F5)", root.display())),
            inner,
        ),
        ScanState::Running(phase, done, total) => {
            let frac = if *total > 0 {
                *done as f64 / *total as f64
            } else {
                0.0
            };
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(root.display().to_string()),
                    Line::from(format!("{phase}: {done}/{total}")),
                    Line::from(Span::styled(bar(frac, 30), Style::default().fg(t.accent))),
                ]),
                inner,
            );
        }
        ScanState::Failed(e) => f.render_widget(
            Paragraph::new(vec![
                Line::from(root.display().to_string()),
                Line::from(Span::styled(e.clone(), Style::default().fg(t.bad))),
            ])
            .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        ),
        ScanState::Done(stats, thumbs) => {
            let text = lines(t, stats, inner.width as usize);
            // Thumbnails get the rows the statistics leave (at least 4, at most 12).
            let spare = inner.height.saturating_sub(text.len() as u16);
            let thumb_rows: u16 = if spare >= 4 && !thumbs.is_empty() {
                spare.min(12)
            } else {
                0
            };
            let [text_area, thumb_area] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(thumb_rows)]).areas(inner);
            f.render_widget(Paragraph::new(text), text_area);
            if thumb_rows > 0 {
                draw_thumbs(f, t, thumbs, thumb_area);
            }
        }
    }
}

/// The text of a dataset's statistics.
pub fn lines(
    t: &Theme,
    s: &bloodshot::data::stats::DatasetStats,
    width: usize,
) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::from(Span::styled(
            s.root.display().to_string(),
            Style::default().fg(t.muted),
        )),
        // The count first: a narrow pane cuts the end of the line, not the number.
        Line::from(format!(
            "{} usable images · {}",
            s.usable_images,
            s.layout.describe()
        )),
    ];
    out.extend(class_lines(t, s, width));
    out.extend(dropped_line(t, s));
    out.extend(summary_lines(s));
    out.extend(problem_lines(t, s));
    out
}

type Stats = bloodshot::data::stats::DatasetStats;

/// The class table: count, share, a balance bar and whether the class is kept.
fn class_lines(t: &Theme, s: &Stats, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let total: usize = s.classes.iter().map(|c| c.count).sum::<usize>().max(1);
    let max = s.classes.iter().map(|c| c.count).max().unwrap_or(1).max(1);
    let bar_w = width.saturating_sub(34).clamp(4, 30);
    out.push(Line::from(Span::styled(
        format!(
            "{:<6}{:>6}{:>7} {:<w$} status",
            "class",
            "n",
            "share",
            "balance",
            w = bar_w
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )));
    for (i, c) in s.classes.iter().enumerate() {
        let color = if c.kept { t.class(i) } else { t.muted };
        let status = if c.kept {
            if c.subjects > 0 {
                format!("kept, {} subj.", c.subjects)
            } else {
                "kept".into()
            }
        } else {
            "dropped".to_string()
        };
        out.push(Line::from(vec![
            Span::raw(format!(
                "{:<6}{:>6}{:>6.1}% ",
                truncate(&c.name, 6),
                c.count,
                c.count as f64 * 100.0 / total as f64
            )),
            Span::styled(
                format!("{:<w$}", bar(c.count as f64 / max as f64, bar_w), w = bar_w),
                Style::default().fg(color),
            ),
            Span::styled(
                format!(" {status}"),
                Style::default().fg(if c.kept { t.good } else { t.warn }),
            ),
        ]));
    }
    out
}

/// Which classes were dropped, and the rule that dropped them.
fn dropped_line(t: &Theme, s: &Stats) -> Option<Line<'static>> {
    let dropped: Vec<&str> = s
        .classes
        .iter()
        .filter(|c| !c.kept)
        .map(|c| c.name.as_str())
        .collect();
    if dropped.is_empty() {
        return None;
    }
    // Classes with images were dropped for being under the minimum size (the others had
    // no readable image).
    let rule = if s.classes.iter().any(|c| !c.kept && c.count > 0) {
        format!(" (fewer than {} images)", s.min_class_size)
    } else {
        String::new()
    };
    Some(Line::from(Span::styled(
        format!("dropped: {}{rule}", dropped.join(", ")),
        Style::default().fg(t.warn),
    )))
}

/// Formats, sizes, parts and the split.
fn summary_lines(s: &Stats) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let kv = |k: &str, m: &std::collections::BTreeMap<String, usize>| {
        let v: Vec<String> = m
            .iter()
            .map(|(a, b)| {
                if a.is_empty() {
                    b.to_string()
                } else {
                    format!("{a} {b}")
                }
            })
            .collect();
        Line::from(format!("{k}: {}", v.join(", ")))
    };
    out.push(kv("formats", &s.formats));
    out.push(kv("sizes", &s.sizes));
    if s.parts.keys().any(|k| !k.is_empty()) {
        out.push(kv("parts", &s.parts));
    }
    if let Some([a, b, c]) = s.split_sizes {
        out.push(Line::from(format!(
            "split 70/10/20: train {a} · val {b} · test {c}"
        )));
    }
    out
}

/// Skipped files, duplicate groups and warnings (the first few of each).
fn problem_lines(t: &Theme, s: &Stats) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let skipped_style = if s.skipped.is_empty() {
        Style::default().fg(t.good)
    } else {
        Style::default().fg(t.bad)
    };
    out.push(Line::from(Span::styled(
        format!("skipped (corrupt/unlabelled) files: {}", s.skipped.len()),
        skipped_style,
    )));
    for k in s.skipped.iter().take(3) {
        let name = k
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Line::from(Span::styled(
            format!("  {name}: {}", k.reason),
            Style::default().fg(t.bad),
        )));
    }
    out.push(Line::from(format!(
        "duplicate groups (identical bytes): {}",
        s.duplicate_groups.len()
    )));
    for g in s.duplicate_groups.iter().take(2) {
        let names: Vec<String> = g
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        out.push(Line::from(Span::styled(
            format!("  {}", names.join(" = ")),
            Style::default().fg(t.warn),
        )));
    }
    for w in s.warnings.iter().take(3) {
        out.push(Line::from(Span::styled(
            format!("warning: {w}"),
            Style::default().fg(t.warn),
        )));
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn draw_thumbs(f: &mut Frame, t: &Theme, thumbs: &[(String, Thumb)], area: Rect) {
    // Square cells (two pixels per row), as tall as the area allows while every class fits.
    let (rows, cols) =
        super::strip_cell(area.width, area.height.saturating_sub(1), thumbs.len(), 3);
    let n = (area.width / (cols + 1)) as usize;
    for (i, (name, th)) in thumbs.iter().take(n).enumerate() {
        let x = area.x + i as u16 * (cols + 1);
        crate::tui::thumb::render(f, th, Rect::new(x, area.y, cols, rows));
        f.render_widget(
            Paragraph::new(Span::styled(
                truncate(name, cols as usize),
                Style::default().fg(t.class(i)),
            )),
            Rect::new(x, area.y + rows, cols, 1),
        );
    }
}
