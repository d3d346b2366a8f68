//! Train tab, overlay: several runs' curves on one chart, one colour per run — or per seed
//! group, its ±1 sd band filled faint behind the mean — with the pinned baseline, a legend
//! naming what differs between them, and a table of their last values.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Chart, Dataset, GraphType, Paragraph, Wrap};

use bloodshot::report::compare::{self, Curves, Metric, band, ema};

use super::{block, block_titled, chart_axes};
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// One line of the overlay: a run, a seed group, or the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What differs, in words (`aam · seed 1`), or the run id when nothing does.
    pub label: String,
    /// Colour.
    pub colour: Color,
    /// Runs behind it (the seed group's size; 1 for a run).
    pub n: usize,
    /// The smoothed values (the group's mean of smoothed values).
    pub values: Vec<f64>,
    /// The raw values, drawn faint behind when smoothing (single runs only).
    pub raw: Option<Vec<f64>>,
    /// The group's mean ± 1 sd, point by point.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Last raw value: the mean over the group's runs and their sd (0 for one run).
    pub last: Option<(f64, f64)>,
    /// Best validation accuracy (the group's mean of each run's best).
    pub best_val: Option<f64>,
    /// Epochs done (the most in the group).
    pub epochs: usize,
    /// The pinned baseline.
    pub baseline: bool,
}

/// The overlay's lines as drawn: the baseline first (when pinned), then each run — or each
/// seed group, in the order of its first run.
pub fn entries(app: &App) -> Vec<Entry> {
    let c = &app.compare;
    let (metric, w, t) = (c.metric, smoothing(app), &app.theme);
    let mut runs: Vec<&Curves> = c.curves.iter().collect();
    let baseline = c
        .baseline
        .as_ref()
        .filter(|b| c.baseline_path.as_ref() == Some(&b.path));
    if let Some(b) = baseline {
        runs.retain(|r| r.path != b.path);
    }
    let all: Vec<&bloodshot::runs::TrainConfig> = baseline
        .iter()
        .chain(runs.iter())
        .map(|r| &r.config)
        .collect();
    let mut out = vec![];
    if let Some(b) = baseline {
        let fields = compare::differing(&all);
        let mut e = run_entry(b, metric, w, label_of(b, &fields), t.fg);
        e.label = format!("baseline · {}", e.label);
        e.baseline = true;
        out.push(e);
    }
    let colour = |i: usize| t.class(i);
    if c.seed_bands {
        let configs: Vec<&bloodshot::runs::TrainConfig> = runs.iter().map(|r| &r.config).collect();
        let groups = compare::seed_groups(&configs);
        let reps: Vec<&bloodshot::runs::TrainConfig> =
            groups.iter().map(|g| configs[g.members[0]]).collect();
        let mut fields = compare::differing(&reps);
        fields.retain(|f| *f != "seed");
        for (i, g) in groups.iter().enumerate() {
            let members: Vec<&Curves> = g.members.iter().map(|&m| runs[m]).collect();
            let mut label = compare::label(reps[i], &fields);
            if label.is_empty() {
                label = g.objective.as_str().into();
            }
            out.push(group_entry(&members, metric, w, label, colour(i)));
        }
    } else {
        let fields = compare::differing(&all);
        for (i, r) in runs.iter().enumerate() {
            out.push(run_entry(r, metric, w, label_of(r, &fields), colour(i)));
        }
    }
    out
}

fn label_of(r: &Curves, fields: &[&str]) -> String {
    let l = compare::label(&r.config, fields);
    if l.is_empty() { r.id.clone() } else { l }
}

fn run_entry(r: &Curves, metric: Metric, w: f64, label: String, colour: Color) -> Entry {
    let raw = r.series(metric);
    Entry {
        label,
        colour,
        n: 1,
        values: ema(&raw, w),
        last: raw.last().map(|v| (*v, 0.0)),
        raw: (w > 0.0).then_some(raw),
        band: None,
        best_val: r.best_val_accuracy(),
        epochs: r.epochs.len(),
        baseline: false,
    }
}

fn group_entry(members: &[&Curves], metric: Metric, w: f64, label: String, colour: Color) -> Entry {
    let smoothed: Vec<Vec<f64>> = members.iter().map(|r| ema(&r.series(metric), w)).collect();
    let b = band(&smoothed);
    let lo = b.mean.iter().zip(&b.sd).map(|(m, s)| m - s).collect();
    let hi = b.mean.iter().zip(&b.sd).map(|(m, s)| m + s).collect();
    let lasts: Vec<Vec<f64>> = members
        .iter()
        .filter_map(|r| r.series(metric).last().map(|v| vec![*v]))
        .collect();
    let last = band(&lasts);
    let bests: Vec<Vec<f64>> = members
        .iter()
        .filter_map(|r| r.best_val_accuracy().map(|v| vec![v]))
        .collect();
    Entry {
        label,
        colour,
        n: members.len(),
        values: b.mean,
        raw: None,
        band: Some((lo, hi)),
        last: last.mean.first().map(|m| (*m, last.sd[0])),
        best_val: band(&bests).mean.first().copied(),
        epochs: members.iter().map(|r| r.epochs.len()).max().unwrap_or(0),
        baseline: false,
    }
}

/// The smoothing weight of the overlay's curve: the chart's for the per-step loss; none for
/// per-epoch values (each already a mean over an epoch, and a handful of points that an EMA
/// would drag far behind their last value).
fn smoothing(app: &App) -> f64 {
    if app.compare.metric == Metric::StepLoss {
        app.train.chart.smoothing
    } else {
        0.0
    }
}

/// Draws the overlay over the whole Train tab.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let c = &app.compare;
    let source = c
        .source
        .as_ref()
        .map_or("baseline".into(), |(s, _)| s.describe());
    let w = smoothing(app);
    let title = format!(
        "Compare {} · {} · {}{}{}",
        source,
        c.metric.label(),
        if w > 0.0 {
            format!("EMA {w:.2}")
        } else {
            "raw".into()
        },
        if app.train.chart.log_y && c.metric.is_loss() {
            " · log"
        } else {
            ""
        },
        if c.seed_bands {
            " · seed groups: mean ± sd"
        } else {
            ""
        },
    );
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    let list = entries(app);
    let drawn = list.iter().any(|e| !e.values.is_empty());
    if !drawn {
        let why = if c.pending {
            "reading the runs…".to_string()
        } else if list.is_empty() {
            "none of these runs has started yet".to_string()
        } else {
            format!(
                "no {} recorded yet in these runs (c: next curve)",
                c.metric.label()
            )
        };
        let mut lines = vec![Line::from(Span::styled(why, Style::default().fg(t.muted)))];
        lines.extend(
            c.unreadable
                .iter()
                .map(|u| Line::from(Span::styled(u.clone(), Style::default().fg(t.bad)))),
        );
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    let table_rows = (list.len() + 1 + usize::from(!c.unreadable.is_empty())).min(9) as u16;
    let [chart_area, table_area, keys] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(table_rows),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(Span::styled(
            "o back to the run · c next curve · g seed groups · b baseline · < > smoothing · L log",
            Style::default().fg(t.muted),
        )),
        keys,
    );
    chart(f, app, &list, chart_area);
    table(f, t, c.metric, &list, &c.unreadable, table_area);
}

/// The y range of everything drawn: a little beyond the values, from 0 for losses on a
/// linear axis, positive values only on a log axis.
fn y_range(list: &[Entry], metric: Metric, log: bool) -> (f64, f64) {
    let every = || {
        list.iter().flat_map(|e| {
            let band = e
                .band
                .iter()
                .flat_map(|(lo, hi)| lo.iter().chain(hi.iter()));
            e.values
                .iter()
                .chain(e.raw.iter().flatten())
                .chain(band)
                .copied()
                .filter(|v| v.is_finite() && (!log || *v > 0.0))
        })
    };
    let lo = every().fold(f64::INFINITY, f64::min);
    let hi = every().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.05 * lo.abs().max(0.1), hi + 0.05 * hi.abs().max(0.1))
    } else if log {
        (lo / 1.05, hi * 1.05)
    } else {
        let pad = 0.05 * (hi - lo);
        let lo = if metric.is_loss() {
            (lo - pad).max(0.0)
        } else {
            lo - pad
        };
        (lo, hi + pad)
    }
}

fn chart(f: &mut Frame, app: &App, list: &[Entry], area: Rect) {
    let t = &app.theme;
    let metric = app.compare.metric;
    let log = app.train.chart.log_y && metric.is_loss();
    let y = |v: f64| if log { v.max(1e-6).log10() } else { v };
    let (lo, hi) = y_range(list, metric, log);
    let len = list.iter().map(|e| e.values.len()).max().unwrap_or(0);
    let x_max = (len as f64).max(2.0);
    let pts = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, v)| (i as f64 + 1.0, y(*v)))
            .collect()
    };
    let cols = area.width.saturating_sub(8) as usize * 2;
    let rows = area.height.saturating_sub(3) as usize * 4;
    let bands: Vec<Vec<(f64, f64)>> = list
        .iter()
        .map(|e| {
            e.band.as_ref().map_or(vec![], |(l, h)| {
                band_points(l, h, &y, x_max, cols, (y(lo), y(hi)), rows)
            })
        })
        .collect();
    let raws: Vec<Vec<(f64, f64)>> = list
        .iter()
        .map(|e| e.raw.as_deref().map_or(vec![], pts))
        .collect();
    let means: Vec<Vec<(f64, f64)>> = list.iter().map(|e| pts(&e.values)).collect();
    let sets = datasets(t, list, [&bands, &raws, &means]);
    let block = block_titled(
        t,
        Line::from(Span::styled(
            metric.label(),
            Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
        )),
    )
    .title_bottom(Line::from(legend(list)));
    let chart = chart_axes(
        Chart::new(sets).block(block),
        t,
        metric.unit(),
        len,
        (y(lo), y(hi)),
        (lo, hi),
    );
    f.render_widget(chart, area);
}

/// `c` halfway to the theme's faint colour (the raw series'), so a band or a raw line sits
/// behind its bold line in a recognisably related shade; colours that are not RGB become the
/// faint colour itself.
pub fn faint(t: &Theme, c: Color) -> Color {
    match (c, t.raw_series) {
        (Color::Rgb(r, g, b), Color::Rgb(fr, fg, fb)) => {
            let mix = |a: u8, b: u8| ((u16::from(a) + u16::from(b)) / 2) as u8;
            Color::Rgb(mix(r, fr), mix(g, fg), mix(b, fb))
        }
        _ => t.raw_series,
    }
}

/// The chart's datasets from each entry's band points, raw points and mean points: bands,
/// then raw values, then the means (later datasets are drawn on top), the baseline last.
fn datasets<'a>(
    t: &Theme,
    list: &[Entry],
    [bands, raws, means]: [&'a [Vec<(f64, f64)>]; 3],
) -> Vec<Dataset<'a>> {
    // Charts colour their dots but ignore modifiers such as DIM: faint is a colour.
    let faint_style = |c: Color| Style::default().fg(faint(t, c));
    let set = |graph, style, data: &'a [(f64, f64)]| {
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(graph)
            .style(style)
            .data(data)
    };
    let mut sets = vec![];
    for (e, p) in list.iter().zip(bands) {
        sets.push(set(GraphType::Scatter, faint_style(e.colour), p));
    }
    for (e, p) in list.iter().zip(raws) {
        sets.push(set(GraphType::Line, faint_style(e.colour), p));
    }
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by_key(|&i| list[i].baseline);
    for i in order {
        let bold = Style::default()
            .fg(list[i].colour)
            .add_modifier(Modifier::BOLD);
        sets.push(set(GraphType::Line, bold, &means[i]));
    }
    sets
}

/// The legend on the chart's bottom border: each line's colour and label, with n for a
/// seed group.
fn legend(list: &[Entry]) -> Vec<Span<'static>> {
    list.iter()
        .map(|e| {
            let n = if e.n > 1 {
                format!(" n={}", e.n)
            } else {
                String::new()
            };
            Span::styled(format!("━{}{n} ", e.label), Style::default().fg(e.colour))
        })
        .collect()
}

/// Points filling the band between `lo` and `hi` (values per 1-based x), interpolated
/// between points, on a grid of about `cols` × `rows` braille dots.
fn band_points(
    lo: &[f64],
    hi: &[f64],
    y: &dyn Fn(f64) -> f64,
    x_max: f64,
    cols: usize,
    (y_lo, y_hi): (f64, f64),
    rows: usize,
) -> Vec<(f64, f64)> {
    let n = lo.len().min(hi.len());
    if n == 0 || cols == 0 || rows == 0 {
        return vec![];
    }
    let at = |v: &[f64], p: f64| {
        let i = p.floor() as usize;
        let frac = p - i as f64;
        match (v.get(i), v.get(i + 1)) {
            (Some(a), Some(b)) => Some(a + (b - a) * frac),
            (Some(a), None) if frac < 1e-9 => Some(*a),
            _ => None,
        }
    };
    let dy = (y_hi - y_lo) / rows as f64;
    let mut out = vec![];
    for c in 0..=cols {
        let x = 1.0 + (x_max - 1.0) * c as f64 / cols as f64;
        let (Some(l), Some(h)) = (at(lo, x - 1.0), at(hi, x - 1.0)) else {
            continue;
        };
        let (mut v, top) = (y(l), y(h));
        while v <= top {
            out.push((x, v));
            v += dy;
        }
    }
    out
}

fn table(f: &mut Frame, t: &Theme, metric: Metric, list: &[Entry], bad: &[String], area: Rect) {
    let width = area.width as usize;
    let label_w = width.saturating_sub(44).clamp(12, 48);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "   {:<label_w$} {:>3}  {:>15}  {:>8}  {:>6}",
            "run / seed group",
            "n",
            format!("last {}", short(metric)),
            "best val",
            "epochs"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for e in list {
        let name: String = if e.label.chars().count() > label_w {
            let cut: String = e.label.chars().take(label_w.saturating_sub(1)).collect();
            format!("{cut}…")
        } else {
            e.label.clone()
        };
        let last = e.last.map_or("–".into(), |(m, s)| {
            if e.n > 1 {
                format!("{m:.3} ± {s:.3}")
            } else {
                format!("{m:.3}")
            }
        });
        lines.push(Line::from(vec![
            Span::styled("━━ ", Style::default().fg(e.colour)),
            Span::raw(format!(
                "{name:<label_w$} {:>3}  {last:>15}  {:>8}  {:>6}",
                e.n,
                e.best_val.map_or("–".into(), |v| format!("{v:.3}")),
                e.epochs
            )),
        ]));
    }
    if let Some(first) = bad.first() {
        lines.push(Line::from(Span::styled(
            format!("not read: {first}"),
            Style::default().fg(t.bad),
        )));
    }
    f.render_widget(Paragraph::new(lines), area);
}

fn short(m: Metric) -> &'static str {
    match m {
        Metric::StepLoss => "loss",
        Metric::TrainLoss => "train loss",
        Metric::ValLoss => "val loss",
        Metric::TrainAccuracy => "train acc",
        Metric::ValAccuracy => "val acc",
    }
}
