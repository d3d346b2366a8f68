//! K-shot tab: settings, the current draw, statistics over the draws so far, support and
//! misclassified thumbnails, the accuracy-vs-k curve and the PCA scatter.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Wrap};

use bloodshot::fewshot::evaluate::{Cell, Protocol, SweepPoint};
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::metrics::{ConfusionMatrix, histogram};
use bloodshot::fewshot::score::{Normalization, format_cosine};
use bloodshot::report::text::count;

use super::{bar, block, braille_line, form_line, strip_cell};
use crate::tui::app::App;
use crate::tui::state::kshot::{KShotField, KShotSession, StripItem};
use crate::tui::theme::Theme;

/// Draws the tab.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(35), Constraint::Min(0)]).areas(area);
    match &app.kshot.session {
        Some(s) => {
            // On short terminals the grid keeps its rows and the selected cell and drops the
            // Δ line and the legend (the grid's lines are in that priority order).
            let grid_height = if left.height >= 26 { 10 } else { 8 };
            let [form, modes] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(grid_height)]).areas(left);
            render_form(f, app, form);
            render_grid(f, app, s, modes);
        }
        None => render_form(f, app, left),
    }
    let t = &app.theme;
    match &app.kshot.session {
        None => {
            let msg = if let Some((d, n)) = app.kshot.preparing {
                vec![
                    Line::from(
                        "loading the checkpoint and embedding the target set (once per checkpoint; cached)…",
                    ),
                    Line::from(format!("{d}/{n} images")),
                    Line::from(Span::styled(
                        bar(if n > 0 { d as f64 / n as f64 } else { 0.0 }, 30),
                        Style::default().fg(t.accent),
                    )),
                ]
            } else {
                let mut lines = vec![Line::from(Span::styled(
                    "No bank drawn in this session yet. Pick a run and press p to embed the target set, then r or Space to draw support sets.",
                    Style::default().fg(t.muted),
                ))];
                // Results saved earlier (by the CLI, a sweep or another session) are named,
                // so "none yet" is not read as "none at all".
                if let Some(row) = app.kshot_run()
                    && let Some((k, label, mean, sd)) = &row.kshot
                {
                    lines.push(Line::from(""));
                    lines.push(Line::from(format!(
                        "{} has saved k-shot results; the newest: accuracy {mean:.3} ± {sd:.3} at k = {k} ({label}). All of them are on the Runs tab (Table 1) and in its report (e there).",
                        row.id
                    )));
                }
                lines
            };
            f.render_widget(
                Paragraph::new(msg)
                    .wrap(Wrap { trim: true })
                    .block(block(t, "K-shot")),
                right,
            );
        }
        Some(s) => render_session(f, app, s, right),
    }
}

/// Value of a k-shot form field as shown.
pub fn field_value(app: &App, field: KShotField) -> String {
    let o = &app.kshot.opts.0;
    match field {
        KShotField::Run => app.kshot_run().map_or("none yet".into(), |r| r.id.clone()),
        KShotField::Checkpoint => match (app.kshot.checkpoint, app.kshot_run()) {
            (Some(e), _) => format!("epoch {e}"),
            (None, Some(r)) => r
                .checkpoints
                .last()
                .map_or("none".into(), |e| format!("last (epoch {e})")),
            (None, None) => "–".into(),
        },
        KShotField::K => o.k.to_string(),
        KShotField::Draws => o.draws.to_string(),
        KShotField::Protocol => o.protocol.as_str().into(),
        // By subject applies to the pool protocol only; auto picks held-out on a target with
        // a labelled test set, and `p` then refuses it: the form says so beforehand.
        KShotField::BySubject => match (o.by_subject, o.protocol) {
            (false, _) => "no".into(),
            (true, Protocol::Pool) => "yes".into(),
            (true, _) => "yes (pool only)".into(),
        },
        KShotField::Seed => o.seed.to_string(),
        KShotField::Normalize => o.normalize.as_str().into(),
        KShotField::Method => o.method.as_str().into(),
        KShotField::Tta => match o.tta {
            bloodshot::fewshot::tta::Tta::None => "none".into(),
            t => format!("{t} (×{})", t.views()),
        },
    }
}

/// A normalisation's name in the grid, whole; `*` marks transductive ones.
fn mode_name(mode: Normalization) -> String {
    format!(
        "{}{}",
        mode.as_str(),
        if mode.transductive() { "*" } else { "" }
    )
}

/// A classifier's column heading in the grid (five columns).
fn method_heading(method: Method) -> &'static str {
    match method {
        Method::Prototype => "proto",
        Method::Logistic => "logit",
        Method::SoftKmeans => "skm*",
    }
}

/// The session's draws so far in every classifier × normalisation cell, side by side
/// (paired: same draws): accuracy per cell, coloured where the paired difference to
/// prototype · none is significant, and the selected cell's numbers in full.
fn render_grid(f: &mut Frame, app: &App, s: &KShotSession, area: Rect) {
    let t = &app.theme;
    let selected = Cell::of(&app.kshot.opts.0);
    let muted = Style::default().fg(t.muted);
    let mut heading = format!("{:<14}", "mode");
    for m in Method::ALL {
        heading.push_str(&format!(" {:>5}", method_heading(m)));
    }
    let mut lines = vec![Line::from(Span::styled(heading, muted))];
    for mode in Normalization::ALL {
        let mut spans = vec![Span::styled(
            format!("{:<14}", mode_name(mode)),
            if mode == selected.normalize {
                Style::default().fg(t.accent)
            } else {
                Style::default().fg(t.fg)
            },
        )];
        for method in Method::ALL {
            let cell = Cell {
                method,
                normalize: mode,
                ..selected
            };
            spans.push(Span::raw(" "));
            spans.push(grid_cell(t, s, cell, selected));
        }
        lines.push(Line::from(spans));
    }
    lines.extend(selected_cell_lines(t, s, selected));
    f.render_widget(
        Paragraph::new(lines).block(block(
            t,
            &match selected.tta {
                bloodshot::fewshot::tta::Tta::None => {
                    format!("Classifiers × modes · {}", count(s.done.len(), "draw"))
                }
                t => format!("tta {t} · {}", count(s.done.len(), "draw")),
            },
        )),
        area,
    );
}

/// A grid cell's accuracy, coloured where its paired difference to the first cell is
/// significant, reversed when selected.
fn grid_cell(t: &Theme, s: &KShotSession, cell: Cell, selected: Cell) -> Span<'static> {
    let i = cell.index();
    let acc = s.summary_by_cell.get(i).and_then(Option::as_ref);
    let delta = s.paired_by_cell.get(i).copied().flatten();
    let mut style = match delta {
        Some(d) if d.significant() => {
            Style::default().fg(if d.mean > 0.0 { t.good } else { t.bad })
        }
        _ => Style::default().fg(t.fg),
    };
    if cell == selected {
        style = style.add_modifier(Modifier::BOLD | Modifier::REVERSED);
    }
    let text = acc.map_or(format!("{:>6}", "–"), |a| {
        format!("{:>6}", format!("{:.3}", a.accuracy.mean))
    });
    Span::styled(text[1..].to_string(), style)
}

/// The selected cell in full: mean ± sd, its paired difference to the first cell, and
/// what the colours mean.
fn selected_cell_lines(t: &Theme, s: &KShotSession, selected: Cell) -> Vec<Line<'static>> {
    let muted = Style::default().fg(t.muted);
    let mut lines = Vec::new();
    let i = selected.index();
    let summary = s.summary_by_cell.get(i).and_then(Option::as_ref);
    lines.push(Line::from(Span::styled(
        format!(
            "▸ {}{}",
            // The title names the augmentation; the line keeps room for the numbers.
            Cell {
                tta: bloodshot::fewshot::tta::Tta::None,
                ..selected
            }
            .name(),
            summary.map_or(String::new(), |a| format!(
                " {:.3} ± {:.3}",
                a.accuracy.mean, a.accuracy.std
            ))
        ),
        Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
    )));
    let delta = match s.paired_by_cell.get(i).copied().flatten() {
        // The engine's Display says "not significant"; the box has room for "n.s.".
        Some(d) => format!(
            "  Δ {:+.3} [{:+.3}, {:+.3}]{}",
            d.mean,
            d.low,
            d.high,
            if d.significant() { "" } else { " n.s." }
        ),
        None if i == 0 => "  the baseline of every Δ".into(),
        None => "  Δ –".into(),
    };
    lines.push(Line::from(Span::styled(delta, Style::default().fg(t.fg))));
    lines.push(Line::from(Span::styled(
        if s.augmented.is_some() {
            "colour: Δ to plain p·none, CI ∌ 0"
        } else {
            "colour: Δ to proto·none, CI ∌ 0"
        },
        muted,
    )));
    lines
}

fn render_form(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = KShotField::ALL
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let mut v = field_value(app, *field);
            if v.chars().count() > 15 {
                // Run ids start with the date; the time and objective tell them apart.
                v = format!(
                    "…{}",
                    v.chars().skip(v.chars().count() - 14).collect::<String>()
                );
            }
            form_line(t, i == app.kshot.field, field.label(), v)
        })
        .collect();
    lines.push(Line::from(vec![
        Span::styled(" target        ", Style::default().fg(t.muted)),
        Span::raw(short_path(&app.target, 18)),
    ]));
    if let Some(saved) = app.other_saved_target() {
        lines.push(Line::from(Span::styled(
            format!("⚠ saved on {}: T", short_path(saved, 19)),
            Style::default().fg(t.warn),
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "p prepare · r/Space draw · a all · w sweep",
        Style::default().fg(t.muted),
    )));
    if let Some(s) = &app.kshot.session {
        lines.push(Line::from(format!(
            "epoch {} · protocol {}",
            s.epoch,
            s.prep.protocol.as_str()
        )));
        lines.push(Line::from(format!(
            "support pool {} · queries {}",
            s.prep.support_labels.len(),
            s.prep.query_labels.len()
        )));
        lines.push(Line::from(format!(
            "draw {}/{} of the bank",
            s.done.len(),
            s.bank.len()
        )));
        if let Some(c) = s.prep.collapse.filter(|c| c.collapsed()) {
            lines.push(Line::from(Span::styled(
                format!(
                    "⚠ target embeddings collapsed to one direction (mean cosine {}): scores are exact; compare normalisations (n)",
                    format_cosine(c.mean_pairwise_cosine)
                ),
                Style::default().fg(t.warn),
            )));
        }
    }
    if let Some(m) = &app.kshot.message {
        lines.push(Line::from(Span::styled(
            m.clone(),
            Style::default().fg(t.warn),
        )));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(t, "Settings")),
        area,
    );
}

/// The end of `path` in at most `width` characters, `…` marking what is cut.
fn short_path(path: &std::path::Path, width: usize) -> String {
    let text = path.display().to_string();
    let n = text.chars().count();
    if n <= width {
        return text;
    }
    let tail: String = text.chars().skip(n + 1 - width).collect();
    format!("…{tail}")
}

/// Confusion matrix as text lines (rows true, columns predicted).
pub fn confusion_lines(t: &Theme, classes: &[String], cm: &ConfusionMatrix) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(
        format!(
            "{:<7}{}",
            "true\\pred",
            classes
                .iter()
                .map(|c| format!("{:>8}", c))
                .collect::<String>()
        ),
        Style::default().fg(t.muted),
    ))];
    for (r, name) in classes.iter().enumerate() {
        let mut spans = vec![Span::styled(
            format!("{:<9}", name),
            Style::default().fg(t.class(r)),
        )];
        for c in 0..classes.len() {
            let style = if r == c {
                Style::default().fg(t.good).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(t.fg)
            };
            spans.push(Span::styled(format!("{:>8}", cm.get(r, c)), style));
        }
        out.push(Line::from(spans));
    }
    out
}

fn render_session(f: &mut Frame, app: &App, s: &KShotSession, area: Rect) {
    let t = &app.theme;
    let classes = &s.prep.classes;
    // The thumbnail strip gets what the charts below can spare: 4 rows of cells at 80×24,
    // 9 at 120×36.
    let strip_rows = area.height.saturating_sub(9 + 12).clamp(6, 14);
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(strip_rows),
        Constraint::Min(4),
    ])
    .areas(area);
    let [cur, agg, hist] = Layout::horizontal([
        Constraint::Percentage(34),
        Constraint::Percentage(38),
        Constraint::Percentage(28),
    ])
    .areas(top);

    let cl = current_draw_lines(t, classes, s);
    f.render_widget(Paragraph::new(cl).block(block(t, "Current draw")), cur);

    let al = all_draws_lines(t, classes, s);
    f.render_widget(
        Paragraph::new(al).block(block(
            t,
            &match s.done.len() {
                1 => "The one draw".to_string(),
                n => format!("All {n} draws"),
            },
        )),
        agg,
    );

    let hl = histogram_lines(t, s, hist.width.saturating_sub(12) as usize);
    f.render_widget(
        Paragraph::new(hl).block(block(t, "accuracy histogram")),
        hist,
    );

    thumb_strip(f, app, s, mid);

    let [sweep, pca] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    sweep_chart(f, app, s, sweep);
    pca_chart(f, t, s, pca);
    if app.kshot.zoom {
        zoom(f, app, s, area);
    }
}

/// The last draw: its accuracy, confusion matrix and per-class F1.
fn current_draw_lines(t: &Theme, classes: &[String], s: &KShotSession) -> Vec<Line<'static>> {
    let mut cl = vec![];
    if let Some(m) = s.done.last() {
        cl.push(Line::from(Span::styled(
            format!("draw {}: accuracy {:.3}", s.done.len(), m.accuracy),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        cl.extend(confusion_lines(t, classes, &m.confusion));
        let f1: Vec<String> = classes
            .iter()
            .zip(&m.per_class)
            .map(|(c, p)| format!("{c} {:.2}", p.f1))
            .collect();
        cl.push(Line::from(format!("F1: {}", f1.join(" · "))));
    } else {
        cl.push(Line::from("press r or Space to draw the first support set"));
    }
    cl
}

/// Over all draws so far: mean ± sd, the 95 % interval, per-class F1 and the summed
/// confusion matrix (two short lines rather than one that a 33-column box cuts).
fn all_draws_lines(t: &Theme, classes: &[String], s: &KShotSession) -> Vec<Line<'static>> {
    let mut al = vec![];
    if let Some(sum) = &s.summary {
        al.push(Line::from(Span::styled(
            format!("acc {:.3} ± {:.3}", sum.accuracy.mean, sum.accuracy.std),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        al.push(Line::from(Span::styled(
            format!(
                "95% CI {:.3}–{:.3}",
                sum.accuracy.ci95_low, sum.accuracy.ci95_high
            ),
            Style::default().fg(t.muted),
        )));
        let f1: Vec<String> = classes
            .iter()
            .zip(&sum.per_class)
            .map(|(c, p)| format!("{c} {:.2}±{:.2}", p.f1.mean, p.f1.std))
            .collect();
        al.push(Line::from(format!("F1 {}", f1.join(" "))));
        al.extend(confusion_lines(t, classes, &sum.confusion));
    } else {
        al.push(Line::from("no draws yet"));
    }
    al
}

/// A histogram of per-draw accuracy in tenths, bars `w` columns at most (the two lowest
/// bins left out while empty).
fn histogram_lines(t: &Theme, s: &KShotSession, w: usize) -> Vec<Line<'static>> {
    let mut hl = vec![];
    if let Some(sum) = &s.summary {
        let bins = histogram(&sum.draw_accuracies, 0.0, 1.0, 10);
        let max = bins.iter().copied().max().unwrap_or(1).max(1);
        for (i, b) in bins.iter().enumerate().rev() {
            if i < 2 && *b == 0 && bins[..2].iter().all(|x| *x == 0) {
                continue;
            }
            hl.push(Line::from(vec![
                Span::raw(format!(
                    "{:.1}-{:.1} ",
                    i as f64 / 10.0,
                    (i + 1) as f64 / 10.0
                )),
                Span::styled(
                    bar(*b as f64 / max as f64, w),
                    Style::default().fg(t.accent),
                ),
            ]));
        }
    }
    hl
}

/// Label of a strip cell: the class of a support image, `true→predicted` of a miss.
fn strip_label(classes: &[String], item: &StripItem, width: usize) -> String {
    let name = |c: usize| classes.get(c).cloned().unwrap_or_else(|| "?".into());
    let full = match item {
        StripItem::Support { class, .. } => name(*class),
        StripItem::Miss { truth, pred, .. } => format!("{}→{}", name(*truth), name(*pred)),
    };
    if full.chars().count() <= width {
        return full;
    }
    match item {
        // Initials keep a miss readable in a narrow cell.
        StripItem::Miss { truth, pred, .. } => {
            let initial = |c: usize| name(c).chars().next().unwrap_or('?');
            format!("{}→{}", initial(*truth), initial(*pred))
        }
        StripItem::Support { .. } => full.chars().take(width).collect(),
    }
}

/// Support images (per class) and misclassified queries of the current draw, as large as
/// the strip's height allows (square: two pixels per row, one per column); when they do not
/// all fit they shrink down to six rows, then the strip scrolls to keep the selection shown.
fn thumb_strip(f: &mut Frame, app: &App, s: &KShotSession, area: Rect) {
    let t = &app.theme;
    let classes = &s.prep.classes;
    let items = s.strip();
    let selected = app.kshot.thumb.min(items.len().saturating_sub(1));
    let title = format!(
        "support set (per class) · misclassified queries ({}) · [ ] select · z enlarge",
        s.thumbs_cell.name()
    );
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    if items.is_empty() || inner.height < 2 || inner.width < 4 {
        return;
    }
    // Cells stay at least 6 rows tall (a nucleus stays visible); the strip scrolls instead.
    let (rows, cols) = strip_cell(inner.width, inner.height - 1, items.len(), 6);
    let per_view = (inner.width / (cols + 1)).max(1) as usize;
    let first = selected.saturating_sub(per_view - 1);
    for (slot, (i, item)) in items
        .iter()
        .enumerate()
        .skip(first)
        .take(per_view)
        .enumerate()
    {
        let x = inner.x + slot as u16 * (cols + 1);
        crate::tui::thumb::render(f, item.thumb(), Rect::new(x, inner.y, cols, rows));
        let colour = match item {
            StripItem::Support { class, .. } => t.class(*class),
            StripItem::Miss { .. } => t.bad,
        };
        let mut style = Style::default().fg(colour);
        if i == selected {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        }
        f.render_widget(
            Paragraph::new(Span::styled(
                strip_label(classes, item, cols as usize),
                style,
            )),
            Rect::new(x, inner.y + rows, cols, 1),
        );
    }
    if first + per_view < items.len() {
        let more = format!("+{}", items.len() - first - per_view);
        let w = more.len() as u16;
        f.render_widget(
            Paragraph::new(Span::styled(more, Style::default().fg(t.muted))),
            Rect::new(inner.right().saturating_sub(w), inner.y + rows, w, 1),
        );
    }
}

/// The selected cell, enlarged over the session view.
fn zoom(f: &mut Frame, app: &App, s: &KShotSession, area: Rect) {
    let t = &app.theme;
    let items = s.strip();
    let Some(item) = items.get(app.kshot.thumb) else {
        return;
    };
    let classes = &s.prep.classes;
    let name = |c: usize| classes.get(c).cloned().unwrap_or_else(|| "?".into());
    let what = match item {
        StripItem::Support { class, .. } => format!("support · {}", name(*class)),
        StripItem::Miss { truth, pred, .. } => {
            format!(
                "misclassified · true {} · predicted {}",
                name(*truth),
                name(*pred)
            )
        }
    };
    let name = &item.thumb().name;
    let title = format!(
        "{what}{}{name} · {}/{} · z/Esc close",
        if name.is_empty() { "" } else { " · " },
        app.kshot.thumb + 1,
        items.len()
    );
    f.render_widget(ratatui::widgets::Clear, area);
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    // Square on screen: two pixels per row, one per column.
    let rows = inner.height.min(inner.width / 2);
    let cols = 2 * rows;
    let x = inner.x + (inner.width - cols) / 2;
    crate::tui::thumb::render(f, item.thumb(), Rect::new(x, inner.y, cols, rows));
}

/// The largest k of any classifier's curve (1 when there are none).
fn largest_k(by_method: &[Vec<SweepPoint>]) -> usize {
    by_method.iter().flatten().map(|p| p.k).max().unwrap_or(1)
}

/// The accuracy-vs-k legend for the bottom border: each classifier in its colour, then
/// whose intervals the dots are.
fn sweep_legend(t: &Theme, colours: [Color; 3], selected: Cell) -> Line<'static> {
    let mut legend: Vec<Span> = Method::ALL
        .iter()
        .zip(colours)
        .map(|(m, c)| Span::styled(format!("━{m} "), Style::default().fg(c)))
        .collect();
    legend.push(Span::styled(
        format!("· CI {}", selected.method),
        Style::default().fg(t.raw_series),
    ));
    Line::from(legend)
}

/// Accuracy vs k: one line per classifier (each on the same banks), the selected one bold
/// with its 95 % CI as dots; the legend names them.
fn sweep_chart(f: &mut Frame, app: &App, s: &KShotSession, area: Rect) {
    let t = &app.theme;
    let selected = Cell::of(&app.kshot.opts.0);
    let Some(sweep) = s.sweep.as_ref().filter(|sw| sw.shows(selected)) else {
        let msg = if app.kshot.sweeping {
            "running the sweep…"
        } else {
            "press w for the accuracy-vs-k curves (every classifier)"
        };
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .block(block(t, "accuracy vs k")),
            area,
        );
        return;
    };
    let colours = [t.smooth_series, t.second_series, t.third_series];
    let series = |points: &[SweepPoint], value: fn(&SweepPoint) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.k as f64, value(p))).collect()
    };
    let lines: Vec<(Method, Vec<(f64, f64)>)> = Method::ALL
        .iter()
        .zip(&sweep.by_method)
        .map(|(&m, pts)| (m, series(pts, |p| p.summary.accuracy.mean)))
        .collect();
    let chosen = s.sweep_points(selected);
    let lo = series(chosen, |p| p.summary.accuracy.ci95_low);
    let hi = series(chosen, |p| p.summary.accuracy.ci95_high);
    let mut datasets: Vec<Dataset> = lines
        .iter()
        .zip(colours)
        .map(|((m, data), colour)| {
            let style = Style::default().fg(colour);
            let bold = style.add_modifier(Modifier::BOLD);
            braille_line(
                m.as_str(),
                data,
                if *m == selected.method { bold } else { style },
            )
        })
        .collect();
    for ci in [&lo, &hi] {
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(Style::default().fg(t.raw_series))
                .data(ci),
        );
    }
    let kmax = largest_k(&sweep.by_method) as f64;
    let chart = Chart::new(datasets)
        .block(
            super::block_titled(
                t,
                Line::from(format!("accuracy vs k · {}", selected.normalize)),
            )
            .title_bottom(sweep_legend(t, colours, selected)),
        )
        .legend_position(None)
        .x_axis(
            Axis::default()
                .title("k")
                .bounds([1.0, kmax.max(2.0)])
                .labels(vec![Line::from("1"), Line::from(format!("{kmax}"))])
                .style(Style::default().fg(t.muted)),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, 1.0])
                .labels(vec![Line::from("0"), Line::from("0.5"), Line::from("1")])
                .style(Style::default().fg(t.muted)),
        );
    f.render_widget(chart, area);
}

fn pca_chart(f: &mut Frame, t: &Theme, s: &KShotSession, area: Rect) {
    let p = &s.pca;
    if p.points.iter().all(|v| v.is_empty()) {
        f.render_widget(
            Paragraph::new("PCA appears after the first draw")
                .block(block(t, "PCA of target embeddings")),
            area,
        );
        return;
    }
    let all = p.points.iter().flatten().chain(p.prototypes.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let pad = |a: f64, b: f64| {
        if (b - a).abs() < 1e-9 {
            (a - 1.0, b + 1.0)
        } else {
            (a, b)
        }
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    let protos: Vec<Vec<(f64, f64)>> = p.prototypes.iter().map(|pt| vec![*pt]).collect();
    let mut sets: Vec<Dataset> = p
        .points
        .iter()
        .enumerate()
        .map(|(c, pts)| {
            Dataset::default()
                .name(s.prep.classes.get(c).cloned().unwrap_or_default())
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(Style::default().fg(t.class(c)))
                .data(pts)
        })
        .collect();
    for (c, pt) in protos.iter().enumerate() {
        sets.push(
            Dataset::default()
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(Style::default().fg(t.class(c)).add_modifier(Modifier::BOLD))
                .data(pt),
        );
    }
    // The legend on the bottom border: each class in its colour, and what the blocks are.
    let mut legend: Vec<Span> = s
        .prep
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| Span::styled(format!("• {name} "), Style::default().fg(t.class(c))))
        .collect();
    legend.push(Span::styled("█ class means", Style::default().fg(t.muted)));
    let chart = Chart::new(sets)
        .block(
            super::block_titled(t, Line::from("PCA of target embeddings · PC1 × PC2"))
                .title_bottom(Line::from(legend)),
        )
        .legend_position(None)
        .x_axis(
            Axis::default()
                .bounds([x0, x1])
                .style(Style::default().fg(t.muted)),
        )
        .y_axis(
            Axis::default()
                .bounds([y0, y1])
                .style(Style::default().fg(t.muted)),
        );
    f.render_widget(chart, area);
}
