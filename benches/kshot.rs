//! k-shot evaluation throughput on synthetic data of C-NMC size.
//!
//! Run with `cargo bench --bench kshot`. Times 100 draws (sampling + prototypes +
//! prediction + metrics) at k = 10 and k = 50 on 1,867 queries × 1,280 dims with a support
//! pool of 3,527 (2,397 + 1,130), as three variants: draw by draw on one thread (the
//! straightforward loop), the batched bank on one thread, and the batched bank on two; then
//! every normalisation, the Gram path (one-time product, then 100 draws), the other classifiers,
//! and a 10,000-draw bank. Scores are exact (see `fewshot::score`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bloodshot::fewshot::classify::Embeddings;
use bloodshot::fewshot::method::{self, DEFAULT_LOGISTIC_C, Method};
use bloodshot::fewshot::metrics::{DrawMetrics, KShotSummary};
use bloodshot::fewshot::sampler::{SamplerOptions, heldout_draws};
use bloodshot::fewshot::score::{Normalization, Scorer, TransformedRows};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 1280;
const N_QUERIES: usize = 1867;
const POOL_CLASS_SIZES: [usize; 2] = [2397, 1130];
const DRAWS: usize = 100;
const REPEATS: usize = 7;

/// One way of evaluating the whole bank.
type Evaluation<'a> = Box<dyn Fn() -> Vec<DrawMetrics> + 'a>;

/// Random embeddings with a weak class signal, so predictions are neither constant nor perfect.
fn synthetic(labels: &[usize], rng: &mut ChaCha8Rng) -> Embeddings {
    let rows = labels
        .iter()
        .flat_map(|&label| {
            let mut row: Vec<f32> = (0..DIM).map(|_| rng.random_range(0.0..1.0)).collect();
            for value in row.iter_mut().skip(label).step_by(2) {
                *value += 0.05;
            }
            row
        })
        .collect();
    Embeddings { dim: DIM, rows }
}

/// Best wall time of `REPEATS` runs of `work` (after one warm-up run): the minimum, because
/// on a shared machine other processes only ever add time.
fn best_time(mut work: impl FnMut() -> Vec<DrawMetrics>) -> (Duration, Vec<DrawMetrics>) {
    let result = work();
    let best = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            black_box(work());
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    (best, result)
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2019);
    let support_labels: Vec<usize> = POOL_CLASS_SIZES
        .iter()
        .enumerate()
        .flat_map(|(class, &n)| std::iter::repeat_n(class, n))
        .collect();
    let query_labels: Vec<usize> = (0..N_QUERIES).map(|i| usize::from(i % 3 == 0)).collect();
    let support_emb = Arc::new(synthetic(&support_labels, &mut rng));
    let queries = Arc::new(synthetic(&query_labels, &mut rng));

    let scorers: Vec<Scorer> = Normalization::ALL
        .iter()
        .map(|&mode| {
            let start = Instant::now();
            let scorer = Scorer::new(Arc::clone(&support_emb), Some(Arc::clone(&queries)), mode);
            println!(
                "kshot: prepare the {mode} scorer once ({} + {N_QUERIES} rows x {DIM}): {:.1} ms",
                support_labels.len(),
                start.elapsed().as_secs_f64() * 1e3
            );
            scorer
        })
        .collect();
    let scorer = &scorers[0];
    // `KSHOT_BENCH=gram` times the Gram path alone (for profiling it).
    let only_gram = std::env::var("KSHOT_BENCH").as_deref() == Ok("gram");

    for k in [10, 50].into_iter().filter(|_| !only_gram) {
        let opts = SamplerOptions::new(k, DRAWS, 7);
        let sample =
            || heldout_draws(&support_labels, 2, N_QUERIES, &opts).expect("valid bench options");
        let variants: [(&str, Evaluation); 3] = [
            (
                "draw by draw, 1 thread",
                Box::new(|| {
                    sample()
                        .iter()
                        .map(|draw| scorer.evaluate_draw(&query_labels, draw, 2))
                        .collect()
                }),
            ),
            (
                "bank, 1 thread",
                Box::new(|| scorer.evaluate_bank(&query_labels, &sample(), 2, 1)),
            ),
            (
                "bank, 2 threads",
                Box::new(|| scorer.evaluate_bank(&query_labels, &sample(), 2, 2)),
            ),
        ];
        let mut reference: Option<Vec<DrawMetrics>> = None;
        for (name, work) in &variants {
            let (time, metrics) = best_time(|| {
                let metrics = work();
                black_box(KShotSummary::from_draws(&metrics));
                metrics
            });
            let ms = time.as_secs_f64() * 1e3;
            println!(
                "kshot: {DRAWS} draws k={k} on {N_QUERIES}x{DIM}: {ms:.1} ms ({:.0} draws/s) [{name}, best of {REPEATS}]",
                DRAWS as f64 / time.as_secs_f64()
            );
            match &reference {
                None => reference = Some(metrics),
                Some(expected) => {
                    assert_eq!(&metrics, expected, "{name} must match draw-by-draw results")
                }
            }
        }
        if let Some(summary) = reference.as_deref().and_then(KShotSummary::from_draws) {
            println!(
                "kshot: k={k} synthetic accuracy {:.3} ± {:.3} (sanity check, not a result)",
                summary.accuracy.mean, summary.accuracy.std
            );
        }
    }

    // Every normalisation on the same bank (the console scores all four per draw).
    let opts = SamplerOptions::new(10, DRAWS, 7);
    let bank = heldout_draws(&support_labels, 2, N_QUERIES, &opts).expect("valid bench options");
    for (mode, scorer) in Normalization::ALL
        .iter()
        .zip(&scorers)
        .filter(|_| !only_gram)
    {
        let (time, metrics) = best_time(|| scorer.evaluate_bank(&query_labels, &bank, 2, 2));
        let accuracy = KShotSummary::from_draws(&metrics).map_or(f64::NAN, |s| s.accuracy.mean);
        println!(
            "kshot: {DRAWS} draws k=10 under {mode}: {:.1} ms [bank, 2 threads] (accuracy {accuracy:.3})",
            time.as_secs_f64() * 1e3
        );
    }

    // The Gram path: every residual inner product computed once per target and mode, then
    // `k · classes` additions per query and draw (large banks take it by themselves).
    let scorer = &scorers[0];
    let start = Instant::now();
    let first = scorer
        .evaluate_bank_gram(&query_labels, &bank, 2, 2)
        .expect("the C-NMC-sized Gram matrix fits");
    let built = start.elapsed();
    let pool = POOL_CLASS_SIZES.iter().sum::<usize>();
    assert_eq!(
        first,
        scorer.evaluate_bank(&query_labels, &bank, 2, 2),
        "Gram = direct"
    );
    println!(
        "kshot: Gram path: one-time products {:.0} ms for {} MB (pool x queries) + {} MB (pool x pool, one triangle), {pool} + {N_QUERIES} rows, 2 threads, the first 100 draws included",
        built.as_secs_f64() * 1e3,
        (pool * N_QUERIES * 4) >> 20,
        (pool * (pool + 1) / 2 * 4) >> 20,
    );
    for threads in [1, 2] {
        let (time, _) = best_time(|| {
            scorer
                .evaluate_bank_gram(&query_labels, &bank, 2, threads)
                .expect("built")
        });
        println!(
            "kshot: {DRAWS} draws k=10 on the Gram path: {:.2} ms [{threads} thread(s), best of {REPEATS}]",
            time.as_secs_f64() * 1e3
        );
    }

    // The other classifiers on the same bank (f64 throughout; see `fewshot::method`).
    for method in [Method::Logistic, Method::SoftKmeans]
        .into_iter()
        .filter(|_| !only_gram)
    {
        let rows = TransformedRows::new(&support_emb, Some(&queries), Normalization::None);
        let (time, metrics) = best_time(|| {
            method::evaluate_bank(
                &rows,
                method,
                DEFAULT_LOGISTIC_C,
                &query_labels,
                &bank,
                2,
                2,
            )
        });
        let accuracy = KShotSummary::from_draws(&metrics).map_or(f64::NAN, |s| s.accuracy.mean);
        println!(
            "kshot: {DRAWS} draws k=10 with {method} under none: {:.1} ms [bank, 2 threads] (accuracy {accuracy:.3})",
            time.as_secs_f64() * 1e3
        );
    }

    // A large bank: 10,000 draws, sampled and scored once.
    let large = 10_000;
    let start = Instant::now();
    let bank = heldout_draws(
        &support_labels,
        2,
        N_QUERIES,
        &SamplerOptions::new(10, large, 7),
    )
    .expect("valid bench options");
    let sampled = start.elapsed();
    let metrics = scorer.evaluate_bank(&query_labels, &bank, 2, 2);
    let total = start.elapsed();
    let summary = KShotSummary::from_draws(&metrics).expect("draws");
    println!(
        "kshot: {large} draws k=10 on {N_QUERIES}x{DIM}: {:.2} s ({:.0} draws/s; sampling {:.0} ms) [bank on the Gram path, 2 threads], accuracy {:.3} ± {:.3}",
        total.as_secs_f64(),
        large as f64 / total.as_secs_f64(),
        sampled.as_secs_f64() * 1e3,
        summary.accuracy.mean,
        summary.accuracy.std
    );
}
