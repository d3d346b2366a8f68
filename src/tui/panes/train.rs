//! Train tab: the run form on the left, the live dashboard on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Chart, Paragraph, Sparkline, Wrap};

use super::{bar, block, block_titled, braille_line, chart_axes, duration, form_line};
use crate::tui::app::App;
use crate::tui::state::train::{ChartView, TrainField, TrainPhase, TrainView};
use crate::tui::theme::Theme;
use bloodshot::report::compare::{Curves, ema};

/// Draws the tab: the form and the dashboard, or the overlay of several runs.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    if app.compare.shown {
        super::compare::render(f, app, area);
        return;
    }
    let [form, dash] = Layout::horizontal([Constraint::Length(32), Constraint::Min(0)]).areas(area);
    render_form(f, app, form);
    // The pinned baseline, unless it is the run shown.
    let baseline = app
        .compare
        .baseline
        .as_ref()
        .filter(|b| app.train.view.run_dir.as_ref() != Some(&b.path));
    render_dashboard(
        f,
        &app.theme,
        &app.train.view,
        (app.train.chart, baseline),
        dash,
    );
}

/// Value of a form field as shown.
pub fn field_value(app: &App, field: TrainField) -> String {
    let c = &app.train.form;
    match field {
        TrainField::Objective => c.objective.as_str().into(),
        TrainField::Epochs => c.epochs.to_string(),
        TrainField::BatchSize => c.batch_size.to_string(),
        TrainField::Lr => format!("{:e}", c.lr),
        TrainField::ImageSize => format!("{} px", c.image_size),
        TrainField::Margin => format!("{:.2}", c.aam.margin),
        TrainField::Scale => format!("{}", c.aam.scale),
        TrainField::Lambda => format!("{:.2}", c.lambda),
        TrainField::Seed => c.seed.to_string(),
        TrainField::Limit => c.limit_per_class.map_or("all".into(), |l| l.to_string()),
        TrainField::Device => c.device.to_string(),
        TrainField::Init => c.init.as_ref().map_or("random".into(), |p| {
            let name: String = p
                .file_name()
                .map_or(p.display().to_string(), |n| n.to_string_lossy().into());
            // Run ids start with the date; the time and objective tell them apart.
            match name.chars().count() {
                n if n > 15 => format!("…{}", name.chars().skip(n - 14).collect::<String>()),
                _ => name,
            }
        }),
    }
}

fn render_form(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = TrainField::ALL
        .iter()
        .enumerate()
        .map(|(i, field)| {
            form_line(
                t,
                i == app.train.field,
                field.label(),
                field_value(app, *field),
            )
        })
        .collect();
    lines.push(Line::from(""));
    let hint = if app.train.view.active() {
        "x: stop after epoch"
    } else {
        "s: start   ←/→: change"
    };
    lines.push(Line::from(Span::styled(hint, Style::default().fg(t.muted))));
    lines.push(Line::from(Span::styled(
        format!("base: {}", app.base.display()),
        Style::default().fg(t.muted),
    )));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(t, "New run")),
        area,
    );
}

/// Phase line of the dashboard.
pub fn phase_line(t: &Theme, v: &TrainView) -> Line<'static> {
    match &v.phase {
        TrainPhase::Idle => Line::from(Span::styled(
            "No training in this session yet: set the form and press s. Resume an earlier run from the Runs tab (R).",
            Style::default().fg(t.muted),
        )),
        TrainPhase::Starting => Line::from(Span::styled(
            "starting: scanning the base set, opening the device…",
            Style::default().fg(t.warn),
        )),
        TrainPhase::WarmingUp(what) => Line::from(Span::styled(
            format!("warming up — {what}"),
            Style::default().fg(t.warn).add_modifier(Modifier::BOLD),
        )),
        TrainPhase::Running => Line::from(Span::styled("training", Style::default().fg(t.good))),
        TrainPhase::Validating(e) => Line::from(Span::styled(
            format!("validating epoch {e}"),
            Style::default().fg(t.accent),
        )),
        TrainPhase::Finished {
            last_epoch,
            stopped,
        } => Line::from(Span::styled(
            if *stopped {
                format!("stopped after epoch {last_epoch} (resumable from the Runs tab)")
            } else {
                format!(
                    "finished: {}",
                    bloodshot::report::text::count(*last_epoch, "epoch")
                )
            },
            Style::default().fg(t.good).add_modifier(Modifier::BOLD),
        )),
        TrainPhase::Failed(m) => Line::from(Span::styled(
            format!("failed: {m}"),
            Style::default().fg(t.bad).add_modifier(Modifier::BOLD),
        )),
    }
}

fn render_dashboard(
    f: &mut Frame,
    t: &Theme,
    v: &TrainView,
    (chart, baseline): (ChartView, Option<&Curves>),
    area: Rect,
) {
    let title = v
        .run_id
        .clone()
        .map(|id| {
            if v.watched {
                format!("Run {id} · watching: trained by another process")
            } else {
                format!("Run {id}")
            }
        })
        .unwrap_or_else(|| "Dashboard".into());
    let blk = block(t, &title);
    let inner = blk.inner(area);
    f.render_widget(blk, area);
    let head_lines = head_lines(t, v);
    // Sentences (the phase, a failure, the last warning) wrap rather than being cut: the head
    // gets the rows its wrapped lines need (at least 4, at most 7).
    let width = inner.width.max(1) as usize;
    let rows: usize = head_lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_rows(&text, width)
        })
        .sum();
    let [head, charts, table] = Layout::vertical([
        Constraint::Length(rows.clamp(4, 7) as u16),
        Constraint::Min(6),
        Constraint::Length(7),
    ])
    .areas(inner);
    let head_text = Paragraph::new(head_lines).wrap(ratatui::widgets::Wrap { trim: true });
    f.render_widget(head_text, head);

    let [loss_area, acc_area] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(charts);
    loss_chart(f, t, v, (chart, baseline), loss_area);
    let system = system_lines(t, v, acc_area.width.saturating_sub(16) as usize);
    let [spark, acc_txt, system_area] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(2),
        Constraint::Length(system.len() as u16),
    ])
    .areas(acc_area);
    f.render_widget(Paragraph::new(system), system_area);
    accuracy(f, t, v, spark, acc_txt);
    epoch_table(f, t, v, table);
}

/// The phase, progress, device and last warning of the run shown.
fn head_lines(t: &Theme, v: &TrainView) -> Vec<Line<'static>> {
    let warning = v
        .warnings
        .last()
        .filter(|_| v.run_id.is_some())
        .map(|w| format!("⚠ {} warning(s); last: {w}", v.warnings.len()));

    let (e, s) = v.at;
    let frac = if v.steps_per_epoch > 0 {
        s as f64 / v.steps_per_epoch as f64
    } else {
        0.0
    };
    let eta = v.eta_seconds().map_or("ETA after warm-up".into(), |x| {
        format!("ETA {}", duration(x))
    });
    let mut head_lines = vec![phase_line(t, v)];
    if v.run_id.is_some() {
        head_lines.push(Line::from(vec![
            Span::raw(format!(
                "epoch {e}/{} step {s}/{} ",
                v.epochs.1, v.steps_per_epoch
            )),
            Span::styled(bar(frac, 20), Style::default().fg(t.accent)),
            Span::raw(format!(" {eta} · {:.1} img/s", v.images_per_sec)),
        ]));
        head_lines.push(Line::from(Span::styled(
            format!(
                "device {} · {} classes · train/val/test {}/{}/{}{}",
                v.device,
                v.classes.len(),
                v.split_sizes[0],
                v.split_sizes[1],
                v.split_sizes[2],
                match &v.gpu {
                    None => String::new(),
                    Some(Ok(g)) => format!(" · {}", g.describe()),
                    Some(Err(e)) => format!(" · {e}"),
                }
            ),
            Style::default().fg(t.muted),
        )));
        if let Some(w) = warning {
            head_lines.push(Line::from(Span::styled(w, Style::default().fg(t.warn))));
        }
    }
    head_lines
}

/// Batch accuracy as a sparkline, then the last batch's and epoch's accuracies.
fn accuracy(f: &mut Frame, t: &Theme, v: &TrainView, spark: Rect, text: Rect) {
    let acc: Vec<u64> = v
        .accuracy
        .iter()
        .map(|a| (a * 100.0).round() as u64)
        .collect();
    let shown = &acc[acc
        .len()
        .saturating_sub(spark.width.saturating_sub(2) as usize)..];
    f.render_widget(
        Sparkline::default()
            .block(block(t, "batch accuracy"))
            .data(shown)
            .max(100)
            .style(Style::default().fg(t.second_series)),
        spark,
    );
    let last_epoch = v.epoch_table.last();
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "last batch acc {}",
                v.accuracy.last().map_or("–".into(), |a| format!("{a:.2}"))
            )),
            Line::from(format!(
                "train/val acc {} {}",
                last_epoch.map_or("–".into(), |e| format!(
                    "{:.3} / {:.3}",
                    e.train_accuracy, e.val_accuracy
                )),
                spark_text(
                    &v.epoch_table
                        .iter()
                        .map(|e| e.val_accuracy)
                        .collect::<Vec<_>>()
                )
            )),
        ]),
        text,
    );
}

/// The training process's history from the run folder, a sparkline and the last value per
/// line: CPU, resident memory and, on an NVIDIA GPU with NVML, its utilisation and memory.
/// Nothing before the first sample.
fn system_lines(t: &Theme, v: &TrainView, width: usize) -> Vec<Line<'static>> {
    let Some(last) = v.system.last() else {
        return vec![];
    };
    // The last `width` samples, scaled to their own maximum.
    let tail = |values: Vec<f64>| -> String {
        let shown = &values[values.len().saturating_sub(width.max(1))..];
        let max = shown.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        spark_text(&shown.iter().map(|v| v / max).collect::<Vec<_>>())
    };
    let series = |f: fn(&bloodshot::train::system::SystemSample) -> Option<f64>| -> Vec<f64> {
        v.system.iter().filter_map(f).collect()
    };
    let muted = Style::default().fg(t.muted);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("cpu ", muted),
            Span::styled(
                tail(series(|s| Some(s.cpu_percent))),
                Style::default().fg(t.third_series),
            ),
            Span::raw(format!(" {:.0} %", last.cpu_percent)),
        ]),
        Line::from(vec![
            Span::styled("rss ", muted),
            Span::styled(
                tail(series(|s| Some(s.rss_mb))),
                Style::default().fg(t.third_series),
            ),
            Span::raw(format!(" {:.0} MB", last.rss_mb)),
        ]),
    ];
    if let (Some(util), Some(mem)) = (last.gpu_percent, last.gpu_mem_mb) {
        lines.push(Line::from(vec![
            Span::styled("gpu ", muted),
            Span::styled(
                tail(series(|s| s.gpu_percent.map(f64::from))),
                Style::default().fg(t.second_series),
            ),
            Span::raw(format!(" {util} % {:.1} GB", mem / 1024.0)),
        ]));
    }
    lines
}

/// Where value `x` is drawn: as log10 on a log axis (the labels say the values).
fn on_axis(x: f64, log_y: bool) -> f64 {
    if log_y { x.max(1e-6).log10() } else { x }
}

/// The loss axis' range over the finite values, 5 % beyond them: from 0 on a linear axis,
/// from the smallest positive value on a log axis.
fn loss_range(finite: impl Iterator<Item = f64> + Clone, log_y: bool) -> (f64, f64) {
    let hi = finite.clone().fold(0.0f64, f64::max).max(1e-6);
    if !log_y {
        return (0.0, hi * 1.05);
    }
    let lo = finite.filter(|x| *x > 0.0).fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() { lo.min(hi) } else { hi };
    (lo / 1.05, hi * 1.05)
}

fn loss_chart(
    f: &mut Frame,
    t: &Theme,
    v: &TrainView,
    (view, baseline): (ChartView, Option<&Curves>),
    area: Rect,
) {
    if v.loss.is_empty() && baseline.is_none() {
        f.render_widget(
            Paragraph::new("loss curves appear after the first step").block(block(t, "loss")),
            area,
        );
        return;
    }
    let y = |x: f64| on_axis(x, view.log_y);
    let pts = |vals: &[f64]| -> Vec<(f64, f64)> {
        vals.iter()
            .enumerate()
            .map(|(i, v)| (i as f64 + 1.0, y(*v)))
            .collect()
    };
    let w = view.smoothing;
    let raw = pts(&v.loss);
    let sm = pts(&ema(&v.loss, w));
    let cons = pts(&ema(&v.consistency, w));
    let metric = pts(&ema(&v.metric_loss, w));
    let has_cons = v.consistency.iter().any(|c| *c > 0.0);
    let base_loss = baseline.map_or(vec![], |b| ema(&b.step_loss, w));
    let base = pts(&base_loss);
    let finite = v
        .loss
        .iter()
        .chain(base_loss.iter())
        .chain(v.consistency.iter().filter(|_| has_cons))
        .chain(v.metric_loss.iter().filter(|_| has_cons))
        .copied()
        .filter(|x| x.is_finite());
    let (lo, hi) = loss_range(finite, view.log_y);
    let smooth_style = smooth_style(t);
    // Raw values faint behind the smoothed ones (drawn first, so underneath).
    let mut sets = vec![braille_line("raw", &raw, Style::default().fg(t.raw_series))];
    if w > 0.0 {
        sets.push(braille_line("total", &sm, smooth_style));
    }
    if has_cons {
        sets.push(braille_line(
            "ArcFace",
            &metric,
            Style::default().fg(t.second_series),
        ));
        sets.push(braille_line(
            "consistency",
            &cons,
            Style::default().fg(t.third_series),
        ));
    }
    if baseline.is_some() {
        sets.push(braille_line(
            "baseline",
            &base,
            Style::default().fg(t.fg).add_modifier(Modifier::BOLD),
        ));
    }
    // The settings are the title and the legend is the bottom border: ratatui's own legend
    // hides itself in short charts.
    let frame = block_titled(t, Line::from(loss_title(t, view, baseline)))
        .title_bottom(Line::from(loss_legend(t, w, has_cons)));
    let n = v.loss.len().max(base_loss.len());
    let chart = chart_axes(
        Chart::new(sets).block(frame),
        t,
        "step",
        n,
        (y(lo), y(hi)),
        (lo, hi),
    );
    f.render_widget(chart, area);
}

/// The loss chart's title: its settings and, when one is pinned, the baseline's name.
fn loss_title(t: &Theme, view: ChartView, baseline: Option<&Curves>) -> Vec<Span<'static>> {
    let w = view.smoothing;
    let mut title = vec![Span::styled(
        format!(
            "loss per step · {}{}",
            if w > 0.0 {
                format!("EMA {w:.2}")
            } else {
                "raw".into()
            },
            if view.log_y { " · log" } else { "" }
        ),
        Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
    )];
    // The baseline is named in the title, where there is room for its id.
    if let Some(b) = baseline {
        title.push(Span::styled(
            format!(" · ━baseline {}", short_id(&b.id)),
            Style::default().fg(t.fg).add_modifier(Modifier::BOLD),
        ));
    }
    title
}

/// The smoothed loss's style: bold over the faint raw values.
fn smooth_style(t: &Theme) -> Style {
    Style::default()
        .fg(t.smooth_series)
        .add_modifier(Modifier::BOLD)
}

/// The loss chart's legend: the series drawn, in their colours.
fn loss_legend(t: &Theme, w: f64, has_cons: bool) -> Vec<Span<'static>> {
    let smooth_style = smooth_style(t);
    let legend: [(&str, Style, bool); 4] = [
        ("raw", Style::default().fg(t.raw_series), w > 0.0),
        (
            "total",
            if w > 0.0 {
                smooth_style
            } else {
                Style::default().fg(t.raw_series)
            },
            true,
        ),
        ("ArcFace", Style::default().fg(t.second_series), has_cons),
        ("consistency", Style::default().fg(t.third_series), has_cons),
    ];
    legend
        .into_iter()
        .filter(|(_, _, shown)| *shown)
        .map(|(name, style, _)| Span::styled(format!("━{name} "), style))
        .collect()
}

fn epoch_table(f: &mut Frame, t: &Theme, v: &TrainView, area: Rect) {
    let mut lines = vec![Line::from(Span::styled(
        "epoch  train loss  train acc  val loss  val acc   time   checkpoint",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    let rows = area.height.saturating_sub(3) as usize;
    for e in v.epoch_table.iter().rev().take(rows).rev() {
        let cp = if v.checkpoints.iter().any(|(ep, _)| *ep == e.epoch) {
            "✓ saved"
        } else {
            ""
        };
        lines.push(Line::from(format!(
            "{:>5}  {:>10.4}  {:>9.3}  {:>8.4}  {:>7.3}  {:>6}  {cp}",
            e.epoch,
            e.train_loss,
            e.train_accuracy,
            e.val_loss,
            e.val_accuracy,
            duration(e.seconds)
        )));
    }
    if let Some((a, m)) = v.base_test {
        lines.push(Line::from(Span::styled(
            format!("base test split: accuracy {a:.3}, macro F1 {m:.3}"),
            Style::default().fg(t.good),
        )));
    }
    f.render_widget(Paragraph::new(lines).block(block(t, "epochs")), area);
}

/// A run id without its date when it starts with one (`20261126-100000-softmax` →
/// `100000-softmax`), and a sweep job's id without its sweep
/// (`sweep-20261130-061810-j00-softmax-s0` → `j00-softmax-s0`): what is left tells runs of
/// one day or one sweep apart.
pub fn short_id(id: &str) -> &str {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = id.splitn(4, '-').collect();
    match parts.as_slice() {
        ["sweep", date, time, rest] if digits(date, 8) && digits(time, 6) => rest,
        [date, ..] if digits(date, 8) && parts.len() > 1 => &id[date.len() + 1..],
        _ => id,
    }
}

/// Per-epoch values as a one-line text sparkline over [0, 1] (validation accuracy).
pub fn spark_text(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|v| BARS[((v.clamp(0.0, 1.0) * 7.0).round() as usize).min(7)])
        .collect()
}

/// Rows `text` takes when wrapped at word boundaries to `width` columns (as ratatui's `Wrap`
/// does; a word longer than a row is broken).
fn wrapped_rows(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let (mut rows, mut used) = (1, 0);
    for word in text.split(' ') {
        let w = word.chars().count();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else if used == 0 {
            rows += (w - 1) / width;
            used = (w - 1) % width + 1;
        } else {
            rows += 1 + w.saturating_sub(1) / width;
            used = if w == 0 { 0 } else { (w - 1) % width + 1 };
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::{short_id, wrapped_rows};

    #[test]
    fn short_ids_drop_the_date_or_the_sweep() {
        assert_eq!(short_id("20261126-100000-softmax"), "100000-softmax");
        assert_eq!(
            short_id("sweep-20261130-061810-j00-softmax-s0"),
            "j00-softmax-s0"
        );
        assert_eq!(short_id("my-run"), "my-run");
        assert_eq!(short_id("20261126"), "20261126");
    }

    #[test]
    fn wrapped_rows_count_word_wrapped_lines() {
        assert_eq!(wrapped_rows("", 5), 1);
        assert_eq!(wrapped_rows("aaa bbb", 7), 1);
        assert_eq!(wrapped_rows("aaa bbb", 6), 2);
        assert_eq!(wrapped_rows("aaa bbb cc", 7), 2);
        // A word longer than a row is broken: 10 characters in rows of 4.
        assert_eq!(wrapped_rows("aaaaaaaaaa", 4), 3);
        assert_eq!(wrapped_rows("ab aaaaaaaaaa", 4), 4);
    }
}
