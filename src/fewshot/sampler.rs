//! Seeded banks of k-shot draws (support sets and query sets).
//!
//! Two protocols:
//! - **held-out** (the BloodShot protocol): support images come from a support pool
//!   (C-NMC fold_0) and every draw is scored on the whole, separate query set;
//! - **pool**: support and queries come from one labelled pool; each draw's queries are
//!   the pool minus its support (optionally minus every subject that gave support).
//!
//! Draw `i` always uses its own RNG seeded from `(seed, i)`, so a bank is a fixed sequence:
//! draw 7 is the same in a 10-draw and a 100-draw bank, and two checkpoints evaluated with
//! the same seed see exactly the same support sets (a paired comparison).

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a bank of draws (or an embedding matrix) cannot be built from the given inputs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FewShotError {
    /// k must be at least 1.
    #[error("k = 0: every class needs at least one support image")]
    ZeroK,
    /// The bank must have at least one draw.
    #[error("draws = 0: the bank needs at least one draw")]
    ZeroDraws,
    /// Prototype classification needs at least two classes.
    #[error("needs at least two classes (n_classes = {n_classes})")]
    TooFewClasses {
        /// The number of classes given.
        n_classes: usize,
    },
    /// `class_names` does not have one name per class.
    #[error("{names} class names were given for n_classes = {n_classes}")]
    ClassNamesMismatch {
        /// Number of names given.
        names: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// An item's label is not a valid class index.
    #[error("item {index} has label {label}, but there are only {n_classes} classes")]
    LabelOutOfRange {
        /// The item.
        index: usize,
        /// Its label.
        label: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// A class has no item at all in the pool.
    #[error("class `{class}` has no images in the support pool")]
    EmptyClass {
        /// The class name (or index).
        class: String,
    },
    /// Without replacement, k cannot exceed the number of images of a class.
    #[error("k = {k} is larger than class `{class}` ({available} images)")]
    KLargerThanClass {
        /// The requested k.
        k: usize,
        /// The class name (or index).
        class: String,
        /// Images of that class available.
        available: usize,
    },
    /// Pool protocol: taking k support images would leave a class without queries.
    #[error(
        "k = {k} leaves no query image of class `{class}` ({available} images in the pool); the pool protocol needs k < class size"
    )]
    NoQueryLeft {
        /// The requested k.
        k: usize,
        /// The class name (or index).
        class: String,
        /// Images of that class in the pool.
        available: usize,
    },
    /// Pool protocol: one draw happened to leave a class without queries.
    #[error(
        "draw {draw} left no query image of class `{class}` (its support subjects or duplicates used them all); lower k or turn off by_subject"
    )]
    DrawLeftNoQuery {
        /// Index of the draw in the bank.
        draw: usize,
        /// The class name (or index).
        class: String,
    },
    /// `labels` and `subjects` must describe the same items.
    #[error("{labels} labels but {subjects} subject ids: there must be one subject entry per item")]
    SubjectsLengthMismatch {
        /// Number of labels.
        labels: usize,
        /// Number of subject entries.
        subjects: usize,
    },
    /// `by_subject` was asked but an item has no subject id.
    #[error(
        "by_subject needs a subject id for every image, but item {index} (class `{class}`) has none"
    )]
    MissingSubject {
        /// The item without a subject.
        index: usize,
        /// Its class name (or index).
        class: String,
    },
    /// `by_subject` needs at least two subjects per class (one for support, one for queries).
    #[error(
        "by_subject: class `{class}` has images from only {subjects} subject(s); at least two are needed so that support and query subjects differ"
    )]
    TooFewSubjects {
        /// The class name (or index).
        class: String,
        /// Number of distinct subjects in that class.
        subjects: usize,
    },
    /// The held-out query set is empty.
    #[error("n_queries = 0: the held-out query set is empty")]
    NoQueries,
    /// An embedding matrix whose length is not a multiple of its dimension.
    #[error("embedding matrix of {len} values is not a whole number of rows of dim = {dim}")]
    EmbeddingShape {
        /// Declared embedding dimension.
        dim: usize,
        /// Number of values given.
        len: usize,
    },
}

/// Support indices of one draw: `per_class[c]` holds the (sorted) pool indices of class c.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportSet {
    /// Pool indices per class, sorted ascending (duplicates only when sampled with replacement).
    pub per_class: Vec<Vec<usize>>,
}

impl SupportSet {
    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.per_class.len()
    }

    /// All support indices of all classes, class by class.
    pub fn all_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.per_class.iter().flatten().copied()
    }
}

/// One k-shot draw: a support set and the queries to classify with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// Position of the draw in its bank.
    pub index: usize,
    /// Seed of this draw's own RNG, derived from the bank seed and `index`.
    pub seed: u64,
    /// The support images.
    pub support: SupportSet,
    /// Query indices, ascending: into the pool (pool protocol) or `0..n_queries` (held-out,
    /// one list shared by every draw of the bank: a 10,000-draw bank of C-NMC's 1,867
    /// queries would otherwise hold 150 MB of identical lists).
    pub queries: std::sync::Arc<[usize]>,
}

/// How a bank of draws is sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerOptions {
    /// Support images per class.
    pub k: usize,
    /// Number of draws in the bank.
    pub draws: usize,
    /// Bank seed; draw i's RNG is seeded with `draw_seed(seed, i)`.
    pub seed: u64,
    /// Sample support with replacement, as the original BloodShot code did (duplicates possible).
    pub with_replacement: bool,
    /// Pool protocol only: support and query images never share a subject (patient).
    pub by_subject: bool,
    /// Class names for error messages; empty means classes are named by their index.
    pub class_names: Vec<String>,
}

impl SamplerOptions {
    /// Options for `draws` draws of k per class with `seed`, without replacement or subject split.
    pub fn new(k: usize, draws: usize, seed: u64) -> Self {
        Self {
            k,
            draws,
            seed,
            with_replacement: false,
            by_subject: false,
            class_names: Vec::new(),
        }
    }

    fn class_name(&self, class: usize) -> String {
        self.class_names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string())
    }
}

impl Default for SamplerOptions {
    /// The published protocol: k = 10, 100 draws, seed 0.
    fn default() -> Self {
        Self::new(10, 100, 0)
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Seed of draw `index`'s RNG in a bank seeded with `seed`.
///
/// Hashing (rather than `seed + index`) keeps banks with neighbouring seeds from sharing
/// shifted copies of the same draws.
pub fn draw_seed(seed: u64, index: usize) -> u64 {
    splitmix64(seed ^ splitmix64(index as u64))
}

/// Checks the options and labels shared by both protocols; returns the items of each class.
fn validate(
    labels: &[usize],
    n_classes: usize,
    opts: &SamplerOptions,
) -> Result<Vec<Vec<usize>>, FewShotError> {
    if n_classes < 2 {
        return Err(FewShotError::TooFewClasses { n_classes });
    }
    if !opts.class_names.is_empty() && opts.class_names.len() != n_classes {
        return Err(FewShotError::ClassNamesMismatch {
            names: opts.class_names.len(),
            n_classes,
        });
    }
    if opts.k == 0 {
        return Err(FewShotError::ZeroK);
    }
    if opts.draws == 0 {
        return Err(FewShotError::ZeroDraws);
    }
    let mut members = vec![Vec::new(); n_classes];
    for (index, &label) in labels.iter().enumerate() {
        if label >= n_classes {
            return Err(FewShotError::LabelOutOfRange {
                index,
                label,
                n_classes,
            });
        }
        members[label].push(index);
    }
    for (class, items) in members.iter().enumerate() {
        if items.is_empty() {
            return Err(FewShotError::EmptyClass {
                class: opts.class_name(class),
            });
        }
        if !opts.with_replacement && opts.k > items.len() {
            return Err(FewShotError::KLargerThanClass {
                k: opts.k,
                class: opts.class_name(class),
                available: items.len(),
            });
        }
    }
    Ok(members)
}

/// k items from `candidates` (non-empty, and at least k long unless `with_replacement`), sorted.
fn sample_k(
    rng: &mut ChaCha8Rng,
    candidates: &[usize],
    k: usize,
    with_replacement: bool,
) -> Vec<usize> {
    let mut picked: Vec<usize> = if with_replacement {
        (0..k)
            .map(|_| candidates[rng.random_range(0..candidates.len())])
            .collect()
    } else {
        rand::seq::index::sample(rng, candidates.len(), k)
            .into_iter()
            .map(|i| candidates[i])
            .collect()
    };
    picked.sort_unstable();
    picked
}

/// Held-out protocol: per draw, k support indices per class from the support pool; the
/// queries of every draw are the whole query set `0..n_queries`.
///
/// Without replacement k distinct images per class are drawn, so k must not exceed any class;
/// `with_replacement` reproduces the original sampler (k may exceed a non-empty class).
pub fn heldout_draws(
    support_labels: &[usize],
    n_classes: usize,
    n_queries: usize,
    opts: &SamplerOptions,
) -> Result<Vec<Draw>, FewShotError> {
    let members = validate(support_labels, n_classes, opts)?;
    if n_queries == 0 {
        return Err(FewShotError::NoQueries);
    }
    let queries: std::sync::Arc<[usize]> = (0..n_queries).collect();
    Ok((0..opts.draws)
        .map(|index| {
            let seed = draw_seed(opts.seed, index);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let per_class = members
                .iter()
                .map(|items| sample_k(&mut rng, items, opts.k, opts.with_replacement))
                .collect();
            Draw {
                index,
                seed,
                support: SupportSet { per_class },
                queries: std::sync::Arc::clone(&queries),
            }
        })
        .collect())
}

/// Pool protocol: per draw, k support items per class from `labels`' pool; every other item
/// is a query.
///
/// With `by_subject`, each class's support comes only from randomly chosen subjects (just
/// enough of them to hold k images), and every item of those subjects leaves the queries, so
/// no subject is both support and query. Every class must keep at least one query.
pub fn pool_draws(
    labels: &[usize],
    subjects: &[Option<String>],
    n_classes: usize,
    opts: &SamplerOptions,
) -> Result<Vec<Draw>, FewShotError> {
    let members = validate(labels, n_classes, opts)?;
    if opts.by_subject {
        return pool_draws_by_subject(labels, subjects, &members, opts);
    }
    if !opts.with_replacement {
        // A draw removes exactly k items per class, so this check is exhaustive.
        for (class, items) in members.iter().enumerate() {
            if items.len() <= opts.k {
                return Err(FewShotError::NoQueryLeft {
                    k: opts.k,
                    class: opts.class_name(class),
                    available: items.len(),
                });
            }
        }
    }
    let mut draws = Vec::with_capacity(opts.draws);
    let mut is_support = vec![false; labels.len()];
    for index in 0..opts.draws {
        let seed = draw_seed(opts.seed, index);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let per_class: Vec<Vec<usize>> = members
            .iter()
            .map(|items| sample_k(&mut rng, items, opts.k, opts.with_replacement))
            .collect();
        is_support.fill(false);
        for &i in per_class.iter().flatten() {
            is_support[i] = true;
        }
        let queries: Vec<usize> = (0..labels.len()).filter(|&i| !is_support[i]).collect();
        check_every_class_has_a_query(labels, &queries, n_classes, index, opts)?;
        draws.push(Draw {
            index,
            seed,
            support: SupportSet { per_class },
            queries: queries.into(),
        });
    }
    Ok(draws)
}

/// Each item's subject as a small integer (so a draw can mark subjects in a bit vector),
/// and the number of subjects; every item must name one.
fn intern_subjects(
    labels: &[usize],
    subjects: &[Option<String>],
    opts: &SamplerOptions,
) -> Result<(Vec<usize>, usize), FewShotError> {
    let mut subject_ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut subject_of = Vec::with_capacity(labels.len());
    for (index, subject) in subjects.iter().enumerate() {
        let Some(subject) = subject else {
            return Err(FewShotError::MissingSubject {
                index,
                class: opts.class_name(labels[index]),
            });
        };
        let next_id = subject_ids.len();
        subject_of.push(*subject_ids.entry(subject.as_str()).or_insert(next_id));
    }
    Ok((subject_of, subject_ids.len()))
}

/// A class's subjects, each with the class's items of that subject.
type ClassSubjects = Vec<(usize, Vec<usize>)>;

/// Per class: its subjects (in sorted id order, so a draw's shuffle is reproducible) and
/// the class's items of each; refused when a class has fewer than two subjects, or when
/// its items outside its largest subject cannot hold k images.
fn subjects_per_class(
    members: &[Vec<usize>],
    subject_of: &[usize],
    opts: &SamplerOptions,
) -> Result<Vec<ClassSubjects>, FewShotError> {
    let mut class_subjects: Vec<ClassSubjects> = Vec::with_capacity(members.len());
    for (class, items) in members.iter().enumerate() {
        let mut by_subject: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in items {
            by_subject.entry(subject_of[i]).or_default().push(i);
        }
        if by_subject.len() < 2 {
            return Err(FewShotError::TooFewSubjects {
                class: opts.class_name(class),
                subjects: by_subject.len(),
            });
        }
        // Even taking every subject but one, k images must fit, or no query subject remains.
        let largest_subject = by_subject.values().map(Vec::len).max().unwrap_or(0);
        if !opts.with_replacement && items.len() - largest_subject < opts.k {
            return Err(FewShotError::NoQueryLeft {
                k: opts.k,
                class: opts.class_name(class),
                available: items.len(),
            });
        }
        class_subjects.push(by_subject.into_iter().collect());
    }

    Ok(class_subjects)
}

fn pool_draws_by_subject(
    labels: &[usize],
    subjects: &[Option<String>],
    members: &[Vec<usize>],
    opts: &SamplerOptions,
) -> Result<Vec<Draw>, FewShotError> {
    if subjects.len() != labels.len() {
        return Err(FewShotError::SubjectsLengthMismatch {
            labels: labels.len(),
            subjects: subjects.len(),
        });
    }
    let (subject_of, n_subjects) = intern_subjects(labels, subjects, opts)?;
    let class_subjects = subjects_per_class(members, &subject_of, opts)?;

    let n_classes = members.len();
    let mut draws = Vec::with_capacity(opts.draws);
    let mut is_support_subject = vec![false; n_subjects];
    for index in 0..opts.draws {
        let seed = draw_seed(opts.seed, index);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        is_support_subject.fill(false);
        let mut per_class = Vec::with_capacity(n_classes);
        for subjects_of_class in &class_subjects {
            let mut order: Vec<usize> = (0..subjects_of_class.len()).collect();
            order.shuffle(&mut rng);
            // Take subjects until they hold k images: few subjects per support set keeps
            // the most subjects (and images) available as queries. The last subject in the
            // order is never taken, so the class keeps a query subject (the check above makes
            // the loop stop earlier anyway without replacement).
            let mut candidates = Vec::new();
            for &position in &order[..order.len() - 1] {
                let (subject, items) = &subjects_of_class[position];
                is_support_subject[*subject] = true;
                candidates.extend_from_slice(items);
                if candidates.len() >= opts.k {
                    break;
                }
            }
            candidates.sort_unstable();
            per_class.push(sample_k(
                &mut rng,
                &candidates,
                opts.k,
                opts.with_replacement,
            ));
        }
        let queries: Vec<usize> = (0..labels.len())
            .filter(|&i| !is_support_subject[subject_of[i]])
            .collect();
        check_every_class_has_a_query(labels, &queries, n_classes, index, opts)?;
        draws.push(Draw {
            index,
            seed,
            support: SupportSet { per_class },
            queries: queries.into(),
        });
    }
    Ok(draws)
}

fn check_every_class_has_a_query(
    labels: &[usize],
    queries: &[usize],
    n_classes: usize,
    draw: usize,
    opts: &SamplerOptions,
) -> Result<(), FewShotError> {
    let mut has_query = vec![false; n_classes];
    for &q in queries {
        has_query[labels[q]] = true;
    }
    match has_query.iter().position(|&has| !has) {
        Some(class) => Err(FewShotError::DrawLeftNoQuery {
            draw,
            class: opts.class_name(class),
        }),
        None => Ok(()),
    }
}

/// The distinct subjects among `indices` (items without a subject are skipped).
pub fn subjects_of(
    subjects: &[Option<String>],
    indices: impl IntoIterator<Item = usize>,
) -> BTreeSet<&str> {
    indices
        .into_iter()
        .filter_map(|i| subjects.get(i)?.as_deref())
        .collect()
}
