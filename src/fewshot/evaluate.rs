//! K-shot evaluation of a checkpoint on a target dataset: protocols, the fixed bank of
//! draws, k sweeps and the saved result.

use crate::choice::{Repeated, UnknownChoice};
use crate::runs::RunsError;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::{Arc, OnceLock};

use super::classify::Embeddings;
use super::embed::EmbeddedImages;
use super::method::{DEFAULT_LOGISTIC_C, Method};
use super::metrics::{DrawMetrics, KShotSummary};
use super::sampler::{Draw, SamplerOptions, heldout_draws, pool_draws};
use super::score::{CollapseStats, Normalization, Scorer, TransformedRows};
use super::tta::Tta;
use crate::data::Dataset;
use crate::runs::RunDir;

/// Where support and queries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// `heldout-test` when a labelled test set exists, else `pool`.
    Auto,
    /// Support from a training fold, queries = the labelled preliminary test set (the seed's).
    HeldoutTest,
    /// One labelled pool: per draw k support per class, the rest are queries.
    Pool,
}

impl Protocol {
    /// Name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::HeldoutTest => "heldout-test",
            Protocol::Pool => "pool",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownChoice;
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match s {
            "auto" => Ok(Protocol::Auto),
            "heldout-test" | "heldout" => Ok(Protocol::HeldoutTest),
            "pool" => Ok(Protocol::Pool),
            _ => Err(UnknownChoice::new(
                "protocol",
                s,
                "auto, heldout-test or pool",
            )),
        }
    }
}

/// The held-out protocol's support part unless another is asked for (the seed's).
pub const DEFAULT_SUPPORT_PART: &str = "fold_0";

/// Options of a k-shot evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KShotOptions {
    /// Images per class in each support set.
    pub k: usize,
    /// Number of draws in the bank.
    pub draws: usize,
    /// Seed of the bank (same seed = same support sets, whatever the checkpoint).
    pub seed: u64,
    /// Protocol asked for.
    pub protocol: Protocol,
    /// Pool protocol: keep support and query subjects apart.
    pub by_subject: bool,
    /// Draw with replacement, as the original BloodShot sampler did.
    pub with_replacement: bool,
    /// Held-out protocol: the part support is drawn from.
    pub support_part: String,
    /// Embedding normalisation before prototypes and cosines (results saved before it
    /// existed are read as `none`, the original method).
    #[serde(default)]
    pub normalize: Normalization,
    /// Classifier on top of the embeddings (results saved before it existed: `prototype`).
    #[serde(default)]
    pub method: Method,
    /// `logistic`: inverse regularisation strength (scikit-learn's C).
    #[serde(default = "default_logistic_c")]
    pub logistic_c: f64,
    /// Test-time augmentation of the embeddings (results saved before it existed: `none`).
    #[serde(default)]
    pub tta: Tta,
}

fn default_logistic_c() -> f64 {
    DEFAULT_LOGISTIC_C
}

impl Default for KShotOptions {
    fn default() -> Self {
        Self {
            k: 10,
            draws: 100,
            seed: 0,
            protocol: Protocol::Auto,
            by_subject: false,
            with_replacement: false,
            support_part: DEFAULT_SUPPORT_PART.into(),
            normalize: Normalization::None,
            method: Method::Prototype,
            logistic_c: DEFAULT_LOGISTIC_C,
            tta: Tta::None,
        }
    }
}

/// Support pool and queries, embedded, ready for any number of draws.
///
/// For the `pool` protocol the queries *are* the pool (same rows, same order), so draws
/// index both with one index and `query_emb` holds the pool's rows again: every protocol
/// scores `query_emb` / `query_labels` the same way.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Protocol actually used.
    pub protocol: Protocol,
    /// Class names.
    pub classes: Vec<String>,
    /// Dataset indices of the support pool.
    pub support_samples: Vec<usize>,
    /// Dataset indices of the queries (held-out) — equal to the pool for `pool`.
    pub query_samples: Vec<usize>,
    /// Raw embeddings of the support pool.
    pub support_emb: Arc<Embeddings>,
    /// Raw embeddings of the queries (the pool's rows again for `pool`).
    pub query_emb: Arc<Embeddings>,
    /// Labels of the support pool.
    pub support_labels: Vec<usize>,
    /// Labels of the queries.
    pub query_labels: Vec<usize>,
    /// Subjects of the support pool (pool protocol).
    pub support_subjects: Vec<Option<String>>,
    /// How directionally collapsed the target embeddings (support pool ∪ queries) are.
    pub collapse: Option<CollapseStats>,
    /// One exact scorer per normalisation mode, built on first use.
    scorers: [OnceLock<Scorer>; 4],
    /// Each mode's transformed rows for the other classifiers, built on first use.
    rows: [OnceLock<TransformedRows>; 4],
}

impl Prepared {
    /// Assembles prepared sets from raw embeddings; for the pool protocol `query_emb` must be
    /// the support pool's rows and the labels equal.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        protocol: Protocol,
        classes: Vec<String>,
        support_samples: Vec<usize>,
        query_samples: Vec<usize>,
        support_emb: Embeddings,
        query_emb: Embeddings,
        support_labels: Vec<usize>,
        query_labels: Vec<usize>,
        support_subjects: Vec<Option<String>>,
    ) -> Prepared {
        // The target: the pool, or the support pool and the queries.
        let collapse = if protocol == Protocol::Pool {
            CollapseStats::of(&support_emb)
        } else {
            CollapseStats::of_sets(&[&support_emb, &query_emb])
        };
        Prepared {
            protocol,
            classes,
            support_samples,
            query_samples,
            support_emb: Arc::new(support_emb),
            query_emb: Arc::new(query_emb),
            support_labels,
            query_labels,
            support_subjects,
            collapse,
            scorers: Default::default(),
            rows: Default::default(),
        }
    }

    /// The exact scorer of `mode` (built once, on first use: O(target × dim) in f64).
    pub fn scorer(&self, mode: Normalization) -> &Scorer {
        self.scorers[mode.index()].get_or_init(|| {
            let queries = (self.protocol != Protocol::Pool).then(|| Arc::clone(&self.query_emb));
            Scorer::new(Arc::clone(&self.support_emb), queries, mode)
        })
    }
}

impl Prepared {
    /// The target rows under `mode`, in f64 (built once, on first use).
    pub fn transformed(&self, mode: Normalization) -> &TransformedRows {
        self.rows[mode.index()].get_or_init(|| {
            let queries = (self.protocol != Protocol::Pool).then_some(&*self.query_emb);
            TransformedRows::new(&self.support_emb, queries, mode)
        })
    }
}

/// Why a k-shot evaluation cannot be prepared or run.
#[derive(Debug, thiserror::Error)]
pub enum KShotError {
    /// The run folder or its checkpoint could not be read.
    #[error(transparent)]
    Runs(#[from] RunsError),
    /// The target folder could not be scanned.
    #[error(transparent)]
    Scan(#[from] crate::data::scan::ScanError),
    /// The bank cannot be drawn from these sets.
    #[error(transparent)]
    Bank(#[from] crate::fewshot::sampler::FewShotError),
    /// `k = 0`.
    #[error("k = 0: a support set needs at least one image per class")]
    ZeroK,
    /// `--draws 0`.
    #[error("--draws 0: at least one draw is needed")]
    ZeroDraws,
    /// A logistic regression `C` that is not a positive number.
    #[error("--logistic-c {0}: the inverse regularisation strength must be a positive number")]
    LogisticC(f64),
    /// A sweep with `k = 0`.
    #[error("--sweep contains k = {0}: every k must be at least 1")]
    ZeroSweepK(usize),
    /// More draws than [`MAX_DRAWS`].
    #[error(
        "--draws {0}: at most {MAX_DRAWS} draws per bank (the seed's evaluation uses 100; a bank this large would not fit in memory)"
    )]
    TooManyDraws(usize),
    /// A list of ks (`--sweep`) naming a value twice.
    #[error(transparent)]
    Repeated(#[from] crate::choice::Repeated),
    /// The held-out protocol on a target without a labelled test set.
    #[error(
        "{}: the heldout-test protocol needs a labelled test set (C-NMC_test_prelim_phase_data with its labels CSV); use --protocol pool",
        .0.display()
    )]
    NoLabelledTest(PathBuf),
    /// The support part asked for has no images.
    #[error("{}: no images in part `{part}` to draw support from (parts: {parts})", root.display())]
    EmptyPart {
        /// The target folder.
        root: PathBuf,
        /// The part asked for.
        part: String,
        /// The parts there are, in words.
        parts: String,
    },
    /// `--support-part` with the pool protocol, which draws support and queries from every
    /// training part: it would be ignored.
    #[error(
        "--support-part {part} applies to the heldout-test protocol only: {reason}, which draws support and queries from every training part; leave --support-part out"
    )]
    SupportPartPool {
        /// The part asked for.
        part: String,
        /// Why the pool protocol is the one used, in words.
        reason: String,
    },
    /// `--by-subject` on an image whose name carries no subject id.
    #[error(
        "--by-subject: {} carries no subject id (C-NMC names do: UID_<subject>_…); by-subject draws need one for every image of the pool",
        .0.display()
    )]
    NoSubject(PathBuf),
    /// Support drawn from the held-out protocol's queries (`--support-part test`): every
    /// support image would also be a query, scored against a prototype made of itself.
    #[error(
        "--support-part test: the heldout-test protocol's queries are the test set, so support drawn from it would be scored as queries too; name a training part ({parts})"
    )]
    SupportFromQueries {
        /// The training parts there are, in words.
        parts: String,
    },
    /// `--by-subject` with the held-out protocol, whose queries are the labelled test set
    /// (no subject ids) and whose support comes from one training part: it would be ignored,
    /// yet the result would be saved as "by subject".
    #[error(
        "--by-subject applies to the pool protocol only: {reason}, which draws support from one part and takes the labelled test set (no subject ids) as queries; use --protocol pool --by-subject, or leave --by-subject out"
    )]
    BySubjectHeldout {
        /// Why the held-out protocol is the one used, in words.
        reason: String,
    },
    /// A target with a single class.
    #[error(
        "{}: the target has only one class ({classes}); k-shot classification needs at least two",
        target.display()
    )]
    OneClass {
        /// The target folder.
        target: PathBuf,
        /// Its class, in words.
        classes: String,
    },
}

/// Front ends print the sentence.
impl From<KShotError> for String {
    fn from(e: KShotError) -> String {
        e.to_string()
    }
}

/// Most draws one bank may hold. Each draw keeps its support indices and its scores, so a
/// mistyped count (`--draws 1000000000`) would need tens of gigabytes; 100 000 draws of
/// k = 10 on two classes take 0.6 s and 77 MB, and the standard error of a mean accuracy
/// over them is already under 0.002.
pub const MAX_DRAWS: usize = 100_000;

/// `KShotError::BySubjectHeldout`'s reason when the protocol was asked for by name.
const HELDOUT_ASKED: &str = "--protocol heldout-test was asked for";

/// Dataset indices that a protocol needs embedded (support pool ∪ queries).
pub fn needed_samples(
    ds: &Dataset,
    opts: &KShotOptions,
) -> Result<(Protocol, Vec<usize>, Vec<usize>), KShotError> {
    let protocol = match opts.protocol {
        Protocol::Auto if ds.has_labelled_test() => Protocol::HeldoutTest,
        Protocol::Auto => Protocol::Pool,
        p => p,
    };
    match protocol {
        Protocol::HeldoutTest => {
            if !ds.has_labelled_test() {
                return Err(KShotError::NoLabelledTest(ds.root.clone()));
            }
            if opts.by_subject {
                return Err(KShotError::BySubjectHeldout {
                    reason: if opts.protocol == Protocol::Auto {
                        format!(
                            "protocol auto chose heldout-test for {} (it has a labelled test set)",
                            ds.root.display()
                        )
                    } else {
                        HELDOUT_ASKED.into()
                    },
                });
            }
            let training_parts = || {
                let parts: Vec<String> = ds.parts().into_keys().filter(|p| p != "test").collect();
                parts.join(", ")
            };
            if opts.support_part == "test" {
                return Err(KShotError::SupportFromQueries {
                    parts: training_parts(),
                });
            }
            let support = ds.part_indices(&opts.support_part);
            if support.is_empty() {
                return Err(KShotError::EmptyPart {
                    root: ds.root.clone(),
                    part: opts.support_part.clone(),
                    parts: training_parts(),
                });
            }
            Ok((protocol, support, ds.part_indices("test")))
        }
        _ => {
            if opts.support_part != DEFAULT_SUPPORT_PART {
                return Err(KShotError::SupportPartPool {
                    part: opts.support_part.clone(),
                    reason: if opts.protocol == Protocol::Auto {
                        format!(
                            "protocol auto chose pool for {} (it has no labelled test set)",
                            ds.root.display()
                        )
                    } else {
                        "--protocol pool was asked for".into()
                    },
                });
            }
            let pool: Vec<usize> = (0..ds.samples.len())
                .filter(|&i| ds.samples[i].part != "test")
                .collect();
            Ok((Protocol::Pool, pool.clone(), pool))
        }
    }
}

fn gather(emb: &Embeddings, rows: &[usize]) -> Embeddings {
    let mut out = Vec::with_capacity(rows.len() * emb.dim);
    for &r in rows {
        out.extend_from_slice(emb.row(r));
    }
    Embeddings {
        dim: emb.dim,
        rows: out,
    }
}

/// The target scanned as a k-shot evaluation reads it: every class kept, however small.
pub fn scan_target(target: &Path) -> Result<Dataset, crate::data::scan::ScanError> {
    let opts = crate::data::ScanOptions {
        min_class_size: 1,
        limit_per_class: None,
    };
    crate::data::scan(target, &opts, &mut |_, _| {})
}

/// Checks, from the scanned labels alone, that banks at `opts.k` and at each of `ks` can be
/// drawn: at least two classes, the protocol's sets, and the sampler's own refusals (a k
/// larger than a class, by-subject without enough subjects, no query left). It runs before
/// anything is embedded or trained, so a bad value fails in seconds rather than after the
/// embedding or a sweep's trainings; images that then fail to decode can still leave a
/// class too small, which the draw itself reports. Returns [`needed_samples`]' sets.
pub fn check_bank(
    ds: &Dataset,
    opts: &KShotOptions,
    ks: &[usize],
) -> Result<(Protocol, Vec<usize>, Vec<usize>), KShotError> {
    if ds.classes.len() < 2 {
        return Err(KShotError::OneClass {
            target: ds.root.clone(),
            classes: ds.classes.join(", "),
        });
    }
    let (protocol, support, queries) = needed_samples(ds, opts)?;
    if opts.by_subject {
        // Named by its file (the sampler only knows its place in the pool).
        if let Some(&i) = support.iter().find(|&&i| ds.samples[i].subject.is_none()) {
            return Err(KShotError::NoSubject(ds.samples[i].path.clone()));
        }
    }
    let labels: Vec<usize> = support.iter().map(|&s| ds.samples[s].class).collect();
    let subjects: Vec<Option<String>> = support
        .iter()
        .map(|&s| ds.samples[s].subject.clone())
        .collect();
    let sets = SupportLabels {
        protocol,
        labels: &labels,
        subjects: &subjects,
        classes: &ds.classes,
        n_queries: queries.len(),
    };
    for &k in std::iter::once(&opts.k).chain(ks) {
        sets.draw(&KShotOptions {
            k,
            draws: 1,
            ..opts.clone()
        })?;
    }
    Ok((protocol, support, queries))
}

/// What a bank of draws depends on: the protocol, the support pool's labels and subjects,
/// the class names and the number of queries (never the embeddings).
struct SupportLabels<'a> {
    protocol: Protocol,
    labels: &'a [usize],
    subjects: &'a [Option<String>],
    classes: &'a [String],
    n_queries: usize,
}

impl SupportLabels<'_> {
    /// The bank for `opts` (k, draws, seed, sampling).
    fn draw(&self, opts: &KShotOptions) -> Result<Vec<Draw>, KShotError> {
        let mut s = SamplerOptions::new(opts.k, opts.draws, opts.seed);
        s.with_replacement = opts.with_replacement;
        s.by_subject = opts.by_subject;
        s.class_names = self.classes.to_vec();
        let n = self.classes.len();
        match self.protocol {
            Protocol::Pool => pool_draws(self.labels, self.subjects, n, &s),
            _ => heldout_draws(self.labels, n, self.n_queries, &s),
        }
        .map_err(KShotError::from)
    }
}

/// Builds the prepared sets from embeddings of `embedded_samples` (dataset indices, in the
/// order they were embedded). Images that failed to decode are left out.
pub fn prepare(
    ds: &Dataset,
    opts: &KShotOptions,
    embedded_samples: &[usize],
    embedded: &EmbeddedImages,
) -> Result<Prepared, KShotError> {
    let (protocol, support, queries) = needed_samples(ds, opts)?;
    let pos: std::collections::HashMap<usize, usize> = embedded_samples
        .iter()
        .enumerate()
        .map(|(row, &s)| (s, row))
        .collect();
    let usable = |list: &[usize]| -> Vec<usize> {
        list.iter()
            .copied()
            .filter(|s| pos.get(s).map(|&r| embedded.ok[r]).unwrap_or(false))
            .collect()
    };
    let support = usable(&support);
    let queries = usable(&queries);
    let rows = |list: &[usize]| -> Vec<usize> { list.iter().map(|s| pos[s]).collect() };
    let support_emb = gather(&embedded.embeddings, &rows(&support));
    let query_emb = gather(&embedded.embeddings, &rows(&queries));
    let support_labels = support.iter().map(|&s| ds.samples[s].class).collect();
    let query_labels = queries.iter().map(|&s| ds.samples[s].class).collect();
    let support_subjects = support
        .iter()
        .map(|&s| ds.samples[s].subject.clone())
        .collect();
    Ok(Prepared::new(
        protocol,
        ds.classes.clone(),
        support,
        queries,
        support_emb,
        query_emb,
        support_labels,
        query_labels,
        support_subjects,
    ))
}

/// Draws the bank for `opts` (k, draws, seed) on prepared sets.
pub fn draw_bank(prep: &Prepared, opts: &KShotOptions) -> Result<Vec<Draw>, KShotError> {
    SupportLabels {
        protocol: prep.protocol,
        labels: &prep.support_labels,
        subjects: &prep.support_subjects,
        classes: &prep.classes,
        n_queries: prep.query_labels.len(),
    }
    .draw(opts)
}

/// One cell of the grid of test-time augmentations × classifiers × normalisations scored
/// on a bank. The augmentation is the embedding's: a cell is scored on sets prepared with it.
/// Two cells are equal when they score alike: `logistic_c` counts for the logistic
/// classifier only (a prototype result saved with `--logistic-c 5` is the same evaluation as
/// one saved with the default).
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// The classifier.
    pub method: Method,
    /// The normalisation before it.
    pub normalize: Normalization,
    /// `logistic`: inverse regularisation strength.
    pub logistic_c: f64,
    /// The test-time augmentation of the embeddings.
    pub tta: Tta,
}

impl PartialEq for Cell {
    fn eq(&self, other: &Cell) -> bool {
        self.method == other.method
            && self.normalize == other.normalize
            && self.tta == other.tta
            && (self.method != Method::Logistic || self.logistic_c == other.logistic_c)
    }
}

impl Cell {
    /// The seed's cell under `mode`: prototypes.
    pub fn prototype(normalize: Normalization) -> Cell {
        Cell {
            method: Method::Prototype,
            normalize,
            logistic_c: DEFAULT_LOGISTIC_C,
            tta: Tta::None,
        }
    }

    /// The cell `opts` asks for.
    pub fn of(opts: &KShotOptions) -> Cell {
        Cell {
            method: opts.method,
            normalize: opts.normalize,
            logistic_c: opts.logistic_c,
            tta: opts.tta,
        }
    }

    /// "logistic · cl2n*"-style name, transductive parts starred, " · tta dihedral" when
    /// the embeddings were augmented.
    pub fn name(&self) -> String {
        let star = |t: bool| if t { "*" } else { "" };
        let tta = match self.tta {
            Tta::None => String::new(),
            t => format!(" · tta {t}"),
        };
        format!(
            "{}{} · {}{}{tta}",
            self.method,
            star(self.method.transductive()),
            self.normalize,
            star(self.normalize.transductive())
        )
    }

    /// Whether the cell uses the unlabelled queries or target.
    pub fn transductive(&self) -> bool {
        self.method.transductive() || self.normalize.transductive()
    }

    /// Number of cells in the whole grid.
    pub const GRID: usize = Tta::ALL.len() * Method::ALL.len() * Normalization::ALL.len();

    /// Every augmentation, classifier and normalisation, augmentation-major then
    /// classifier-major (the seed's plain prototype · none first): cell `i` has
    /// [`Cell::index`] `i`.
    pub fn grid(logistic_c: f64) -> Vec<Cell> {
        Tta::ALL
            .iter()
            .flat_map(|&tta| {
                Method::ALL.iter().flat_map(move |&method| {
                    Normalization::ALL.iter().map(move |&normalize| Cell {
                        method,
                        normalize,
                        logistic_c,
                        tta,
                    })
                })
            })
            .collect()
    }

    /// Position in [`Cell::grid`].
    pub fn index(&self) -> usize {
        (self.tta.index() * Method::ALL.len() + self.method.index()) * Normalization::ALL.len()
            + self.normalize.index()
    }
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The ks of `ks` whose bank can be drawn on the prepared sets (a k larger than a class
/// cannot), and the first refusal's sentence when some cannot.
pub fn feasible_ks(
    prep: &Prepared,
    opts: &KShotOptions,
    ks: &[usize],
) -> (Vec<usize>, Option<String>) {
    let mut refusal = None;
    let fit = ks
        .iter()
        .copied()
        .filter(|&k| {
            match draw_bank(
                prep,
                &KShotOptions {
                    k,
                    draws: 1,
                    ..opts.clone()
                },
            ) {
                Ok(_) => true,
                Err(e) => {
                    refusal.get_or_insert(e.to_string());
                    false
                }
            }
        })
        .collect();
    (fit, refusal)
}

/// Metrics of each draw with prototypes under normalisation `mode`, in draw order.
pub fn evaluate_draws(prep: &Prepared, mode: Normalization, draws: &[Draw]) -> Vec<DrawMetrics> {
    evaluate_cell(prep, Cell::prototype(mode), draws)
}

/// The class of each query in `queries` for one support set under `cell`.
pub fn predict_cell(
    prep: &Prepared,
    cell: Cell,
    support: &super::sampler::SupportSet,
    queries: &[usize],
) -> Vec<usize> {
    match cell.method {
        Method::Prototype => prep.scorer(cell.normalize).predict(support, queries),
        method => super::method::predict(
            prep.transformed(cell.normalize),
            method,
            cell.logistic_c,
            support,
            queries,
        ),
    }
}

/// Metrics of each draw under one cell of the grid, in draw order.
pub fn evaluate_cell(prep: &Prepared, cell: Cell, draws: &[Draw]) -> Vec<DrawMetrics> {
    let n_classes = prep.classes.len();
    match cell.method {
        Method::Prototype => prep.scorer(cell.normalize).evaluate_bank(
            &prep.query_labels,
            draws,
            n_classes,
            threads(),
        ),
        method => super::method::evaluate_bank(
            prep.transformed(cell.normalize),
            method,
            cell.logistic_c,
            &prep.query_labels,
            draws,
            n_classes,
            threads(),
        ),
    }
}

/// One point of an accuracy-vs-k sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// k.
    pub k: usize,
    /// Summary over the draws at this k.
    pub summary: KShotSummary,
}

/// A saved k-shot evaluation (`kshot/*.json` in the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KShotResult {
    /// Run id.
    pub run_id: String,
    /// Checkpoint epoch evaluated.
    pub epoch: usize,
    /// Target dataset folder.
    pub target: PathBuf,
    /// Options asked for.
    pub options: KShotOptions,
    /// Protocol actually used.
    pub protocol: Protocol,
    /// Class names.
    pub classes: Vec<String>,
    /// Support pool size.
    pub support_pool: usize,
    /// Number of queries (pool: the pool size; each draw queries pool minus support).
    pub queries: usize,
    /// Summary at `options.k` (absent when only a sweep was asked for and failed).
    pub summary: Option<KShotSummary>,
    /// Accuracy-vs-k sweep, when asked for.
    pub sweep: Vec<SweepPoint>,
    /// How directionally collapsed the target embeddings were (absent in older results).
    #[serde(default)]
    pub collapse: Option<CollapseStats>,
}

impl KShotOptions {
    /// The console's bank: 50 draws (small enough to step through draw by draw; `kshot`
    /// and sweeps default to the seed's 100).
    pub fn interactive() -> KShotOptions {
        KShotOptions {
            draws: 50,
            ..KShotOptions::default()
        }
    }

    /// The cell's name: "logistic · cl2n* · tta dihedral".
    pub fn cell_name(&self) -> String {
        Cell::of(self).name()
    }

    /// The classifier in words when it is not the seed's prototypes: "logistic (C = 0.5)",
    /// "soft-kmeans (transductive)".
    pub fn classifier_label(&self) -> Option<String> {
        match self.method {
            Method::Prototype => None,
            Method::Logistic => Some(format!("logistic (C = {})", self.logistic_c)),
            Method::SoftKmeans => Some("soft-kmeans (transductive)".into()),
        }
    }

    /// ", classifier logistic (C = 0.5), test-time augmentation dihedral (8 views)": what a
    /// heading adds after the normalisation (nothing for the seed's plain prototypes).
    pub fn variant_label(&self) -> String {
        let mut out = self
            .classifier_label()
            .map_or(String::new(), |c| format!(", classifier {c}"));
        if self.tta != Tta::None {
            out.push_str(&format!(
                ", test-time augmentation {} ({} views)",
                self.tta,
                self.tta.views()
            ));
        }
        out
    }

    /// Checks the values a user types (k, bank size, sweep ks); the error names the value as
    /// it is typed on the command line.
    pub fn validate(&self, sweep: &[usize]) -> Result<(), KShotError> {
        if self.k == 0 {
            return Err(KShotError::ZeroK);
        }
        if self.draws == 0 {
            return Err(KShotError::ZeroDraws);
        }
        if self.draws > MAX_DRAWS {
            return Err(KShotError::TooManyDraws(self.draws));
        }
        if !(self.logistic_c > 0.0 && self.logistic_c.is_finite()) {
            return Err(KShotError::LogisticC(self.logistic_c));
        }
        if let Some(&bad) = sweep.iter().find(|&&k| k == 0) {
            return Err(KShotError::ZeroSweepK(bad));
        }
        Repeated::check(
            "sweep",
            sweep,
            usize::to_string,
            "each k is one point of the sweep",
        )?;
        if self.by_subject && self.protocol == Protocol::HeldoutTest {
            return Err(KShotError::BySubjectHeldout {
                reason: HELDOUT_ASKED.into(),
            });
        }
        Ok(())
    }
}

impl KShotResult {
    /// The record of an evaluation of `run`'s checkpoint `epoch` on the prepared sets. The
    /// target is recorded canonical, so results compare (reports, the console, sweeps)
    /// whichever folder the evaluation ran from.
    pub fn new(
        run: &RunDir,
        epoch: usize,
        target: PathBuf,
        options: KShotOptions,
        prep: &Prepared,
        summary: Option<KShotSummary>,
        sweep: Vec<SweepPoint>,
    ) -> Self {
        KShotResult {
            run_id: run.id(),
            epoch,
            target: std::fs::canonicalize(&target).unwrap_or(target),
            options,
            protocol: prep.protocol,
            classes: prep.classes.clone(),
            support_pool: prep.support_labels.len(),
            queries: prep.query_labels.len(),
            summary,
            sweep,
            collapse: prep.collapse,
        }
    }

    /// The held-out protocol's support part when it is not [`DEFAULT_SUPPORT_PART`]: part of
    /// the result's name, so results drawn from different parts never overwrite or stand
    /// for each other. `None` for the default part and for the pool protocol (no parts).
    pub fn support_part(&self) -> Option<&str> {
        (self.protocol == Protocol::HeldoutTest
            && self.options.support_part != DEFAULT_SUPPORT_PART)
            .then_some(self.options.support_part.as_str())
    }

    /// Every result saved in the run's `kshot/` folder (unreadable files are skipped), in
    /// folder order.
    pub fn load_all(run: &RunDir) -> Vec<KShotResult> {
        Self::files(run)
            .into_iter()
            .filter_map(|(path, _)| crate::runs::read_json(&path).ok())
            .collect()
    }

    /// The result with a summary whose file was written last (a later evaluation replaces
    /// its file, so this is the one computed most recently); ties go to the later file name.
    /// Files are read newest first, so the console's two-second refresh parses one file, not
    /// every result again.
    pub fn newest(run: &RunDir) -> Option<KShotResult> {
        let mut files = Self::files(run);
        files.sort_by(|a, b| (b.1, &b.0).cmp(&(a.1, &a.0)));
        files.into_iter().find_map(|(path, _)| {
            crate::runs::read_json::<KShotResult>(&path)
                .ok()
                .filter(|r| r.summary.is_some())
        })
    }

    /// The `.json` files of the run's `kshot/` folder, each with its modification time
    /// (`None` where the file system gives none).
    fn files(run: &RunDir) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
        std::fs::read_dir(run.kshot_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .map(|e| (e.path(), e.metadata().and_then(|m| m.modified()).ok()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes the result into the run's `kshot/` folder (atomically); returns the file.
    pub fn save(&self, run: &RunDir) -> Result<PathBuf, RunsError> {
        let path = self.save_path(run);
        crate::runs::write_json(&path, self)?;
        Ok(path)
    }

    /// Where [`save`](Self::save) writes: [`file_name`](Self::file_name), which a later
    /// result of the same evaluation on the same target replaces; when that name holds a
    /// result on another target (or one that cannot be read), the name with a tag of this
    /// target (`…-t1a2b3c4d.json`, from its path), so no target's result overwrites another's.
    pub fn save_path(&self, run: &RunDir) -> PathBuf {
        let plain = run.kshot_dir().join(self.file_name());
        let same_target = |old: KShotResult| old.target == self.target;
        if !plain.exists() || crate::runs::read_json::<KShotResult>(&plain).is_ok_and(same_target) {
            return plain;
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.target.as_os_str().as_encoded_bytes());
        let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let name = self.file_name();
        let stem = name.strip_suffix(".json").unwrap_or(&name);
        run.kshot_dir().join(format!("{stem}-t{tag}.json"))
    }

    /// File name inside `kshot/`.
    pub fn file_name(&self) -> String {
        let ks = if self.sweep.is_empty() {
            format!("k{}", self.options.k)
        } else {
            format!(
                "sweep{}",
                self.sweep
                    .iter()
                    .map(|p| p.k.to_string())
                    .collect::<Vec<_>>()
                    .join("-")
            )
        };
        let method = match self.options.method {
            Method::Prototype => String::new(),
            Method::Logistic if self.options.logistic_c != DEFAULT_LOGISTIC_C => {
                format!("-logistic-c{}", self.options.logistic_c)
            }
            m => format!("-{m}"),
        };
        let tta = match self.options.tta {
            Tta::None => String::new(),
            t => format!("-tta-{t}"),
        };
        format!(
            "e{:03}-{}{}-{}-d{}-s{}{}{}{}{method}{tta}.json",
            self.epoch,
            self.protocol.as_str(),
            self.support_part()
                .map_or(String::new(), |p| format!("-support-{p}")),
            ks,
            self.options.draws,
            self.options.seed,
            if self.options.by_subject {
                "-bysubject"
            } else {
                ""
            },
            if self.options.with_replacement {
                "-replace"
            } else {
                ""
            },
            match self.options.normalize {
                Normalization::None => String::new(),
                mode => format!("-{mode}"),
            },
        )
    }
}

/// Runs the bank at `opts.k` and, when `sweep` is not empty, at each k of the sweep.
pub fn run(
    prep: &Prepared,
    opts: &KShotOptions,
    sweep: &[usize],
) -> Result<(Option<KShotSummary>, Vec<SweepPoint>), KShotError> {
    let mut points = Vec::new();
    for &k in sweep {
        let o = KShotOptions { k, ..opts.clone() };
        let draws = draw_bank(prep, &o)?;
        let metrics = evaluate_cell(prep, Cell::of(opts), &draws);
        if let Some(summary) = KShotSummary::from_draws(&metrics) {
            points.push(SweepPoint { k, summary });
        }
    }
    let summary = if sweep.is_empty() {
        let draws = draw_bank(prep, opts)?;
        KShotSummary::from_draws(&evaluate_cell(prep, Cell::of(opts), &draws))
    } else {
        points
            .iter()
            .find(|p| p.k == opts.k)
            .map(|p| p.summary.clone())
    };
    Ok((summary, points))
}

/// Progress of preparing a k-shot evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareProgress {
    /// Scanning the target folder.
    Scanning,
    /// Embedding images (done, total); `cached` when read from the run's cache.
    Embedding {
        /// Images done.
        done: usize,
        /// Images in all.
        total: usize,
    },
    /// A file was skipped.
    Warning(String),
    /// Something to know before a long step (the cost of test-time augmentation).
    Note(String),
}

/// Loads a checkpoint, scans the target and embeds what the protocol needs (cached in the
/// run folder): everything a bank of draws needs, on any device. Banks at `opts.k` and at
/// each of `ks` are checked drawable ([`check_bank`]) before anything is embedded.
pub fn prepare_checkpoint(
    run: &crate::runs::RunDir,
    epoch: Option<usize>,
    target: &std::path::Path,
    opts: &KShotOptions,
    ks: &[usize],
    device: &burn::prelude::Device,
    progress: &mut dyn FnMut(PrepareProgress),
) -> Result<(usize, Dataset, Prepared), KShotError> {
    use burn::module::Module;
    let epoch = run.checkpoint_or_last(epoch)?;
    let (info, model) = crate::runs::load_model(run, epoch, device)?;
    let model = model.valid();
    progress(PrepareProgress::Scanning);
    let ds = scan_target(target)?;
    for s in &ds.skipped {
        progress(PrepareProgress::Warning(format!(
            "skipped {}: {}",
            s.path.display(),
            s.reason
        )));
    }
    for w in &ds.warnings {
        progress(PrepareProgress::Warning(w.clone()));
    }
    let (_, support, queries) = check_bank(&ds, opts, ks)?;
    let mut needed: Vec<usize> = support.iter().chain(&queries).copied().collect();
    needed.sort_unstable();
    needed.dedup();
    let paths: Vec<PathBuf> = needed.iter().map(|&i| ds.samples[i].path.clone()).collect();
    let cache_dir = run.embeddings_dir();
    if opts.tta != Tta::None {
        progress(PrepareProgress::Note(format!(
            "test-time augmentation {}: {} views per image, {}× the embedding time of plain embeddings (once per checkpoint; cached)",
            opts.tta,
            opts.tta.views(),
            opts.tta.views()
        )));
    }
    let mut warnings = Vec::new();
    let embedded = super::embed::embed_images(
        &model.embedder,
        &paths,
        epoch,
        info.config.image_size,
        opts.tta,
        super::embed::batch_size(device),
        device,
        Some(&cache_dir),
        &mut |done, total| progress(PrepareProgress::Embedding { done, total }),
        &mut |w| warnings.push(w),
    );
    for w in warnings {
        progress(PrepareProgress::Warning(w));
    }
    let prep = prepare(&ds, opts, &needed, &embedded)?;
    Ok((epoch, ds, prep))
}
