//! Typed events that background work sends to the console loop, and the small types they
//! carry that several console files share ([`Which`], [`RunRow`]).

use std::path::PathBuf;
use std::sync::Arc;

use bloodshot::data::Dataset;
use bloodshot::data::stats::DatasetStats;
use bloodshot::fewshot::evaluate::Prepared;
use bloodshot::fewshot::metrics::DrawMetrics;
use bloodshot::fewshot::pca::Pca;
use bloodshot::train::TrainEvent;

use bloodshot::model::Objective;
use bloodshot::runs::RunState;
use tokio::sync::mpsc::UnboundedSender;

use super::gpu::GpuStats;
use super::thumb::Thumb;

/// Sender of console events.
pub type Tx = UnboundedSender<AppEvent>;

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Base (training) set.
    Base,
    /// Target (few-shot) set.
    Target,
}

/// A run in the Runs tab (read from its folder).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// Folder.
    pub path: PathBuf,
    /// Id.
    pub id: String,
    /// Objective.
    pub objective: Objective,
    /// Last complete epoch / configured epochs.
    pub epochs: (usize, usize),
    /// Best validation accuracy.
    pub best_val: Option<f64>,
    /// The k-shot result computed last (its file written last): (k, its label from
    /// `kshot_label`, accuracy mean, std).
    pub kshot: Option<(usize, String, f64, f64)>,
    /// The target folder that result was scored on (canonical when it exists here).
    pub kshot_target: Option<PathBuf>,
    /// State.
    pub state: RunState,
    /// `Running` on disk but its process is gone (killed): resumable.
    pub interrupted: bool,
    /// Checkpoints available.
    pub checkpoints: Vec<usize>,
}

/// A finished k-shot preparation.
#[derive(Debug, Clone)]
pub struct PreparedSession {
    /// Checkpoint epoch.
    pub epoch: usize,
    /// Embedded sets (plain embeddings).
    pub prep: Arc<Prepared>,
    /// The same sets with augmented embeddings, when the form asked for them.
    pub augmented: Option<(bloodshot::fewshot::tta::Tta, Arc<Prepared>)>,
    /// Target dataset (paths for thumbnails).
    pub dataset: Arc<Dataset>,
    /// PCA basis of the queries, and the points per class.
    pub pca: Arc<Pca>,
    /// Points of the PCA sample, per class.
    pub points: Vec<Vec<(f64, f64)>>,
    /// The bank of draws for the options it was prepared with (drawn off the UI thread).
    pub bank: Arc<[bloodshot::fewshot::sampler::Draw]>,
}

/// The accuracy-vs-k curves of `w`: every classifier on the same banks of each k.
#[derive(Debug, Clone, PartialEq)]
pub struct KSweep {
    /// The normalisation the curves were computed under.
    pub normalize: bloodshot::fewshot::score::Normalization,
    /// The test-time augmentation of the embeddings they were computed on.
    pub tta: bloodshot::fewshot::tta::Tta,
    /// Points per classifier, indexed like [`Method::ALL`].
    pub by_method: Vec<Vec<bloodshot::fewshot::evaluate::SweepPoint>>,
    /// The ks left out and why (a class smaller than k).
    pub left_out: Option<(Vec<usize>, String)>,
}

/// Results of evaluating a range of draws.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// Metrics of the draws, in order, in every classifier × normalisation cell (indexed
    /// like `Cell::grid`).
    pub by_cell: Vec<Vec<DrawMetrics>>,
    /// Cell the misclassified thumbnails were found with.
    pub thumbs_cell: bloodshot::fewshot::evaluate::Cell,
    /// Thumbnails of the last draw's support set, per class.
    pub support_thumbs: Vec<Vec<Thumb>>,
    /// Misclassified queries of the last draw: (true, predicted, thumb).
    pub miss_thumbs: Vec<(usize, usize, Thumb)>,
    /// The last draw's prototypes in PCA coordinates.
    pub prototypes: Vec<(f64, f64)>,
}

/// A scanned dataset with one thumbnail per kept class.
pub type ScanResult = Result<(Box<DatasetStats>, Vec<(String, Thumb)>), String>;

/// Everything that can wake the console loop.
#[derive(Debug)]
pub enum AppEvent {
    /// Terminal input.
    Input(crossterm::event::Event),
    /// Scan progress.
    ScanProgress(Which, String, usize, usize),
    /// Scan result with one thumbnail per kept class.
    Scanned(Which, ScanResult),
    /// Training event.
    Train(TrainEvent),
    /// Event of a run followed from its files (trained by another process).
    Watched(TrainEvent),
    /// Fresh run list, with Table 1 over all runs and the runs folder's fingerprint
    /// ([`bloodshot::runs::fingerprint`]) taken before it was read.
    Runs(Vec<RunRow>, Box<bloodshot::report::table1::Table1>, u64),
    /// Embedding progress.
    PrepareProgress(usize, usize),
    /// Remark while preparing.
    PrepareWarning(String),
    /// Preparation done.
    Prepared(Result<Box<PreparedSession>, String>),
    /// Draws evaluated.
    Evaluated(Result<Box<Evaluated>, String>),
    /// Sweep done.
    Swept(Result<KSweep, String>),
    /// The system history of the run in this folder.
    System(
        std::path::PathBuf,
        Vec<bloodshot::train::system::SystemSample>,
    ),
    /// The overlay's curves: the folders asked for, the runs read, and the folders that
    /// exist but could not be read (with why).
    Curves(
        Vec<PathBuf>,
        Vec<bloodshot::report::compare::Curves>,
        Vec<String>,
    ),
    /// The pinned baseline's curves.
    Baseline(Result<bloodshot::report::compare::Curves, String>),
    /// The explorer table of a sweep (its id).
    Explorer(String, Box<bloodshot::sweep::explore::Explorer>),
    /// Export done.
    Exported(Result<Vec<PathBuf>, String>),
    /// An import or weights export finished (one line either way).
    Interop(Result<String, String>),
    /// Fresh sweeps list.
    Sweeps(Vec<super::state::sweeps::SweepRow>),
    /// The sweep this console started has this id.
    SweepCreated(String),
    /// Progress of the sweep this console runs.
    SweepProgress(bloodshot::sweep::SweepEvent),
    /// The sweep this console ran returned.
    SweepEnded(Result<bloodshot::sweep::Outcome, String>),
    /// GPU reading while training on a GPU.
    Gpu(Result<GpuStats, String>),
    /// The devices this binary can use here, CPU first.
    Devices(Vec<bloodshot::device::DeviceSpec>),
}
