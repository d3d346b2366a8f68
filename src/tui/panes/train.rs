//! Train tab: the run form on the left, the live dashboard on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap};

use super::{bar, block, duration, form_line, smooth};
use crate::tui::app::App;
use crate::tui::state::train::{TrainField, TrainPhase, TrainView};
use crate::tui::theme::Theme;

/// Draws the tab.
pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let [form, dash] = Layout::horizontal([Constraint::Length(32), Constraint::Min(0)]).areas(area);
    render_form(f, app, form);
    render_dashboard(f, &app.theme, &app.train, dash);
}

/// Value of a form field as shown.
pub fn field_value(app: &App, field: TrainField) -> String {
    let c = &app.form;
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
                i == app.form_field,
                field.label(),
                field_value(app, *field),
            )
        })
        .collect();
    lines.push(Line::from(""));
    let hint = if app.train.active() {
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
                format!("finished: {last_epoch} epochs")
            },
            Style::default().fg(t.good).add_modifier(Modifier::BOLD),
        )),
        TrainPhase::Failed(m) => Line::from(Span::styled(
            format!("failed: {m}"),
            Style::default().fg(t.bad).add_modifier(Modifier::BOLD),
        )),
    }
}

fn render_dashboard(f: &mut Frame, t: &Theme, v: &TrainView, area: Rect) {
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
    let [head, charts, table] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(6),
        Constraint::Length(7),
    ])
    .areas(inner);

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
        if let Some(w) = v.warnings.last() {
            head_lines.push(Line::from(Span::styled(
                format!("⚠ {} warning(s); last: {w}", v.warnings.len()),
                Style::default().fg(t.warn),
            )));
        }
    }
    // Before any run the one line is a sentence: wrap it rather than cut it.
    let head_text = Paragraph::new(head_lines);
    let head_text = if v.run_id.is_none() {
        head_text.wrap(ratatui::widgets::Wrap { trim: true })
    } else {
        head_text
    };
    f.render_widget(head_text, head);

    let [loss_area, acc_area] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(charts);
    loss_chart(f, t, v, loss_area);
    let [spark, acc_txt] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(2)]).areas(acc_area);
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
        acc_txt,
    );
    epoch_table(f, t, v, table);
}

fn loss_chart(f: &mut Frame, t: &Theme, v: &TrainView, area: Rect) {
    if v.loss.is_empty() {
        f.render_widget(
            Paragraph::new("loss curves appear after the first step").block(block(t, "loss")),
            area,
        );
        return;
    }
    let pts = |vals: &[f64]| -> Vec<(f64, f64)> {
        vals.iter()
            .enumerate()
            .map(|(i, y)| (i as f64 + 1.0, *y))
            .collect()
    };
    let raw = pts(&v.loss);
    let sm = pts(&smooth(&v.loss));
    let cons = pts(&smooth(&v.consistency));
    let metric = pts(&smooth(&v.metric_loss));
    let has_cons = v.consistency.iter().any(|c| *c > 0.0);
    let ymax = v
        .loss
        .iter()
        .chain(v.consistency.iter())
        .cloned()
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.05;
    let mut sets = vec![
        Dataset::default()
            .name("loss (raw)")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.raw_series))
            .data(&raw),
        Dataset::default()
            .name("loss (smoothed)")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(
                Style::default()
                    .fg(t.smooth_series)
                    .add_modifier(Modifier::BOLD),
            )
            .data(&sm),
    ];
    if has_cons {
        sets.push(
            Dataset::default()
                .name("metric")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(t.second_series))
                .data(&metric),
        );
        sets.push(
            Dataset::default()
                .name("consistency")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(t.third_series))
                .data(&cons),
        );
    }
    let n = v.loss.len() as f64;
    let chart = Chart::new(sets)
        .block(block(t, "loss per step"))
        .x_axis(
            Axis::default()
                .bounds([1.0, n.max(2.0)])
                .labels(vec![Line::from("1"), Line::from(format!("{}", n as usize))])
                .style(Style::default().fg(t.muted)),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, ymax])
                .labels(vec![Line::from("0"), Line::from(format!("{ymax:.2}"))])
                .style(Style::default().fg(t.muted)),
        );
    f.render_widget(chart, area);
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

/// Per-epoch values as a one-line text sparkline over [0, 1] (validation accuracy).
pub fn spark_text(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|v| BARS[((v.clamp(0.0, 1.0) * 7.0).round() as usize).min(7)])
        .collect()
}
