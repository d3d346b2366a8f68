//! The headless command line: argument parsing and one function per subcommand.

pub mod commands;
pub mod manual;
pub mod progress;
pub mod sweep;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use bloodshot::device::DeviceSpec;
use bloodshot::fewshot::evaluate::KShotOptions;
use bloodshot::fewshot::evaluate::Protocol;
use bloodshot::fewshot::method::Method;
use bloodshot::fewshot::score::Normalization;
use bloodshot::fewshot::tta::Tta;
use bloodshot::model::Objective;
use bloodshot::runs::{Setting, TrainConfig};
use bloodshot::sweep::Grid;

/// The engine's training defaults: the CLI shows and uses these, never its own copies.
fn train_defaults() -> TrainConfig {
    TrainConfig::default()
}

/// The engine's k-shot defaults.
fn kshot_defaults() -> KShotOptions {
    KShotOptions::default()
}

/// BloodShot: few-shot learning on blood-cell microscopy, in the terminal.
///
/// With no subcommand, opens the console on the bundled sample data.
#[derive(Debug, Parser)]
#[command(name = "bloodshot", version, about, long_about = None)]
pub struct Cli {
    /// Folder holding the runs (default: the XDG data folder, or $BLOODSHOT_HOME/runs).
    #[arg(long, global = true)]
    pub runs_dir: Option<PathBuf>,
    /// Subcommand (none: the console).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Dataset statistics: layout, classes kept and dropped, formats, sizes, corrupt files, duplicates.
    Stats(StatsArgs),
    /// Train the embedder on the base set.
    Train(TrainArgs),
    /// K-shot evaluation of a run's checkpoint on the target set.
    Kshot(KshotArgs),
    /// Write the markdown report of a run.
    Export(ExportArgs),
    /// Import a torchvision EfficientNet-B0 state dict, a BloodShot Lightning checkpoint or
    /// an `export-weights` safetensors file as a new run.
    Import(ImportArgs),
    /// Write a run's weights as safetensors with torchvision key names.
    ExportWeights(ExportWeightsArgs),
    /// Train a grid of configurations × seeds and evaluate every run on one shared k-shot
    /// bank, on the devices given; resumable; or print the jobs for GNU parallel / Slurm.
    Sweep(Box<SweepArgs>),
    /// What this binary can compute on here: the CPU (threads, SIMD level), every wgpu and
    /// Vulkan adapter, every CUDA device (name, memory, driver) — and why a backend is not
    /// usable. `train --device` and `sweep --devices` accept only what this lists.
    Devices(DevicesArgs),
    /// (Re)generate the synthetic sample data.
    SampleData(SampleDataArgs),
    /// Embedding and training throughput on one device (what `scripts/gpu-check.sh` runs;
    /// `cargo bench --bench throughput` measures the same on a development machine).
    #[command(hide = true)]
    Bench(BenchArgs),
    /// Open the console.
    Tui(TuiArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell (see the
    /// README for where each shell looks for it).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or with `--dir` write one page per command there
    /// (`bloodshot.1`, `bloodshot-train.1`, …) for `man -l` or a `MANPATH` folder.
    Man(ManArgs),
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `bloodshot.1` and one `bloodshot-<command>.1` per command into this folder
    /// (created if missing) instead of printing the main page.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Base dataset folder (default: bundled sample).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Target dataset folder (default: bundled sample).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Drop classes with fewer images.
    #[arg(long, default_value_t = bloodshot::data::DEFAULT_MIN_CLASS_SIZE)]
    pub min_class_size: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The device to measure (one `bloodshot devices` lists).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Image side in pixels.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Training steps per objective (the first is timed apart).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Images per embedding batch (default: what k-shot embedding uses on the device).
    #[arg(long)]
    pub embed_batch: Option<usize>,
    /// Embedding batches timed after the first (their median is reported).
    #[arg(long, default_value_t = 5)]
    pub embed_reps: usize,
    /// Objectives to train.
    #[arg(long, value_delimiter = ',', default_value = "aam-consistency")]
    pub objectives: Vec<Objective>,
}

/// `devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The base data and what is done with it besides the grid's settings.
    #[command(flatten)]
    pub data: BaseDataArgs,
    /// Start the embedder from a run (folder, id or `latest`: its last checkpoint) or a
    /// weights file (torchvision `.pth`, Lightning `.ckpt`, `.safetensors`) instead of at
    /// random; the head is fresh, for the base classes.
    #[arg(long, value_name = "RUN|FILE")]
    pub init: Option<String>,
    /// The training settings (one value each).
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Continue RUN (path, id or `latest`) from its last complete epoch.
    #[arg(long)]
    pub resume: Option<String>,
    /// Train into run ID (a sweep's job): created if absent, resumed if half-trained, left
    /// alone if already trained.
    #[arg(long, conflicts_with = "resume")]
    pub run_id: Option<String>,
    /// cpu | cuda[:N] | wgpu[:N|:cpu|…] | vulkan[:N|…]: one that `bloodshot devices` lists.
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// GPU kernel autotuning effort: minimal | balanced | extensive | full (sets
    /// CUBECL_AUTOTUNE_LEVEL; lower levels shorten the slow first steps).
    #[arg(long, value_parser = ["minimal", "balanced", "extensive", "full"])]
    pub autotune: Option<String>,
    /// Print one JSON object on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

/// `kshot`.
#[derive(Debug, Args)]
pub struct KshotArgs {
    /// Run: folder path, id, or `latest`.
    #[arg(long, default_value = "latest")]
    pub run: String,
    /// Checkpoint epoch (default: the last complete one).
    #[arg(long)]
    pub checkpoint: Option<usize>,
    /// Target dataset folder (default: bundled sample).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Support images per class; with --sweep, the k of the detailed scores (one of the
    /// sweep's ks).
    #[arg(long, help = format!("Support images per class; with --sweep, the k whose per-class scores and confusion matrix are kept (one of the sweep's ks) [default: {}]", kshot_defaults().k))]
    pub k: Option<usize>,
    /// Accuracy-vs-k sweep, e.g. 1,2,3,5,10.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<usize>,
    /// Number of seeded draws (at most 100000).
    #[arg(long, default_value_t = kshot_defaults().draws)]
    pub draws: usize,
    /// Seed of the bank of draws.
    #[arg(long, default_value_t = kshot_defaults().seed)]
    pub seed: u64,
    /// How support sets are drawn.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Embedding normalisation: none (the original) | centre-support | centre-target | cl2n
    /// (the last two use the unlabelled target: transductive). Several, comma-separated,
    /// are scored on the same draws, one saved result each, and compared to the first
    /// (paired difference with a 95 % bootstrap interval).
    #[arg(long, value_delimiter = ',', default_values_t = [kshot_defaults().normalize])]
    pub normalize: Vec<Normalization>,
    /// The classifiers.
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// The device that embeds the images: cpu | cuda[:N] | wgpu[:N|:cpu|…] | vulkan[:N|…],
    /// one that `bloodshot devices` lists.
    #[arg(long, default_value_t = DeviceSpec::default())]
    pub device: DeviceSpec,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the run's markdown report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The base dataset and the training settings a sweep's grid does not vary, shared by
/// `train` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct BaseDataArgs {
    /// Base dataset folder (default: bundled sample).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Use at most N images per class (quick experiments).
    #[arg(long)]
    pub limit_per_class: Option<usize>,
    /// Drop classes with fewer images.
    #[arg(long, default_value_t = train_defaults().min_class_size)]
    pub min_class_size: usize,
    /// Do not use the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Batch-norm recalibration passes after each epoch (0 = none, as the original).
    #[arg(long, default_value_t = train_defaults().bn_recalibration)]
    pub bn_recalibration: usize,
}

impl BaseDataArgs {
    /// `config` with these settings (`base` made absolute by `absolute`).
    pub fn apply(&self, config: TrainConfig, absolute: impl Fn(&Path) -> PathBuf) -> TrainConfig {
        TrainConfig {
            base: absolute(self.base.as_deref().unwrap_or(&config.base)),
            limit_per_class: self.limit_per_class,
            min_class_size: self.min_class_size,
            use_cache: !self.no_cache,
            bn_recalibration: self.bn_recalibration,
            ..config
        }
    }
}

/// The training settings a sweep's grid can vary (`runs::Setting`), declared once for
/// `train` (one value each) and `sweep` (comma-separated values: one grid axis each). A flag
/// not given takes the default configuration's value.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    #[arg(long, visible_alias = "objectives", value_delimiter = ',', help = format!("softmax | aam | aam-consistency; in a sweep several, comma-separated [default: {} in train, all three in a sweep]", train_defaults().objective))]
    pub objective: Vec<Objective>,
    #[arg(long, value_delimiter = ',', help = with_default("Epochs (BloodShot: 6)", train_defaults().epochs))]
    pub epochs: Vec<usize>,
    #[arg(long, value_delimiter = ',', help = with_default("Images per step", train_defaults().batch_size))]
    pub batch_size: Vec<usize>,
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, help = with_default("Adam learning rate", train_defaults().lr))]
    pub lr: Vec<f64>,
    #[arg(long, value_delimiter = ',', help = with_default("Square image side in pixels", train_defaults().image_size))]
    pub image_size: Vec<u32>,
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, help = with_default("ArcFace margin (radians)", train_defaults().aam.margin))]
    pub margin: Vec<f64>,
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, help = with_default("ArcFace scale", train_defaults().aam.scale))]
    pub scale: Vec<f64>,
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, help = with_default("Weight of the rotation-consistency loss", train_defaults().lambda))]
    pub lambda: Vec<f64>,
    #[arg(long, visible_alias = "seeds", value_delimiter = ',', help = with_default("Seed (split, shuffling, rotations, initialisation)", train_defaults().seed))]
    pub seed: Vec<u64>,
}

/// A setting's help: in a sweep it takes a list; its default as clap shows defaults.
fn with_default(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help}; in a sweep several, comma-separated [default: {default}]")
}

impl SettingsArgs {
    /// Each flag's values as a grid axis (empty where the flag is not given).
    pub fn grid(&self) -> Grid {
        Grid {
            objectives: self.objective.clone(),
            seeds: self.seed.clone(),
            margins: self.margin.clone(),
            scales: self.scale.clone(),
            lambdas: self.lambda.clone(),
            image_sizes: self.image_size.clone(),
            epochs: self.epochs.clone(),
            lrs: self.lr.clone(),
            batch_sizes: self.batch_size.clone(),
        }
    }

    /// `base` with each flag's value; refused when a flag has several (a grid is a sweep).
    pub fn single(&self, base: TrainConfig) -> Result<TrainConfig, String> {
        let grid = self.grid();
        for s in Setting::ALL {
            let n = grid.axis(s).len();
            if n > 1 {
                return Err(format!(
                    "--{} has {n} values: train takes one (several make a grid: bloodshot sweep)",
                    s.field().replace('_', "-")
                ));
            }
        }
        Ok(grid.configs(&base).swap_remove(0))
    }
}

/// How support sets are drawn, shared by `kshot` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// auto | heldout-test | pool.
    #[arg(long, default_value = kshot_defaults().protocol.as_str())]
    pub protocol: Protocol,
    /// Pool protocol: support and query subjects never overlap.
    #[arg(long)]
    pub by_subject: bool,
    /// Draw support with replacement (the original BloodShot sampler).
    #[arg(long)]
    pub with_replacement: bool,
    /// Training part to draw support from in the held-out protocol (not `test`: its images are the queries).
    #[arg(long, default_value_t = kshot_defaults().support_part)]
    pub support_part: String,
}

impl SamplingArgs {
    /// `opts` drawn this way.
    pub fn apply(&self, opts: KShotOptions) -> KShotOptions {
        KShotOptions {
            protocol: self.protocol,
            by_subject: self.by_subject,
            with_replacement: self.with_replacement,
            support_part: self.support_part.clone(),
            ..opts
        }
    }
}

/// The classifier options, shared by `kshot` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct ClassifierArgs {
    /// Classifier on the embeddings: prototype (nearest class mean by cosine; Snell et al.
    /// 2017, the BloodShot method) | logistic (L2-regularised logistic regression on the
    /// L2-normalised support; Tian et al. 2020) | soft-kmeans (prototypes refined by one soft
    /// k-means step over the unlabelled queries; Ren et al. 2018; transductive). Several,
    /// comma-separated, are combined with every --normalize on the same draws, one saved
    /// result per pair, each compared to the first pair.
    #[arg(long, value_delimiter = ',', default_values_t = [kshot_defaults().method])]
    pub method: Vec<Method>,
    /// logistic: inverse regularisation strength C (scikit-learn's convention and default).
    #[arg(long, default_value_t = kshot_defaults().logistic_c)]
    pub logistic_c: f64,
    /// Test-time augmentation: none | dihedral (each image's embedding is the mean over its
    /// 8 rotations and flips; 8× the embedding time, once per checkpoint, cached). Both,
    /// comma-separated, score the grid on each embedding, same draws.
    #[arg(long, value_delimiter = ',', default_values_t = [kshot_defaults().tta])]
    pub tta: Vec<Tta>,
}

impl ClassifierArgs {
    /// `--logistic-c` other than the default without `--method logistic` would change
    /// nothing: refused in one sentence (it was ignored). A C that is no positive number is
    /// left to the options' own check, which says so.
    pub fn check(&self) -> Result<(), String> {
        let default = kshot_defaults().logistic_c;
        let valid = self.logistic_c > 0.0 && self.logistic_c.is_finite();
        if valid && self.logistic_c != default && !self.method.contains(&Method::Logistic) {
            let methods: Vec<&str> = self.method.iter().map(|m| m.as_str()).collect();
            return Err(format!(
                "--logistic-c {} applies to the logistic classifier, and --method {} does not include it: add logistic to --method, or leave --logistic-c out",
                self.logistic_c,
                methods.join(",")
            ));
        }
        Ok(())
    }
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run: folder path, id, or `latest`.
    #[arg(long, default_value = "latest")]
    pub run: String,
    /// Output file (default: report.md in the run folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead of a report: tidy CSV files of every run in the runs folder, written into
    /// DIR (runs.csv, epochs.csv, steps.csv, draws.csv) for pandas or R.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["run", "out"])]
    pub csv: Option<PathBuf>,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The checkpoint: `.pth`/`.pt` (torchvision state dict), `.ckpt` (BloodShot Lightning)
    /// or `.safetensors` (torchvision names).
    pub file: PathBuf,
    /// Run id to create (default: `<time>-<objective>-import`).
    #[arg(long)]
    pub name: Option<String>,
    /// Class names of the head, in its order (default: BloodShot's 11 AML classes for an
    /// 11-class `metric_loss.W`, else class-0, class-1, …).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// softmax | aam | aam-consistency (default: inferred from the head).
    #[arg(long)]
    pub objective: Option<Objective>,
    /// Image side the model was trained at.
    #[arg(long, default_value_t = train_defaults().image_size)]
    pub image_size: u32,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `export-weights`.
#[derive(Debug, Args)]
pub struct ExportWeightsArgs {
    /// Run: folder path, id, or `latest`.
    #[arg(long, default_value = "latest")]
    pub run: String,
    /// Checkpoint epoch (default: the last complete one).
    #[arg(long)]
    pub checkpoint: Option<usize>,
    /// Output file (default: weights.safetensors in the run folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Continue sweep ID (or `latest`): jobs not done run, half-trained runs resume from their
    /// checkpoints, nothing is trained twice.
    #[arg(long, conflicts_with = "status")]
    pub resume: Option<String>,
    /// Print where every job of sweep ID (or `latest`) stands, and exit.
    #[arg(long)]
    pub status: Option<String>,
    /// Do not run: print one self-contained shell command per job (train, then k-shot on the
    /// shared bank), for GNU parallel or a Slurm array.
    #[arg(long)]
    pub print_commands: bool,
    /// Devices, one job per device at a time: cpu | cuda:0,cuda:1 | wgpu | vulkan … (each one
    /// `bloodshot devices` lists; refused before the sweep is created otherwise).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub devices: Vec<DeviceSpec>,
    /// The grid: each training setting given several values (comma-separated) is an axis.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The base data and what is done with it besides the grid's settings.
    #[command(flatten)]
    pub data: BaseDataArgs,
    /// Target dataset folder (default: bundled sample).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Support images per class: one bank (and one result per run) each.
    #[arg(long = "k", value_delimiter = ',', default_values_t = [kshot_defaults().k])]
    pub ks: Vec<usize>,
    /// Draws in the shared bank (at most 100000).
    #[arg(long, default_value_t = kshot_defaults().draws)]
    pub draws: usize,
    /// Seed of the shared bank.
    #[arg(long, default_value_t = kshot_defaults().seed)]
    pub kshot_seed: u64,
    /// How support sets are drawn.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Normalisations, one result each: none | centre-support | centre-target | cl2n.
    #[arg(long, value_delimiter = ',', default_values_t = [kshot_defaults().normalize])]
    pub normalize: Vec<Normalization>,
    /// The classifiers: one result each with every normalisation, and Table 1 per classifier.
    #[command(flatten)]
    pub classifier: ClassifierArgs,
}

/// `sample-data`.
#[derive(Debug, Args)]
pub struct SampleDataArgs {
    /// Output folder.
    #[arg(long, default_value = "sample-data")]
    pub out: PathBuf,
}

/// `tui`.
#[derive(Debug, Args, Default)]
pub struct TuiArgs {
    /// Base dataset folder (default: bundled sample).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Target dataset folder (default: bundled sample).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// The Train form's first device: cpu | cuda[:N] | wgpu[:N|:cpu|…] | vulkan[:N|…], one
    /// that `bloodshot devices` lists (otherwise the form says cpu and why).
    #[arg(long)]
    pub device: Option<DeviceSpec>,
}
