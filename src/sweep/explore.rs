//! A sweep's results as one table: a row per job, a column per varied hyper-parameter and per
//! result (base validation and test accuracy, k-shot accuracy of every k × normalisation ×
//! classifier × TTA the sweep evaluates, training time); sorting by any column, filtering with
//! a typed expression, and the coordinates of a parallel-coordinates plot.

use std::cmp::Ordering;

use crate::report::RunReport;
use crate::runs::{Setting, SettingValue, TrainConfig};

use super::plan::Sweep;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Words (the objective).
    Text(String),
    /// A number.
    Number(f64),
    /// Not known (yet): the job has not trained or been evaluated.
    Missing,
}

/// How a column's numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// As given (`0.3`, `1e-3`, `64`).
    Plain,
    /// Three decimals (accuracies).
    Fixed3,
    /// A duration (`3m05s`).
    Duration,
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Name: the table's header and what filters name (no spaces).
    pub name: String,
    /// A result rather than a hyper-parameter.
    pub result: bool,
    /// How its numbers are written.
    pub format: Format,
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Job index in the sweep.
    pub job: usize,
    /// Run id.
    pub run_id: String,
    /// One value per column.
    pub values: Vec<Value>,
}

/// The table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explorer {
    /// Columns: the varied hyper-parameters, then the results.
    pub columns: Vec<Column>,
    /// Rows in job order.
    pub rows: Vec<Row>,
}

/// A setting's value as a cell.
fn cell(v: SettingValue) -> Value {
    match v {
        SettingValue::Objective(o) => Value::Text(o.as_str().into()),
        SettingValue::Int(x) => Value::Number(x as f64),
        SettingValue::Real(x) => Value::Number(x),
    }
}

fn plain(v: f64) -> String {
    format!("{v}")
}

impl Value {
    /// The cell as text.
    pub fn text(&self, format: Format) -> String {
        match (self, format) {
            (Value::Text(s), _) => s.clone(),
            (Value::Missing, _) => "–".into(),
            (Value::Number(v), Format::Plain) => plain(*v),
            (Value::Number(v), Format::Fixed3) => format!("{v:.3}"),
            (Value::Number(v), Format::Duration) => crate::report::text::duration(*v),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(*v),
            _ => None,
        }
    }
}

/// The table of `sweep`: `reports[i]` is job `i`'s run as read from disk (`None` before it
/// starts). Parameters are the grid's axes with more than one value (the objective and seed
/// when none varies); k-shot columns are named `k10`, with the normalisation, classifier and
/// TTA appended (`k10/centre-support/logistic`) when the sweep evaluates several.
pub fn build(sweep: &Sweep, reports: &[Option<RunReport>]) -> Explorer {
    let configs: Vec<&TrainConfig> = sweep.jobs.iter().map(|j| &j.config).collect();
    let varies = |s: &Setting| {
        let first = configs.first().map(|c| s.get(c));
        configs.iter().any(|c| Some(s.get(c)) != first)
    };
    let mut params: Vec<Setting> = Setting::ALL.into_iter().filter(varies).collect();
    if params.is_empty() {
        params = Setting::ALL[..2].to_vec();
    }
    let spec = &sweep.spec.kshot;
    let kshot = kshot_columns(sweep);
    let mut columns: Vec<Column> = params
        .iter()
        .map(|s| Column {
            name: s.name().into(),
            result: false,
            format: Format::Plain,
        })
        .collect();
    let result = |name: &str, format| Column {
        name: name.into(),
        result: true,
        format,
    };
    columns.push(result("val", Format::Fixed3));
    columns.push(result("test", Format::Fixed3));
    columns.extend(kshot.iter().map(|(n, _)| result(n, Format::Fixed3)));
    columns.push(result("time", Format::Duration));
    let rows = sweep
        .jobs
        .iter()
        .map(|job| {
            let report = reports.get(job.index).and_then(Option::as_ref);
            let mut values: Vec<Value> = params.iter().map(|s| cell(s.get(&job.config))).collect();
            let number = |v: Option<f64>| v.map_or(Value::Missing, Value::Number);
            values.push(number(
                report.and_then(|r| r.epochs.last().map(|e| e.val_accuracy)),
            ));
            values.push(number(
                report.and_then(|r| r.base_test.as_ref().map(|b| b.metrics.accuracy)),
            ));
            for (_, want) in &kshot {
                // The latest epoch's result on the sweep's target with exactly these options.
                let found = report.and_then(|r| {
                    r.kshot
                        .iter()
                        .filter(|x| x.target == spec.target && x.options == *want)
                        .filter_map(|x| x.summary.as_ref().map(|s| (x.epoch, s.accuracy.mean)))
                        .max_by_key(|(epoch, _)| *epoch)
                        .map(|(_, acc)| acc)
                });
                values.push(number(found));
            }
            values.push(number(report.and_then(|r| {
                (!r.epochs.is_empty()).then(|| r.epochs.iter().map(|e| e.seconds).sum())
            })));
            Row {
                job: job.index,
                run_id: job.run_id.clone(),
                values,
            }
        })
        .collect();
    Explorer { columns, rows }
}

/// The k-shot result columns of a sweep, named `k10` with the normalisation, classifier and
/// TTA appended when the sweep evaluates several, and the options each one's result has.
fn kshot_columns(sweep: &Sweep) -> Vec<(String, crate::fewshot::evaluate::KShotOptions)> {
    let spec = &sweep.spec.kshot;
    let mut out = Vec::new();
    for &k in &spec.ks {
        for &mode in &spec.normalizations {
            for &method in &spec.methods {
                for &tta in &spec.ttas {
                    let mut name = format!("k{k}");
                    if spec.normalizations.len() > 1 {
                        name.push_str(&format!("/{}", mode.as_str()));
                    }
                    if spec.methods.len() > 1 {
                        name.push_str(&format!("/{}", method.as_str()));
                    }
                    if spec.ttas.len() > 1 {
                        name.push_str(&format!("/{tta}"));
                    }
                    out.push((name, sweep.kshot_options(k, mode, method, tta)));
                }
            }
        }
    }
    out
}

/// Order of two cells of one column: numbers by value, words alphabetically, missing last
/// (whatever the direction).
fn compare(a: &Value, b: &Value, descending: bool) -> Ordering {
    let ord = match (a, b) {
        (Value::Missing, Value::Missing) => return Ordering::Equal,
        (Value::Missing, _) => return Ordering::Greater,
        (_, Value::Missing) => return Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Number(_), Value::Text(_)) => Ordering::Less,
        (Value::Text(_), Value::Number(_)) => Ordering::Greater,
    };
    if descending { ord.reverse() } else { ord }
}

impl Explorer {
    /// The index of the column called `name` (any case).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Row indices ordered by column `col` (ties in job order), keeping those `keep` allows.
    pub fn order(&self, col: usize, descending: bool, keep: &Filter) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.rows.len())
            .filter(|&i| keep.accepts(self, &self.rows[i]))
            .collect();
        idx.sort_by(|&a, &b| {
            let (x, y) = (&self.rows[a], &self.rows[b]);
            match (x.values.get(col), y.values.get(col)) {
                (Some(p), Some(q)) => compare(p, q, descending),
                _ => Ordering::Equal,
            }
            .then(x.job.cmp(&y.job))
        });
        idx
    }
}

/// A comparison of a filter clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    column: usize,
    op: Op,
    value: String,
}

/// A filter that does not parse: the clause and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter `{clause}`: {problem}")]
pub struct FilterError {
    /// The clause as typed.
    pub clause: String,
    /// What is wrong.
    pub problem: FilterProblem,
}

/// What is wrong with a filter clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterProblem {
    /// No comparison in it.
    #[error("expected column=value, column>number or column<number")]
    NoOperator,
    /// `!` not followed by `=`.
    #[error("`!` must be followed by `=`")]
    BangWithoutEquals,
    /// A column the table does not have.
    #[error("no column `{name}` (columns: {columns})")]
    NoColumn {
        /// The name typed.
        name: String,
        /// The table's columns, in words.
        columns: String,
    },
    /// Nothing after the comparison.
    #[error("no value after the comparison")]
    NoValue,
    /// A number comparison with something else.
    #[error("`{0}` is not a number")]
    NotANumber(String),
}

/// Clauses separated by spaces, all of which a row must pass: `column OP value` with `OP` one
/// of `= != < <= > >=`; `=` and `!=` take `*` and `?` wildcards (`objective=aam*`); the
/// others compare numbers (`val>0.8`). An empty filter keeps every row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// Parses `text` against `table`'s columns; the error is one sentence naming the part
    /// that is wrong.
    pub fn parse(text: &str, table: &Explorer) -> Result<Filter, FilterError> {
        let mut clauses = Vec::new();
        for part in text.split_whitespace() {
            let fail = |problem| FilterError {
                clause: part.to_string(),
                problem,
            };
            let at = part
                .find(['=', '!', '<', '>'])
                .ok_or_else(|| fail(FilterProblem::NoOperator))?;
            let (name, rest) = part.split_at(at);
            let (op, value) = [
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("=", Op::Eq),
                ("<", Op::Lt),
                (">", Op::Gt),
            ]
            .iter()
            .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (*op, v)))
            .ok_or_else(|| fail(FilterProblem::BangWithoutEquals))?;
            let column = table.column(name).ok_or_else(|| {
                let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                fail(FilterProblem::NoColumn {
                    name: name.to_string(),
                    columns: names.join(", "),
                })
            })?;
            if value.is_empty() {
                return Err(fail(FilterProblem::NoValue));
            }
            if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && value.parse::<f64>().is_err() {
                return Err(fail(FilterProblem::NotANumber(value.to_string())));
            }
            clauses.push(Clause {
                column,
                op,
                value: value.to_string(),
            });
        }
        Ok(Filter { clauses })
    }

    /// No clause.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// True when `row` passes every clause (a missing value passes only `!=`).
    pub fn accepts(&self, table: &Explorer, row: &Row) -> bool {
        self.clauses.iter().all(|c| {
            let Some(v) = row.values.get(c.column) else {
                return false;
            };
            let format = table.columns[c.column].format;
            match c.op {
                Op::Eq | Op::Ne => {
                    let same = match (v, c.value.parse::<f64>()) {
                        (Value::Number(x), Ok(y)) if !c.value.contains(['*', '?']) => {
                            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
                        }
                        (Value::Missing, _) => false,
                        _ => glob(&c.value.to_lowercase(), &v.text(format).to_lowercase()),
                    };
                    same == (c.op == Op::Eq)
                }
                op => {
                    let (Some(x), Ok(y)) = (v.number(), c.value.parse::<f64>()) else {
                        return false;
                    };
                    match op {
                        Op::Lt => x < y,
                        Op::Le => x <= y,
                        Op::Gt => x > y,
                        _ => x >= y,
                    }
                }
            }
        })
    }
}

/// `*` any run of characters, `?` one character, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic backtracking over the last star.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// One axis of a parallel-coordinates plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The column.
    pub column: usize,
    /// Column name.
    pub name: String,
    /// Labels at the bottom (0) and top (1) of the axis; for words, every value from bottom
    /// to top.
    pub ticks: Vec<String>,
}

/// A parallel-coordinates plot of some rows: one axis per hyper-parameter plus one result,
/// and per row its position on each axis in [0, 1] (`None` where the value is missing) and
/// its result in [0, 1] for colouring.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// Axes, left to right.
    pub axes: Vec<Axis>,
    /// (row index, positions per axis, the result's position).
    pub lines: Vec<(usize, Vec<Option<f64>>, Option<f64>)>,
}

/// The plot of `rows` (indices into the table) with the result column `result` as the last
/// axis and the colour. Numbers are scaled from the smallest to the largest value shown (a
/// single value sits in the middle); words are spread evenly in alphabetical order.
pub fn parallel(table: &Explorer, rows: &[usize], result: usize) -> Parallel {
    let mut columns: Vec<usize> = (0..table.columns.len())
        .filter(|&c| !table.columns[c].result)
        .collect();
    columns.push(result);
    let mut axes = Vec::new();
    let mut scaled: Vec<Vec<Option<f64>>> = vec![Vec::new(); rows.len()];
    for &c in &columns {
        let format = table.columns[c].format;
        let values: Vec<&Value> = rows.iter().map(|&r| &table.rows[r].values[c]).collect();
        let mut words: Vec<String> = values
            .iter()
            .filter_map(|v| match v {
                Value::Text(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        words.sort();
        words.dedup();
        let numbers: Vec<f64> = values.iter().filter_map(|v| v.number()).collect();
        let (lo, hi) = numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let at = |v: &Value| -> Option<f64> {
            match v {
                Value::Missing => None,
                Value::Text(s) => {
                    let i = words.iter().position(|w| w == s)?;
                    Some(if words.len() < 2 {
                        0.5
                    } else {
                        i as f64 / (words.len() - 1) as f64
                    })
                }
                Value::Number(x) if hi > lo => Some((x - lo) / (hi - lo)),
                Value::Number(_) => Some(0.5),
            }
        };
        for (i, v) in values.iter().enumerate() {
            scaled[i].push(at(v));
        }
        let ticks = if !words.is_empty() {
            words.clone()
        } else if numbers.is_empty() {
            vec![]
        } else {
            vec![
                Value::Number(lo).text(format),
                Value::Number(hi).text(format),
            ]
        };
        axes.push(Axis {
            column: c,
            name: table.columns[c].name.clone(),
            ticks,
        });
    }
    let lines = rows
        .iter()
        .zip(scaled)
        .map(|(&r, pos)| {
            let colour = pos.last().copied().flatten();
            (r, pos, colour)
        })
        .collect();
    Parallel { axes, lines }
}
