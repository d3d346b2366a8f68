//! Runs tab: every run in the runs folder, marked runs compared side by side.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use bloodshot::report::table1::{self, Table1};

use super::block;
use crate::tui::app::App;
use crate::tui::event::RunRow;

fn state_word(r: &RunRow) -> String {
    if r.interrupted {
        "interrupted".into()
    } else {
        format!("{:?}", r.state).to_lowercase()
    }
}

/// Draws the tab.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let (mut title, lines, group_ends) = comparison(app, usize::from(area.width.saturating_sub(2)));
    // Each pane sized by its content (rows + header + borders; lines + borders); when both
    // do not fit, the run list keeps at least half.
    let avail = area.height.saturating_sub(2);
    let want_list = (app.runs.rows.len() as u16 + 3).max(5);
    let want_cmp = lines.len() as u16 + 2;
    let list_h = want_list
        .min((avail / 2).max(avail.saturating_sub(want_cmp)))
        .max(5.min(avail));
    let [list, cmp, foot] = Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(area);
    run_list(f, app, list);

    // Table 1's groups that do not all fit: the title says which are shown (PgUp / PgDn).
    if !group_ends.is_empty() {
        let inner = usize::from(cmp.height.saturating_sub(2));
        let shown = group_ends.iter().filter(|&&end| end <= inner).count();
        let first = app.runs.first_group.min(app.runs.table1.groups.len() - 1);
        let total = app.runs.table1.groups.len();
        if first > 0 || first + shown < total {
            // Right after "Table 1", so a narrow pane cuts the description, not the range.
            let range = format!(
                "Table 1 · groups {}–{} of {total} (PgUp PgDn) · ",
                first + 1,
                (first + shown).max(first + 1)
            );
            title = title.replacen("Table 1 · ", &range, 1);
        }
    }
    f.render_widget(Paragraph::new(lines).block(block(t, &title)), cmp);
    f.render_widget(Paragraph::new(footer(app)), foot);
}

/// The run list: mark, id, objective, epochs, best validation accuracy, the accuracy of the
/// k-shot result computed last, state; the selected row highlighted.
fn run_list(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if app.runs.rows.is_empty() {
        f.render_widget(
            Paragraph::new(format!(
                "No runs in {} yet: start one on the Train tab.",
                app.runs_dir.display()
            ))
            .block(block(t, "Runs")),
            area,
        );
    } else {
        let header = Row::new([
            "",
            "run",
            "objective",
            "epochs",
            "best val",
            "k-shot acc",
            "status",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD));
        // The k-shot cell names the protocol and any normalisation, classifier or TTA that
        // differs from the original; its column is as wide as its longest cell.
        let kshot: Vec<String> = app
            .runs
            .rows
            .iter()
            .map(|r| {
                r.kshot.as_ref().map_or("–".into(), |(k, p, m, s)| {
                    format!("{m:.3}±{s:.3} k={k} {p}")
                })
            })
            .collect();
        // The k-shot column is as wide as its longest cell where the run ids stay whole
        // (and at least its old 30); what is left goes to the ids.
        let longest = |cells: &mut dyn Iterator<Item = &str>| {
            cells.map(|c| c.chars().count()).max().unwrap_or(0) as u16
        };
        let ids = longest(&mut app.runs.rows.iter().map(|r| r.id.as_str())).max(20);
        // Borders, six gaps between seven columns, and the fixed columns.
        let room = area.width.saturating_sub(2 + 6 + 1 + 15 + 6 + 8 + 11);
        let kshot_width =
            longest(&mut kshot.iter().map(String::as_str)).min(room.saturating_sub(ids).max(30));
        let rows: Vec<Row> = app
            .runs
            .rows
            .iter()
            .zip(kshot)
            .enumerate()
            .map(|(i, (r, kshot))| {
                let mark = if app.runs.marked.contains(&r.id) {
                    "●"
                } else {
                    " "
                };
                let style = if i == app.runs.selected {
                    Style::default().bg(t.highlight_bg)
                } else {
                    Style::default()
                };
                Row::new(vec![
                    mark.to_string(),
                    r.id.clone(),
                    r.objective.as_str().to_string(),
                    format!("{}/{}", r.epochs.0, r.epochs.1),
                    r.best_val.map_or("–".into(), |v| format!("{v:.3}")),
                    kshot,
                    state_word(r),
                ])
                .style(style)
            })
            .collect();
        let widths = [
            Constraint::Length(1),
            Constraint::Min(20),
            Constraint::Length(15),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(kshot_width),
            Constraint::Length(11),
        ];
        f.render_widget(
            Table::new(rows, widths)
                .header(header)
                .block(block(t, "Runs")),
            area,
        );
    }
}

/// The footer: the import prompt, the last import's or export's outcome, or the keys.
fn footer(app: &App) -> Line<'static> {
    let t = &app.theme;
    if let Some(text) = &app.runs.prompt {
        Line::from(vec![
            Span::styled("import checkpoint: ", Style::default().fg(t.accent)),
            Span::raw(format!("{text}█")),
            Span::styled(
                "  (Enter import · Esc cancel)",
                Style::default().fg(t.muted),
            ),
        ])
    } else if let Some(r) = &app.runs.last_interop {
        match r {
            Ok(m) => Line::from(Span::styled(m.clone(), Style::default().fg(t.good))),
            Err(e) => Line::from(Span::styled(e.clone(), Style::default().fg(t.bad))),
        }
    } else {
        export_line(app)
    }
}

/// The footer when no prompt is open: the keys, or the last markdown export's outcome.
fn export_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    match &app.runs.last_export {
        None => Line::from(Span::styled(
            "Space mark · o overlay · b baseline · e export · R resume · i import · W weights · F5 reload",
            Style::default().fg(t.muted),
        )),
        Some(Ok(paths)) => Line::from(Span::styled(
            format!(
                "exported: {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Style::default().fg(t.good),
        )),
        Some(Err(e)) => Line::from(Span::styled(
            format!("export failed: {e}"),
            Style::default().fg(t.bad),
        )),
    }
}

/// The lower pane, `width` columns inside its border: Table 1 (from the group PgDn / PgUp
/// chose), the marked runs side by side, or how to fill it. With Table 1, also the number of
/// lines up to the end of each group shown.
fn comparison(app: &App, width: usize) -> (String, Vec<Line<'static>>, Vec<usize>) {
    let t = &app.theme;
    // Side-by-side comparison of the marked runs (the seed's Table 1 shape).
    let marked: Vec<&RunRow> = app
        .runs
        .rows
        .iter()
        .filter(|r| app.runs.marked.contains(&r.id))
        .collect();
    let mut lines = vec![];
    let mut title = "Compare";
    if marked.len() < 2 && !app.runs.table1.groups.is_empty() {
        title = "Table 1 · objectives over training seeds (Δ: paired bootstrap 95 % CI)";
        let (lines, ends) = table1_lines(t, &app.runs.table1, width, app.runs.first_group);
        return (title.into(), lines, ends);
    } else if marked.len() < 2 {
        lines.push(Line::from(Span::styled(
            "Mark two or more runs (Space) to compare objectives side by side; runs with k-shot results fill Table 1 here.",
            Style::default().fg(t.muted),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            format!(
                "{:<26}{:<20}{:>10}{:>22}",
                "objective", "run", "val acc", "k-shot accuracy"
            ),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        for r in marked {
            lines.push(Line::from(format!(
                "{:<26}{:<20}{:>10}{:>22}",
                r.objective.title(),
                r.id.chars().take(19).collect::<String>(),
                r.best_val.map_or("–".into(), |v| format!("{v:.3}")),
                r.kshot.as_ref().map_or("–".into(), |(k, p, m, s)| {
                    // The normalisation, when not the original, follows the protocol.
                    match p.split_once(' ') {
                        Some((_, mode)) => format!("{m:.3} ± {s:.3} (k={k}, {mode})"),
                        None => format!("{m:.3} ± {s:.3} (k={k})"),
                    }
                })
            )));
        }
    }
    (title.into(), lines, vec![])
}

/// What each group's heading says, split in parts: the normalisation, the training
/// configuration and the evaluation (folders last).
fn heading_parts(g: &table1::Group) -> Vec<String> {
    let mut config = g.configuration.split(" · ");
    let base = config.next().unwrap_or_default();
    let mut evaluation = g.evaluation.split(" · ");
    let target = evaluation.next().unwrap_or_default();
    std::iter::once(format!("normalisation {}", g.normalize.as_str()))
        .chain(config.map(String::from))
        .chain(evaluation.map(String::from))
        .chain([format!("base {base}"), format!("target {target}")])
        .collect()
}

/// The heading parts every group shares, said once above the table, and per group the parts
/// that set it apart: the end of a long heading is cut on a narrow terminal, and headings
/// alike but for their last words read as copies of one group.
pub fn group_headings(table: &Table1) -> (Vec<String>, Vec<Vec<String>>) {
    let parts: Vec<Vec<String>> = table.groups.iter().map(heading_parts).collect();
    let shared: Vec<String> = parts
        .first()
        .map(|first| {
            first
                .iter()
                .filter(|p| parts.iter().all(|other| other.contains(p)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let own = parts
        .into_iter()
        .map(|ps| ps.into_iter().filter(|p| !shared.contains(p)).collect())
        .collect();
    (shared, own)
}

/// `parts` joined by " · " after `prefix`, broken between parts into lines of at most
/// `width` characters, each continuation starting with "· " (a part longer than a line
/// stands alone on its line, cut by the pane).
pub fn wrap_parts(prefix: &str, parts: &[String], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = prefix.to_string();
    for (i, part) in parts.iter().enumerate() {
        let piece = if i == 0 {
            part.clone()
        } else {
            format!(" · {part}")
        };
        if i > 0 && current.chars().count() + piece.chars().count() > width {
            lines.push(std::mem::replace(&mut current, format!("· {part}")));
        } else {
            current.push_str(&piece);
        }
    }
    lines.push(current);
    lines
}

/// Table 1 as lines, `width` columns wide: what all groups share, then from group `first`
/// on, per group what sets it apart (both wrapped between their parts, so nothing is cut),
/// objective, seeds, accuracy, macro-F1 and the paired difference to the baseline (the same
/// numbers as the markdown export); and the number of lines up to the end of each group.
fn table1_lines(
    t: &crate::tui::theme::Theme,
    table: &Table1,
    width: usize,
    first: usize,
) -> (Vec<Line<'static>>, Vec<usize>) {
    let (shared, own) = group_headings(table);
    let mut ends = vec![];
    let mut lines = vec![];
    let styled = |text: String, colour| Line::from(Span::styled(text, Style::default().fg(colour)));
    if !shared.is_empty() {
        for l in wrap_parts("all groups: ", &shared, width) {
            lines.push(styled(l, t.muted));
        }
    }
    let first = first.min(table.groups.len().saturating_sub(1));
    for (g, own) in table.groups.iter().zip(own).skip(first) {
        if !own.is_empty() {
            for l in wrap_parts("", &own, width) {
                lines.push(styled(l, t.accent));
            }
        }
        lines.push(Line::from(Span::styled(
            format!(
                "{:<26}{:>6}  {:<15}{:<15}Δ accuracy vs {}",
                "objective",
                "seeds",
                "accuracy",
                "macro-F1",
                g.baseline.as_str()
            ),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        for row in &g.rows {
            let c = table1::row_cells(g, row);
            let sig = row.vs_baseline.is_some_and(|d| d.significant());
            lines.push(Line::from(vec![
                Span::raw(format!("{:<26}{:>6}  {:<15}{:<15}", c[0], c[1], c[2], c[3])),
                Span::styled(
                    c[4].clone(),
                    Style::default().fg(if sig { t.good } else { t.fg }),
                ),
            ]));
        }
        ends.push(lines.len());
    }
    (lines, ends)
}
