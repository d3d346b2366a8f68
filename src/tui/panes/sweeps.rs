//! Sweeps tab: the new-sweep form, the sweeps of the runs folder, and the jobs of the
//! selected one (queued / training on which device / done / failed, with progress), read
//! from disk every two seconds so sweeps run by other processes show too.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use bloodshot::sweep::JobState;

use super::{bar, block, form_line};
use crate::tui::app::App;
use crate::tui::state::sweeps::{SweepField, SweepRow};
use crate::tui::theme::Theme;

/// Draws the tab. The explorer takes the whole tab (its keys replace the form's; `[` `]`
/// still change the sweep, named in its title).
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if app.explorer.shown
        && let Some(row) = app.sweeps.selected_row()
    {
        super::explorer::render(f, app, row, area);
        return;
    }
    let [left, right] = Layout::horizontal([
        Constraint::Length(if area.width >= 110 { 40 } else { 30 }),
        Constraint::Min(0),
    ])
    .areas(area);
    let [form, list] = Layout::vertical([Constraint::Length(11), Constraint::Min(0)]).areas(left);
    render_form(f, app, form);
    render_list(f, app, list);
    match app.sweeps.selected_row() {
        Some(row) => render_jobs(f, app, row, right),
        None => f.render_widget(
            Paragraph::new(Span::styled(
                "No sweep yet. Set the objectives, seeds, k and devices here (the other settings come from the Train and K-shot forms) and press n; or run `bloodshot sweep` in a shell: its jobs show here as they run.",
                Style::default().fg(t.muted),
            ))
            .wrap(Wrap { trim: true })
            .block(block(t, "Jobs")),
            right,
        ),
    }
}

fn render_form(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let s = &app.sweeps;
    let blk = block(t, "New sweep");
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    let [fields, hint] = Layout::vertical([
        Constraint::Length(SweepField::ALL.len() as u16 + 1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let lines: Vec<Line> = SweepField::ALL
        .iter()
        .enumerate()
        .map(|(i, field)| form_line(t, i == s.field, field.label(), s.value(*field)))
        .collect();
    f.render_widget(Paragraph::new(lines), fields);
    f.render_widget(
        Paragraph::new(Span::styled(
            "n new · s run/resume · p pause · x cancel · [ ] sweep · f follow · e explore · o overlay",
            Style::default().fg(t.muted),
        ))
        .wrap(Wrap { trim: true }),
        hint,
    );
}

fn render_list(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let s = &app.sweeps;
    let owned = s.owned.as_ref().map(|o| o.0.as_str());
    let lines: Vec<Line> = if s.rows.is_empty() {
        vec![Line::from(Span::styled(
            "none yet",
            Style::default().fg(t.muted),
        ))]
    } else {
        s.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mark = if i == s.selected { "▸" } else { " " };
                let here = if owned == Some(r.sweep.id.as_str()) {
                    " ●"
                } else {
                    ""
                };
                let style = if i == s.selected {
                    Style::default().fg(t.accent).add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                Line::from(Span::styled(
                    format!(
                        "{mark}{} {}/{}{here}",
                        r.sweep.id.trim_start_matches("sweep-"),
                        r.done(),
                        r.jobs.len()
                    ),
                    style,
                ))
            })
            .collect()
    };
    f.render_widget(
        Paragraph::new(lines).block(block(t, "Sweeps (● runs here)")),
        area,
    );
}

/// Who runs the sweep, in words.
fn runner_line(app: &App, row: &SweepRow) -> String {
    if let Some((id, c)) = &app.sweeps.owned
        && *id == row.sweep.id
    {
        return if c.is_cancelled() {
            "stopping (trainings save their state)".into()
        } else if c.is_paused() {
            "paused here: running jobs finish".into()
        } else {
            "running in this console".into()
        };
    }
    match &row.runner {
        Some(r) if r.state == "running" => format!(
            "run by pid {} on {} ({})",
            r.pid,
            r.host,
            r.devices.join(",")
        ),
        Some(r) => format!("last run {} on {}", r.state, r.host),
        None => "not run yet (s runs it here)".into(),
    }
}

fn state_span(t: &Theme, state: &JobState) -> Span<'static> {
    let (text, colour) = match state {
        JobState::Done => ("done", t.good),
        JobState::Training => ("training", t.accent),
        JobState::Evaluating => ("k-shot next", t.accent),
        JobState::Resumable => ("resumable", t.warn),
        JobState::Failed(_) => ("failed", t.bad),
        JobState::Queued => ("queued", t.muted),
    };
    Span::styled(text, Style::default().fg(colour))
}

/// Below the jobs: the sweep's last message, the first failure, where Table 1 is written.
fn job_notes(app: &App, row: &SweepRow) -> Vec<Line<'static>> {
    let t = &app.theme;
    let failed: Vec<String> = row
        .jobs
        .iter()
        .filter_map(|j| match &j.state {
            JobState::Failed(m) => Some(format!("job {}: {m}", j.index + 1)),
            _ => None,
        })
        .collect();
    let mut lines = vec![];
    if let Some(m) = &app.sweeps.message {
        lines.push(Line::from(Span::styled(
            m.clone(),
            Style::default().fg(t.accent),
        )));
    }
    if let Some(first) = failed.first() {
        lines.push(Line::from(Span::styled(
            first.clone(),
            Style::default().fg(t.bad),
        )));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "Table 1 of this sweep: {}",
            row.sweep.dir(&app.runs_dir).join("table1.md").display()
        ),
        Style::default().fg(t.muted),
    )));
    lines
}

fn render_jobs(f: &mut Frame, app: &App, row: &SweepRow, area: Rect) {
    let t = &app.theme;
    let title = format!(
        "Sweep {} · {}/{} done · {}",
        row.sweep.id,
        row.done(),
        row.jobs.len(),
        runner_line(app, row)
    );
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    let [table, foot] = Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(inner);
    let bar_w = 12usize;
    let header = Row::new([
        "#",
        "objective",
        "seed",
        "state",
        "progress",
        "device",
        "epochs",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows: Vec<Row> = row
        .jobs
        .iter()
        .map(|j| {
            let job = &row.sweep.jobs[j.index];
            Row::new(vec![
                Line::from(format!("{}", j.index + 1)),
                Line::from(job.config.objective.as_str()),
                Line::from(job.config.seed.to_string()),
                Line::from(state_span(t, &j.state)),
                Line::from(Span::styled(
                    format!(
                        "{:<bar_w$} {:>3.0}%",
                        bar(j.progress, bar_w),
                        j.progress * 100.0
                    ),
                    Style::default().fg(t.accent),
                )),
                Line::from(j.device.clone().unwrap_or_else(|| "–".into())),
                Line::from(format!("{}/{}", j.epochs.0, j.epochs.1)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(3),
        Constraint::Length(16),
        Constraint::Length(4),
        Constraint::Length(11),
        Constraint::Length(bar_w as u16 + 5),
        Constraint::Length(12),
        Constraint::Length(6),
    ];
    f.render_widget(Table::new(rows, widths).header(header), table);
    let lines = job_notes(app, row);
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), foot);
}
