//! Few-shot evaluation: metrics against hand-computed values, sampler invariants, and
//! prototype classification worked out on paper.

use std::collections::BTreeSet;
use std::sync::Arc;

use bloodshot::fewshot::classify::{Embeddings, Prototypes};
use bloodshot::fewshot::metrics::{
    ConfusionMatrix, DrawMetrics, KShotSummary, Summary, histogram, t_quantile_975,
};
use bloodshot::fewshot::sampler::{
    Draw, FewShotError, SamplerOptions, SupportSet, heldout_draws, pool_draws, subjects_of,
};
use bloodshot::fewshot::score::{Normalization, Scorer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EPS: f64 = 1e-9;

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < EPS,
        "{what}: got {actual}, expected {expected}"
    );
}

fn matrix(rows: &[&[u64]]) -> ConfusionMatrix {
    let mut cm = ConfusionMatrix::new(rows.len());
    for (t, row) in rows.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            for _ in 0..count {
                cm.add(t, p);
            }
        }
    }
    cm
}

// ---------------------------------------------------------------------------------------
// metrics

#[test]
fn three_class_metrics_match_hand_computation() {
    // true \ pred   0  1  2   | row total
    //        0      5  1  0   | 6
    //        1      2  3  1   | 6
    //        2      0  0  4   | 4
    // column total  7  4  5     16
    let cm = matrix(&[&[5, 1, 0], &[2, 3, 1], &[0, 0, 4]]);
    assert_eq!(cm.total(), 16);
    assert_eq!(cm.get(1, 0), 2);
    let m = DrawMetrics::from_confusion(cm);

    // accuracy = (5 + 3 + 4) / 16
    assert_close(m.accuracy, 12.0 / 16.0, "accuracy");
    // class 0: P = 5/7, R = 5/6, F1 = 2·TP / (predicted + actual) = 10/13
    // class 1: P = 3/4, R = 3/6, F1 = 6/10
    // class 2: P = 4/5, R = 4/4, F1 = 8/9
    let expected = [
        (5.0 / 7.0, 5.0 / 6.0, 10.0 / 13.0, 6),
        (0.75, 0.5, 0.6, 6),
        (0.8, 1.0, 8.0 / 9.0, 4),
    ];
    for (c, &(p, r, f1, support)) in expected.iter().enumerate() {
        assert_close(m.per_class[c].precision, p, &format!("precision {c}"));
        assert_close(m.per_class[c].recall, r, &format!("recall {c}"));
        assert_close(m.per_class[c].f1, f1, &format!("f1 {c}"));
        assert_eq!(m.per_class[c].support, support);
    }
    // balanced accuracy = mean recall = (5/6 + 1/2 + 1) / 3 = 7/9
    assert_close(m.balanced_accuracy, 7.0 / 9.0, "balanced accuracy");
    // macro F1 = (10/13 + 3/5 + 8/9) / 3 ≈ 0.75251
    assert_close(
        m.macro_f1,
        (10.0 / 13.0 + 0.6 + 8.0 / 9.0) / 3.0,
        "macro f1",
    );
    // weighted F1 = (6·10/13 + 6·3/5 + 4·8/9) / 16 ≈ 0.73568
    assert_close(
        m.weighted_f1,
        (6.0 * 10.0 / 13.0 + 6.0 * 0.6 + 4.0 * 8.0 / 9.0) / 16.0,
        "weighted f1",
    );
}

#[test]
fn never_predicted_class_scores_zero_not_nan() {
    // Everything predicted as class 0: class 1 has precision 0/0 → 0 (zero_division = 0).
    let m = DrawMetrics::from_confusion(matrix(&[&[3, 0], &[2, 0]]));
    assert_close(
        m.per_class[1].precision,
        0.0,
        "precision of unpredicted class",
    );
    assert_close(m.per_class[1].f1, 0.0, "f1 of unpredicted class");
    // class 0: P = 3/5, R = 1, F1 = 6/8
    assert_close(m.per_class[0].f1, 0.75, "f1 class 0");
    assert_close(m.macro_f1, 0.375, "macro f1");
    assert_close(m.weighted_f1, 3.0 * 0.75 / 5.0, "weighted f1");
    assert_close(m.balanced_accuracy, 0.5, "balanced accuracy");
    let empty = DrawMetrics::from_confusion(ConfusionMatrix::new(2));
    assert_eq!(
        (empty.accuracy, empty.macro_f1, empty.weighted_f1),
        (0.0, 0.0, 0.0)
    );
}

#[test]
fn balanced_accuracy_and_macro_f1_skip_absent_classes() {
    // Class 2 has no query and is never predicted: sklearn leaves it out of both averages.
    let m = DrawMetrics::from_confusion(matrix(&[&[2, 2, 0], &[0, 4, 0], &[0, 0, 0]]));
    // recalls 1/2 and 1 → 3/4
    assert_close(m.balanced_accuracy, 0.75, "balanced accuracy");
    // class 0: P = 1, R = 1/2, F1 = 4/6; class 1: P = 4/6, R = 1, F1 = 8/10
    assert_close(m.macro_f1, (4.0 / 6.0 + 0.8) / 2.0, "macro f1");
}

#[test]
fn confusion_merge_adds_counts() {
    let mut a = matrix(&[&[1, 2], &[3, 4]]);
    a.merge(&matrix(&[&[10, 0], &[0, 1]]));
    assert_eq!(a.counts, vec![11, 2, 3, 5]);
    assert_eq!(a.total(), 21);
    assert_eq!(a.correct(), 16);
}

#[test]
fn summary_of_three_values() {
    let s = Summary::of(&[0.5, 0.6, 0.7]);
    assert_eq!(s.n, 3);
    assert_close(s.mean, 0.6, "mean");
    // sample variance = (0.01 + 0 + 0.01) / 2 = 0.01
    assert_close(s.std, 0.1, "std");
    // t_{0.975, 2} = 4.302652729749 (exact; the old 3-decimal table said 4.303)
    let half = 4.302_652_729_749 * 0.1 / 3f64.sqrt();
    assert_close(s.ci95_low, 0.6 - half, "ci low");
    assert_close(s.ci95_high, 0.6 + half, "ci high");
}

/// Proportions' intervals end at 0 and 1: two draws of 0.8 and 0.6 have mean 0.7, sample
/// std 0.1414 and half-width t(1) · 0.1414 / √2 = 12.7062 · 0.1 = 1.2706, so the t-interval
/// is −0.5706…1.9706; cut, 0…1. A narrow one is left alone.
#[test]
fn proportion_intervals_stay_within_zero_and_one() {
    let wide = Summary::of(&[0.8, 0.6]);
    assert_close(wide.ci95_low, 0.7 - 1.270_620_473_617_5, "t low");
    assert_close(wide.ci95_high, 0.7 + 1.270_620_473_617_5, "t high");
    let cut = Summary::of_proportions(&[0.8, 0.6]);
    assert_eq!((cut.ci95_low, cut.ci95_high), (0.0, 1.0));
    assert_eq!((cut.n, cut.mean, cut.std), (wide.n, wide.mean, wide.std));
    let narrow = Summary::of_proportions(&[0.5, 0.6, 0.7]);
    assert_eq!(narrow, Summary::of(&[0.5, 0.6, 0.7]));
    // What a bank's summary holds: its accuracy interval is cut too.
    // Accuracies 8/10 and 6/10 (two classes of five queries).
    let eight = DrawMetrics::from_confusion(matrix(&[&[5, 0], &[2, 3]]));
    let six = DrawMetrics::from_confusion(matrix(&[&[3, 2], &[2, 3]]));
    let k = KShotSummary::from_draws(&[eight, six]).unwrap();
    assert_eq!(k.draw_accuracies, [0.8, 0.6]);
    assert_eq!((k.accuracy.ci95_low, k.accuracy.ci95_high), (0.0, 1.0));
}

#[test]
fn summary_edge_cases_and_t_table() {
    let one = Summary::of(&[0.8]);
    assert_eq!(
        (one.n, one.std, one.ci95_low, one.ci95_high),
        (1, 0.0, 0.8, 0.8)
    );
    assert_eq!(Summary::of(&[]).n, 0);
    // Exact quantiles (R: qt(0.975, df)), to 1e-9: no more 3-decimal table.
    assert_close(t_quantile_975(1), 12.706_204_736_175, "t(1)");
    assert_close(t_quantile_975(30), 2.042_272_456_301, "t(30)");
    assert_close(t_quantile_975(60), 2.000_297_822_014, "t(60)");
    // t_{0.975, 99} = 1.984216952
    assert!(
        (t_quantile_975(99) - 1.984_216_952).abs() < 1e-8,
        "t(99) = {}",
        t_quantile_975(99)
    );
    assert!((t_quantile_975(1_000_000) - 1.960).abs() < 1e-4);
    for df in 1..500 {
        assert!(
            t_quantile_975(df + 1) <= t_quantile_975(df),
            "t must not grow with df ({df})"
        );
    }
}

#[test]
fn kshot_summary_aggregates_draws() {
    assert!(KShotSummary::from_draws(&[]).is_none());
    let a = DrawMetrics::from_confusion(matrix(&[&[3, 1], &[0, 4]])); // accuracy 7/8
    let b = DrawMetrics::from_confusion(matrix(&[&[2, 2], &[1, 3]])); // accuracy 5/8
    let s = KShotSummary::from_draws(&[a.clone(), b.clone()]).expect("two draws");
    assert_eq!(s.draws, 2);
    assert_eq!(s.draw_accuracies, vec![0.875, 0.625]);
    assert_close(s.accuracy.mean, 0.75, "mean accuracy");
    // std of {0.875, 0.625} = 0.125·√2
    assert_close(s.accuracy.std, 0.125 * 2f64.sqrt(), "std accuracy");
    assert_eq!(s.confusion.counts, vec![5, 3, 1, 7]);
    assert_close(
        s.per_class[1].recall.mean,
        (1.0 + 0.75) / 2.0,
        "mean recall class 1",
    );
    assert_close(
        s.weighted_f1.mean,
        (a.weighted_f1 + b.weighted_f1) / 2.0,
        "mean weighted f1",
    );
    let json = serde_json::to_string(&s).expect("serialise");
    let back: KShotSummary = serde_json::from_str(&json).expect("deserialise");
    // serde_json's default float parser can be off by one ulp, so compare with a tolerance.
    assert_eq!(back.confusion, s.confusion);
    assert_eq!(back.draws, 2);
    assert_close(
        back.per_class[0].f1.ci95_low,
        s.per_class[0].f1.ci95_low,
        "ci after round trip",
    );
    assert_close(
        back.draw_accuracies[1],
        0.625,
        "draw accuracy after round trip",
    );
}

#[test]
fn histogram_puts_upper_edge_in_last_bin() {
    let values = [0.0, 0.1, 0.5, 0.99, 1.0, 1.5, -0.1, f64::NAN];
    // width 0.25: [0, .25) gets 0.0 and 0.1; [.5, .75) gets 0.5; the last bin 0.99 and 1.0
    assert_eq!(histogram(&values, 0.0, 1.0, 4), vec![2, 0, 1, 2]);
    assert_eq!(histogram(&values, 0.0, 1.0, 0), Vec::<u64>::new());
    assert_eq!(histogram(&[0.7, 0.7], 0.7, 0.7, 3), vec![2, 0, 0]);
}

// ---------------------------------------------------------------------------------------
// sampler

/// 3 classes of 25, 15 and 12 items, interleaved; each class has 5 subjects of its own.
fn pool() -> (Vec<usize>, Vec<Option<String>>) {
    let mut labels = Vec::new();
    for i in 0..25 {
        labels.push(0);
        if i < 15 {
            labels.push(1);
        }
        if i < 12 {
            labels.push(2);
        }
    }
    let subjects = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| Some(format!("c{l}-s{}", i % 5)))
        .collect();
    (labels, subjects)
}

fn options(k: usize, draws: usize, seed: u64) -> SamplerOptions {
    SamplerOptions::new(k, draws, seed)
}

fn check_support(draw: &Draw, labels: &[usize], k: usize) {
    for (class, indices) in draw.support.per_class.iter().enumerate() {
        assert_eq!(
            indices.len(),
            k,
            "draw {} class {class}: k indices",
            draw.index
        );
        assert!(
            indices.windows(2).all(|w| w[0] < w[1]),
            "sorted and distinct: {indices:?}"
        );
        assert!(
            indices.iter().all(|&i| labels[i] == class),
            "support of class {class} has the right label"
        );
    }
}

#[test]
fn heldout_draws_have_k_distinct_per_class_and_all_queries() {
    let (labels, _) = pool();
    for seed in 0..20 {
        let draws = heldout_draws(&labels, 3, 40, &options(5, 6, seed)).expect("valid options");
        assert_eq!(draws.len(), 6);
        for (i, draw) in draws.iter().enumerate() {
            assert_eq!(draw.index, i);
            check_support(draw, &labels, 5);
            assert_eq!(*draw.queries, *(0..40).collect::<Vec<_>>());
        }
        // Every draw of a held-out bank shares one query list.
        assert!(std::sync::Arc::ptr_eq(&draws[0].queries, &draws[5].queries));
    }
    // k equal to the smallest class takes all of it
    let draws =
        heldout_draws(&labels, 3, 10, &options(12, 2, 3)).expect("k = class size is allowed");
    let class2: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 2).collect();
    assert_eq!(draws[1].support.per_class[2], class2);
}

#[test]
fn pool_draws_partition_the_pool() {
    let (labels, subjects) = pool();
    for seed in 0..20 {
        let draws = pool_draws(&labels, &subjects, 3, &options(4, 5, seed)).expect("valid options");
        for draw in &draws {
            check_support(draw, &labels, 4);
            let support: BTreeSet<usize> = draw.support.all_indices().collect();
            let queries: BTreeSet<usize> = draw.queries.iter().copied().collect();
            assert_eq!(queries.len(), draw.queries.len(), "queries are distinct");
            assert!(support.is_disjoint(&queries), "no support index is a query");
            assert_eq!(
                support.len() + queries.len(),
                labels.len(),
                "support ∪ queries = pool"
            );
            assert!(draw.queries.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn pool_draws_by_subject_never_share_a_subject() {
    let (labels, mut subjects) = pool();
    // Subject "shared" has images of two classes: support of one class must still remove
    // it from the other class's queries.
    subjects[0] = Some("shared".into());
    subjects[1] = Some("shared".into());
    for seed in 0..30 {
        for k in [1, 3, 6] {
            let mut opts = options(k, 4, seed);
            opts.by_subject = true;
            let draws = pool_draws(&labels, &subjects, 3, &opts).expect("valid options");
            for draw in &draws {
                check_support(draw, &labels, k);
                let support_subjects = subjects_of(&subjects, draw.support.all_indices());
                let query_subjects = subjects_of(&subjects, draw.queries.iter().copied());
                assert!(
                    support_subjects.is_disjoint(&query_subjects),
                    "seed {seed} k {k}: subjects {support_subjects:?} vs {query_subjects:?}"
                );
                for class in 0..3 {
                    assert!(
                        draw.queries.iter().any(|&q| labels[q] == class),
                        "class {class} keeps a query"
                    );
                }
            }
        }
    }
}

#[test]
fn banks_are_reproducible_and_prefix_stable() {
    let (labels, subjects) = pool();
    let banks: [&dyn Fn(usize, u64) -> Vec<Draw>; 3] = [
        &|draws, seed| heldout_draws(&labels, 3, 9, &options(5, draws, seed)).expect("held-out"),
        &|draws, seed| pool_draws(&labels, &subjects, 3, &options(5, draws, seed)).expect("pool"),
        &|draws, seed| {
            let mut opts = options(3, draws, seed);
            opts.by_subject = true;
            pool_draws(&labels, &subjects, 3, &opts).expect("pool by subject")
        },
    ];
    for bank in banks {
        assert_eq!(bank(10, 7), bank(10, 7), "same seed, same draws");
        let ten = bank(10, 7);
        let thirty = bank(30, 7);
        assert_eq!(
            ten[..],
            thirty[..10],
            "draw i of a 10-bank is draw i of a 30-bank"
        );
        assert_ne!(bank(10, 7), bank(10, 8), "different seeds, different draws");
        let supports: BTreeSet<&Vec<Vec<usize>>> =
            thirty.iter().map(|d| &d.support.per_class).collect();
        assert!(
            supports.len() > 20,
            "draws within a bank differ ({} distinct of 30)",
            supports.len()
        );
    }
}

#[test]
fn with_replacement_allows_k_above_class_size() {
    let (labels, _) = pool();
    let mut opts = options(20, 10, 1);
    opts.with_replacement = true;
    let draws =
        heldout_draws(&labels, 3, 5, &opts).expect("with replacement, k may exceed a class");
    let mut saw_duplicate = false;
    for draw in &draws {
        for (class, indices) in draw.support.per_class.iter().enumerate() {
            assert_eq!(indices.len(), 20);
            assert!(indices.iter().all(|&i| labels[i] == class));
            assert!(indices.windows(2).all(|w| w[0] <= w[1]));
            saw_duplicate |= indices.windows(2).any(|w| w[0] == w[1]);
        }
    }
    assert!(saw_duplicate, "20 draws from 12 images must repeat some");
}

fn error_message(result: Result<Vec<Draw>, FewShotError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_offending_value() {
    let (labels, subjects) = pool();
    assert_eq!(
        error_message(heldout_draws(&labels, 3, 5, &options(0, 5, 0))),
        "k = 0: every class needs at least one support image"
    );
    assert!(error_message(heldout_draws(&labels, 3, 5, &options(3, 0, 0))).contains("draws = 0"));

    let mut named = options(13, 5, 0);
    named.class_names = vec!["all".into(), "hem".into(), "other".into()];
    assert_eq!(
        error_message(heldout_draws(&labels, 3, 5, &named)),
        "k = 13 is larger than class `other` (12 images)"
    );
    assert_eq!(
        error_message(heldout_draws(&labels, 3, 5, &options(16, 5, 0))),
        "k = 16 is larger than class `1` (15 images)"
    );

    let one_class = vec![0usize; 10];
    assert!(
        error_message(heldout_draws(&one_class, 1, 5, &options(2, 5, 0)))
            .contains("needs at least two classes")
    );

    let empty_class = vec![0usize, 0, 2, 2];
    assert_eq!(
        heldout_draws(&empty_class, 3, 5, &options(1, 1, 0)),
        Err(FewShotError::EmptyClass { class: "1".into() })
    );
    assert!(error_message(heldout_draws(&[0, 1, 5], 3, 5, &options(1, 1, 0))).contains("label 5"));
    assert!(
        error_message(heldout_draws(&labels, 3, 0, &options(1, 1, 0))).contains("n_queries = 0")
    );

    // pool: k = class size leaves nothing to classify
    let message = error_message(pool_draws(&labels, &subjects, 3, &options(12, 1, 0)));
    assert!(
        message.contains("k = 12") && message.contains("class `2`"),
        "{message}"
    );

    let mut by_subject = options(2, 3, 0);
    by_subject.by_subject = true;
    let mut missing = subjects.clone();
    missing[4] = None;
    let message = error_message(pool_draws(&labels, &missing, 3, &by_subject));
    assert!(
        message.contains("item 4") && message.contains("subject"),
        "{message}"
    );

    // one subject per class: support and query subjects cannot differ
    let per_class_subject: Vec<Option<String>> =
        labels.iter().map(|l| Some(format!("c{l}"))).collect();
    let message = error_message(pool_draws(&labels, &per_class_subject, 3, &by_subject));
    assert!(message.contains("only 1 subject"), "{message}");

    // class 2 has 12 images in 5 subjects (3, 3, 2, 2, 2): all but the largest hold 9 < k = 10
    by_subject.k = 10;
    let message = error_message(pool_draws(&labels, &subjects, 3, &by_subject));
    assert!(
        message.contains("k = 10") && message.contains("class `2`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------
// classification

fn embeddings(dim: usize, rows: &[&[f32]]) -> Embeddings {
    Embeddings::new(dim, rows.concat()).expect("whole rows")
}

fn support(per_class: &[&[usize]]) -> SupportSet {
    SupportSet {
        per_class: per_class.iter().map(|c| c.to_vec()).collect(),
    }
}

#[test]
fn prototypes_and_predictions_by_hand() {
    // class 0: (1,0), (3,0) → mean (2,0) → prototype (1,0)
    // class 1: (0,2), (0,4) → mean (0,3) → prototype (0,1)
    let support_emb = embeddings(2, &[&[1.0, 0.0], &[3.0, 0.0], &[0.0, 2.0], &[0.0, 4.0]]);
    let prototypes = Prototypes::from_support(&support_emb, &support(&[&[0, 1], &[2, 3]]));
    assert_eq!(prototypes.rows, vec![1.0, 0.0, 0.0, 1.0]);

    // (2,1): cosines 2/√5 vs 1/√5 → 0; (1,3) → 1; (1,1): equal cosines → lowest class, 0
    let queries = embeddings(2, &[&[2.0, 1.0], &[1.0, 3.0], &[1.0, 1.0]]);
    let scorer = Scorer::new(
        Arc::new(support_emb.clone()),
        Some(Arc::new(queries.clone())),
        Normalization::None,
    );
    let s = support(&[&[0, 1], &[2, 3]]);
    assert_eq!(scorer.predict(&s, &[0, 1, 2]), vec![0, 1, 0]);
    assert_eq!(scorer.predict(&s, &[2, 1]), vec![0, 1]);
    // the query scale never matters to the cosine
    let scaled = embeddings(2, &[&[20.0, 10.0], &[0.1, 0.3], &[7.0, 7.0]]);
    let scorer_scaled = Scorer::new(
        Arc::new(support_emb.clone()),
        Some(Arc::new(scaled.clone())),
        Normalization::None,
    );
    assert_eq!(scorer_scaled.predict(&s, &[0, 1, 2]), vec![0, 1, 0]);

    // true labels 0, 1, 1: the tie (a class-1 query) is a miss
    let draw = Draw {
        index: 0,
        seed: 0,
        support: support(&[&[0, 1], &[2, 3]]),
        queries: vec![0, 1, 2].into(),
    };
    let metrics = scorer.evaluate_draw(&[0, 1, 1], &draw, 2);
    assert_eq!(metrics.confusion.counts, vec![1, 0, 1, 1]);
    assert_close(metrics.accuracy, 2.0 / 3.0, "accuracy");
}

#[test]
fn prototype_is_the_mean_of_raw_embeddings() {
    // class 0: (10,0) and (0,1) → raw mean (5, 0.5), direction (5, 0.5)/√25.25 (≈ 5.7° up).
    // The mean of the normalised embeddings would be (0.5, 0.5), at 45°.
    // class 1: (0,1) → prototype (0,1).
    let support_emb = embeddings(2, &[&[10.0, 0.0], &[0.0, 1.0], &[0.0, 1.0]]);
    let prototypes = Prototypes::from_support(&support_emb, &support(&[&[0, 1], &[2]]));
    let norm = 25.25f32.sqrt();
    assert!(
        (prototypes.row(0)[0] - 5.0 / norm).abs() < 1e-6
            && (prototypes.row(0)[1] - 0.5 / norm).abs() < 1e-6
    );

    // query (1,2)/√5: raw-mean prototype gives (5 + 1)/(√25.25·√5) ≈ 0.534 < 2/√5 ≈ 0.894 → class 1;
    // the normalised-mean prototype would give (0.707 + 1.414)/√5 ≈ 0.949 > 0.894 → class 0.
    let queries = embeddings(2, &[&[1.0, 2.0]]);
    let scorer = Scorer::new(
        Arc::new(support_emb.clone()),
        Some(Arc::new(queries.clone())),
        Normalization::None,
    );
    assert_eq!(scorer.predict(&support(&[&[0, 1], &[2]]), &[0]), vec![1]);
}

#[test]
fn normalisation_keeps_zero_rows() {
    let e = embeddings(3, &[&[3.0, 0.0, 4.0], &[0.0, 0.0, 0.0]]).l2_normalized();
    assert_eq!(e.rows, vec![0.6, 0.0, 0.8, 0.0, 0.0, 0.0]);
    assert_eq!(e.n(), 2);
    assert!(Embeddings::new(3, vec![1.0; 7]).is_err());
}

#[test]
fn bank_evaluation_matches_draw_by_draw() {
    let (labels, subjects) = pool();
    let dim = 37;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // Class-dependent offsets so that predictions are neither all right nor all wrong.
    let rows: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            (0..dim)
                .map(move |d| if d % 3 == l { 0.6 } else { 0.0 })
                .collect::<Vec<f32>>()
        })
        .map(|v| v + rng.random_range(-1.0..1.0))
        .collect();
    let raw = Embeddings::new(dim, rows).expect("whole rows");
    let mut opts = options(3, 23, 9);
    opts.by_subject = true;
    for draws in [
        pool_draws(&labels, &subjects, 3, &options(3, 23, 9)).expect("pool"),
        pool_draws(&labels, &subjects, 3, &opts).expect("pool by subject"),
    ] {
        for mode in Normalization::ALL {
            let scorer = Scorer::new(Arc::new(raw.clone()), None, mode);
            let one_by_one: Vec<DrawMetrics> = draws
                .iter()
                .map(|d| scorer.evaluate_draw(&labels, d, 3))
                .collect();
            let accuracies: BTreeSet<u64> =
                one_by_one.iter().map(|m| m.confusion.correct()).collect();
            assert!(
                accuracies.len() > 1,
                "the synthetic task should not be trivial ({mode})"
            );
            for threads in [1, 2, 5] {
                assert_eq!(
                    scorer.evaluate_bank(&labels, &draws, 3, threads),
                    one_by_one,
                    "threads {threads}, {mode}"
                );
            }
            // The Gram path (pool protocol: the pool's own rows are the queries).
            assert_eq!(
                scorer.evaluate_bank_gram(&labels, &draws, 3, 2),
                Some(one_by_one.clone()),
                "Gram path, {mode}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// test-time augmentation

#[test]
fn the_eight_dihedral_views_by_hand() {
    use bloodshot::fewshot::tta::{Tta, dihedral_view};
    use burn::prelude::*;
    let device = Device::flex();
    // One 2×2 single-channel image [[1, 2], [3, 4]].
    let image = Tensor::<4>::from_data(
        TensorData::new(vec![1f32, 2., 3., 4.], [1, 1, 2, 2]),
        &device,
    );
    let view = |i| -> Vec<f32> {
        dihedral_view(image.clone(), i)
            .into_data()
            .iter::<f32>()
            .collect()
    };
    // The rotations: a quarter turn clockwise gives [[3, 1], [4, 2]]; the mirror images flip
    // the columns first ([[2, 1], [4, 3]]) and then turn.
    let expected: [[f32; 4]; 8] = [
        [1., 2., 3., 4.],
        [3., 1., 4., 2.],
        [4., 3., 2., 1.],
        [2., 4., 1., 3.],
        [2., 1., 4., 3.],
        [4., 2., 3., 1.],
        [3., 4., 1., 2.],
        [1., 3., 2., 4.],
    ];
    let views: Vec<Vec<f32>> = (0..8).map(view).collect();
    for (i, (got, want)) in views.iter().zip(expected).enumerate() {
        assert_eq!(got.as_slice(), want.as_slice(), "view {i}");
    }
    assert_eq!(
        views
            .iter()
            .map(|v| v.iter().map(|x| *x as u8).collect::<Vec<u8>>())
            .collect::<BTreeSet<_>>()
            .len(),
        8,
        "eight different views"
    );
    // Every pixel visits every position twice: the mean view is the mean pixel, 2.5.
    let mean: Vec<f32> = (0..4)
        .map(|p| views.iter().map(|v| v[p]).sum::<f32>() / 8.0)
        .collect();
    assert_eq!(mean, vec![2.5; 4]);
    assert_eq!(Tta::Dihedral.views(), 8);
    assert_eq!("dihedral".parse::<Tta>(), Ok(Tta::Dihedral));
    let e = "flip".parse::<Tta>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown test-time augmentation `flip`: use none or dihedral"
    );
}

// ---------------------------------------------------------------------------------------
// protocols

/// The bundled sample target, scanned as a k-shot evaluation reads it.
fn sample_target() -> (std::path::PathBuf, bloodshot::data::Dataset) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/cnmc");
    let ds = bloodshot::fewshot::evaluate::scan_target(&root).unwrap();
    (root, ds)
}

/// `--by-subject` only changes the pool protocol's draws; with the held-out protocol it
/// would be ignored while the result was saved as "by subject", so it is refused, whether
/// the protocol was named or `auto` chose it for a target with a labelled test set.
#[test]
fn by_subject_is_refused_where_the_held_out_protocol_would_ignore_it() {
    use bloodshot::fewshot::evaluate::{KShotError, KShotOptions, Protocol, needed_samples};
    let (root, ds) = sample_target();
    assert!(ds.has_labelled_test());
    let opts = |protocol, by_subject| KShotOptions {
        protocol,
        by_subject,
        ..KShotOptions::default()
    };

    let named = opts(Protocol::HeldoutTest, true).validate(&[]).unwrap_err();
    assert!(matches!(named, KShotError::BySubjectHeldout { .. }));
    assert!(
        named.to_string().starts_with(
            "--by-subject applies to the pool protocol only: --protocol heldout-test was asked for,"
        ),
        "{named}"
    );
    let chosen = needed_samples(&ds, &opts(Protocol::Auto, true)).unwrap_err();
    let expected = format!(
        "--by-subject applies to the pool protocol only: protocol auto chose heldout-test for {} (it has a labelled test set),",
        root.display()
    );
    assert!(chosen.to_string().starts_with(&expected), "{chosen}");

    // Without it, or with the pool protocol, the same sets as before.
    for o in [
        opts(Protocol::Auto, false),
        opts(Protocol::HeldoutTest, false),
        opts(Protocol::Pool, true),
    ] {
        o.validate(&[]).unwrap();
        needed_samples(&ds, &o).unwrap();
    }
    let (protocol, support, queries) = needed_samples(&ds, &opts(Protocol::Auto, false)).unwrap();
    assert_eq!(protocol, Protocol::HeldoutTest);
    assert!(support.iter().all(|&i| ds.samples[i].part == "fold_0"));
    assert!(queries.iter().all(|&i| ds.samples[i].part == "test"));
    let (protocol, support, queries) = needed_samples(&ds, &opts(Protocol::Pool, true)).unwrap();
    assert_eq!(protocol, Protocol::Pool);
    assert_eq!(support, queries);
    assert!(support.iter().all(|&i| ds.samples[i].part != "test"));
}

/// Banks are checked drawable from the labels before anything is embedded: the sample
/// target's `fold_0` holds 40 `all` and 24 `hem` images (counted here), so k = 24 fits the
/// held-out protocol and k = 25 does not, at `k` or anywhere in the sweep.
#[test]
fn a_bank_is_checked_drawable_from_the_labels_alone() {
    use bloodshot::fewshot::evaluate::{KShotOptions, Protocol, check_bank};
    let (_, ds) = sample_target();
    let in_fold_0 = |class: &str| {
        ds.samples
            .iter()
            .filter(|s| s.part == "fold_0" && ds.classes[s.class] == class)
            .count()
    };
    assert_eq!((in_fold_0("all"), in_fold_0("hem")), (40, 24));
    let at = |k| KShotOptions {
        k,
        ..KShotOptions::default()
    };
    check_bank(&ds, &at(24), &[1, 2, 24]).unwrap();
    assert_eq!(
        check_bank(&ds, &at(25), &[]).unwrap_err().to_string(),
        "k = 25 is larger than class `hem` (24 images)"
    );
    assert_eq!(
        check_bank(&ds, &at(10), &[1, 41]).unwrap_err().to_string(),
        "k = 41 is larger than class `all` (40 images)"
    );
    // With replacement (the original sampler) a k beyond a class is allowed.
    let replace = KShotOptions {
        with_replacement: true,
        ..at(41)
    };
    check_bank(&ds, &replace, &[]).unwrap();
    // The pool protocol draws from both folds.
    let pool = KShotOptions {
        protocol: Protocol::Pool,
        ..at(41)
    };
    check_bank(&ds, &pool, &[]).unwrap();
}
