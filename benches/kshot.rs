//! k-shot evaluation throughput on synthetic data of C-NMC size.
//!
//! Run with `cargo bench --bench kshot`. Times 100 draws (sampling + prototypes +
//! prediction + metrics) at k = 10 and k = 50 on 1,867 queries × 1,280 dims with a support
//! pool of 3,527 (2,397 + 1,130), as three variants: draw by draw on one thread (the
//! straightforward loop), the batched bank on one thread, and the batched bank on two.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bloodshot::fewshot::classify::{Embeddings, evaluate_bank, evaluate_draw};
use bloodshot::fewshot::metrics::{DrawMetrics, KShotSummary};
use bloodshot::fewshot::sampler::{SamplerOptions, heldout_draws};
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
    let support_emb = synthetic(&support_labels, &mut rng);
    let queries = synthetic(&query_labels, &mut rng);

    let start = Instant::now();
    let queries_normalized = queries.l2_normalized();
    println!(
        "kshot: normalise {N_QUERIES}x{DIM} queries once: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    for k in [10, 50] {
        let opts = SamplerOptions::new(k, DRAWS, 7);
        let sample =
            || heldout_draws(&support_labels, 2, N_QUERIES, &opts).expect("valid bench options");
        let variants: [(&str, Evaluation); 3] = [
            (
                "draw by draw, 1 thread",
                Box::new(|| {
                    sample()
                        .iter()
                        .map(|draw| {
                            evaluate_draw(&support_emb, &queries_normalized, &query_labels, draw, 2)
                        })
                        .collect()
                }),
            ),
            (
                "bank, 1 thread",
                Box::new(|| {
                    evaluate_bank(
                        &support_emb,
                        &queries_normalized,
                        &query_labels,
                        &sample(),
                        2,
                        1,
                    )
                }),
            ),
            (
                "bank, 2 threads",
                Box::new(|| {
                    evaluate_bank(
                        &support_emb,
                        &queries_normalized,
                        &query_labels,
                        &sample(),
                        2,
                        2,
                    )
                }),
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
}
