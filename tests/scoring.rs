//! Exact prototype scoring: directionally collapsed embeddings against a float64 reference,
//! the four normalisations worked out by hand, and the collapse diagnostics.

use std::sync::Arc;

use bloodshot::fewshot::classify::Embeddings;
use bloodshot::fewshot::evaluate::{KShotOptions, KShotResult};
use bloodshot::fewshot::method::{
    self, LOGISTIC_MAX_ITERATIONS, LOGISTIC_TOLERANCE, Logistic, Method, SOFT_KMEANS_TEMPERATURE,
    assignment, refine,
};
use bloodshot::fewshot::metrics::KShotSummary;
use bloodshot::fewshot::sampler::{SamplerOptions, SupportSet, heldout_draws};
use bloodshot::fewshot::score::{
    CollapseStats, Normalization, Scorer, TransformedRows, format_angle, reference_predict,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn embeddings(dim: usize, rows: &[&[f32]]) -> Embeddings {
    Embeddings::new(dim, rows.concat()).expect("whole rows")
}

fn support(per_class: &[&[usize]]) -> SupportSet {
    SupportSet {
        per_class: per_class.iter().map(|c| c.to_vec()).collect(),
    }
}

/// A random unit vector of `dim` values (f64).
fn unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f64> {
    let v: Vec<f64> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// Collapsed embeddings: `scale · (u + ε·(d_label + noise))` with one shared unit vector `u`,
/// scales 2,100–3,300, ε = 1e-4, and unit class directions `d_c`: every pairwise cosine is
/// above 0.9999999, as in the AAMSoftmax runs that showed the trap.
fn collapsed(labels: &[usize], rng: &mut ChaCha8Rng, dim: usize) -> Embeddings {
    let mut shared_rng = ChaCha8Rng::seed_from_u64(1);
    let u = unit(&mut shared_rng, dim);
    let directions = [unit(&mut shared_rng, dim), unit(&mut shared_rng, dim)];
    let rows = labels
        .iter()
        .flat_map(|&label| {
            let scale = rng.random_range(2100.0..3300.0);
            let noise = unit(rng, dim);
            (0..dim)
                .map(|i| (scale * (u[i] + 1e-4 * (directions[label][i] + noise[i]))) as f32)
                .collect::<Vec<f32>>()
        })
        .collect();
    Embeddings::new(dim, rows).expect("whole rows")
}

/// The trap: everything in f32, as the original code (and sklearn on f32 arrays) did.
fn naive_f32_predict(
    support_emb: &Embeddings,
    queries: &Embeddings,
    s: &SupportSet,
    query_indices: &[usize],
) -> Vec<usize> {
    let normalise = |v: &mut Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    };
    let prototypes: Vec<Vec<f32>> = s
        .per_class
        .iter()
        .map(|idx| {
            let mut p = vec![0f32; support_emb.dim];
            for &i in idx {
                p.iter_mut()
                    .zip(support_emb.row(i))
                    .for_each(|(a, b)| *a += b);
            }
            normalise(&mut p);
            p
        })
        .collect();
    query_indices
        .iter()
        .map(|&q| {
            let mut query = queries.row(q).to_vec();
            normalise(&mut query);
            let scores: Vec<f32> = prototypes
                .iter()
                .map(|p| p.iter().zip(&query).map(|(a, b)| a * b).sum())
                .collect();
            usize::from(scores[1] > scores[0])
        })
        .collect()
}

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

#[test]
fn collapsed_embeddings_score_like_float64_draw_by_draw() {
    let dim = 1280;
    let mut rng = ChaCha8Rng::seed_from_u64(2019);
    let pool_labels: Vec<usize> = (0..120).map(|i| usize::from(i >= 60)).collect();
    let query_labels: Vec<usize> = (0..200).map(|i| i % 2).collect();
    let pool = collapsed(&pool_labels, &mut rng, dim);
    let queries = collapsed(&query_labels, &mut rng, dim);

    let stats = CollapseStats::of(&queries).expect("enough rows");
    assert!(
        stats.mean_pairwise_cosine > 0.9999999,
        "the synthetic set must be collapsed: {stats:?}"
    );
    assert!(stats.collapsed());
    let warning = stats.warning().expect("a collapse warning");
    assert!(
        warning.contains("directionally collapsed")
            && warning.contains("mean pairwise cosine 0.9999999"),
        "{warning}"
    );

    let draws = heldout_draws(
        &pool_labels,
        2,
        query_labels.len(),
        &SamplerOptions::new(10, 20, 3),
    )
    .expect("draws");
    let mut naive = Vec::new();
    for mode in Normalization::ALL {
        let scorer = Scorer::new(
            Arc::new(pool.clone()),
            Some(Arc::new(queries.clone())),
            mode,
        );
        // The Gram path (large banks) scores exactly as the direct one, draw by draw.
        let direct: Vec<_> = draws
            .iter()
            .map(|d| scorer.evaluate_draw(&query_labels, d, 2))
            .collect();
        for threads in [1, 2] {
            assert_eq!(
                scorer.evaluate_bank_gram(&query_labels, &draws, 2, threads),
                Some(direct.clone()),
                "Gram path under {mode}, {threads} threads"
            );
        }
        let mut reference_acc = Vec::new();
        for draw in &draws {
            let reference =
                reference_predict(&pool, Some(&queries), mode, &draw.support, &draw.queries);
            let ours = scorer.predict(&draw.support, &draw.queries);
            assert_eq!(ours, reference, "draw {} under {mode}", draw.index);
            reference_acc.push(accuracy(&reference, &query_labels));
            if mode == Normalization::None {
                let n = naive_f32_predict(&pool, &queries, &draw.support, &draw.queries);
                naive.push(accuracy(&n, &query_labels));
            }
        }
        let mean = reference_acc.iter().sum::<f64>() / reference_acc.len() as f64;
        // Centring the raw embeddings mixes in their varying norms (2,100–3,300 along the
        // shared direction), which swamps the tiny class directions: those two modes are
        // rightly near chance here. The unit-normalised modes keep the signal.
        if matches!(mode, Normalization::None | Normalization::Cl2n) {
            assert!(mean > 0.95, "{mode}: float64 reference accuracy {mean}");
        }
        // The bank evaluation gives the same accuracies.
        let bank = scorer.evaluate_bank(&query_labels, &draws, 2, 2);
        let summary = KShotSummary::from_draws(&bank).expect("draws");
        assert!(
            (summary.accuracy.mean - mean).abs() < 1e-12,
            "{mode}: bank {} vs reference {mean}",
            summary.accuracy.mean
        );
    }
    let naive_mean = naive.iter().sum::<f64>() / naive.len() as f64;
    assert!(
        naive_mean < 0.75,
        "a naive float32 cosine should be near chance here, got {naive_mean}"
    );
}

#[test]
fn random_embeddings_match_the_reference_in_every_mode() {
    let dim = 37;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let labels: Vec<usize> = (0..90).map(|i| i % 3).collect();
    let rows: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            (0..dim)
                .map(|d| if d % 3 == l { 0.4 } else { 0.0 } + 2.0)
                .collect::<Vec<f32>>()
        })
        .map(|v| v + rng.random_range(-1.0..1.0))
        .collect();
    let pool = Embeddings::new(dim, rows).expect("whole rows");
    let draws = bloodshot::fewshot::sampler::pool_draws(
        &labels,
        &vec![None; labels.len()],
        3,
        &SamplerOptions::new(4, 15, 5),
    )
    .expect("draws");
    for mode in Normalization::ALL {
        let scorer = Scorer::new(Arc::new(pool.clone()), None, mode);
        for draw in &draws {
            assert_eq!(
                scorer.predict(&draw.support, &draw.queries),
                reference_predict(&pool, None, mode, &draw.support, &draw.queries),
                "{mode}, draw {}",
                draw.index
            );
        }
    }
}

/// Support: class 0 = (10,−1), (6,−1); class 1 = (10,1), (14,1). Queries (4, 0.3),
/// (16, −0.3), (−10, −9.5). The target (for the transductive modes) is all seven rows.
#[test]
fn the_four_normalisations_by_hand() {
    let support_emb = embeddings(
        2,
        &[&[10.0, -1.0], &[6.0, -1.0], &[10.0, 1.0], &[14.0, 1.0]],
    );
    let queries = embeddings(2, &[&[4.0, 0.3], &[16.0, -0.3], &[-10.0, -9.5]]);
    let s = support(&[&[0, 1], &[2, 3]]);
    let predict = |mode| {
        Scorer::new(
            Arc::new(support_emb.clone()),
            Some(Arc::new(queries.clone())),
            mode,
        )
        .predict(&s, &[0, 1, 2])
    };

    // none: prototypes (8,−1) and (12,1).
    //   q0 (4,0.3):   cos 0.9802 vs 0.99995            → 1
    //   q1 (16,−0.3): 128.3/(16.0028·8.0623) = 0.99443 vs 191.7/(16.0028·12.0416) = 0.99481 → 1
    //   q2 (−10,−9.5): −0.634 vs −0.780               → 0
    assert_eq!(predict(Normalization::None), vec![1, 1, 0]);

    // centre-support: μ = mean of the four support rows = (10,0); D0 = (−2,−1), D1 = (2,1)
    // = −D0, so the sign of (q−μ)·(2,1) decides: q0 −11.7 → 0, q1 11.7 → 1, q2 −49.5 → 0.
    assert_eq!(predict(Normalization::CentreSupport), vec![0, 1, 0]);

    // centre-target: μ = mean of all seven rows = (50/7, −9.5/7) = (7.1429, −1.3571);
    // D0 = (0.8571, 0.3571), D1 = (4.8571, 2.3571).
    //   q0−μ = (−3.1429, 1.6571): cos −0.637 vs −0.592 → 1
    //   q1−μ = (8.8571, 1.0571):  cos  0.962 vs  0.945 → 0
    //   q2−μ = (−17.143, −8.143): cos −0.9988 vs −1.0000 → 0
    assert_eq!(predict(Normalization::CentreTarget), vec![1, 0, 0]);

    // cl2n: unit rows, minus their mean (0.7000, −0.1570), normalised again; the prototypes
    // are then (0.9843, −0.1155) and (0.7938, 0.6069):
    //   q0: cos 0.738 vs 0.9996 → 1;  q1: 0.903 vs 0.947 → 1;  q2: −0.880 vs −0.962 → 0
    assert_eq!(predict(Normalization::Cl2n), vec![1, 1, 0]);

    // The same through the reference.
    for (mode, expected) in [
        (Normalization::None, [1, 1, 0]),
        (Normalization::CentreSupport, [0, 1, 0]),
        (Normalization::CentreTarget, [1, 0, 0]),
        (Normalization::Cl2n, [1, 1, 0]),
    ] {
        assert_eq!(
            reference_predict(&support_emb, Some(&queries), mode, &s, &[0, 1, 2]),
            expected,
            "{mode}"
        );
    }
}

#[test]
fn collapse_statistics_by_hand() {
    // Units (1,0), (0,1), (1,0): sum (2,1), |sum|² = 5.
    // mean unit norm √5/3 = 0.745356; mean pairwise cosine (0 + 1 + 0)/3 = (5 − 3)/(3·2);
    // angles to the mean direction 26.565°, 63.435°, 26.565° → median 26.565°.
    let e = embeddings(2, &[&[3.0, 0.0], &[0.0, 0.5], &[7.0, 0.0], &[0.0, 0.0]]);
    let s = CollapseStats::of(&e).expect("three non-zero rows");
    assert_eq!(s.n, 3);
    assert!((s.mean_unit_norm - 5f64.sqrt() / 3.0).abs() < 1e-12);
    assert!((s.mean_pairwise_cosine - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.median_angle_deg - 0.5f64.atan().to_degrees()).abs() < 1e-9);
    assert!(!s.collapsed());
    assert_eq!(s.warning(), None);
    assert_eq!(CollapseStats::of(&embeddings(2, &[&[1.0, 0.0]])), None);
}

#[test]
fn angles_are_written_with_three_significant_figures() {
    // The collapse warning printed "1.51e0°" for 1.51° (scientific notation at every size).
    assert_eq!(format_angle(1.5137), "1.51°");
    assert_eq!(format_angle(0.5f64.atan().to_degrees()), "26.6°");
    assert_eq!(format_angle(123.44), "123°");
    assert_eq!(format_angle(0.5), "0.500°");
    assert_eq!(format_angle(0.012345), "0.0123°");
    assert_eq!(format_angle(0.0071), "7.10e-3°");
    assert_eq!(format_angle(0.0), "0°");
    let collapsed = CollapseStats {
        n: 104,
        mean_unit_norm: 0.9999,
        mean_pairwise_cosine: 0.99927,
        median_angle_deg: 1.5137,
    };
    let w = collapsed.warning().expect("collapsed");
    assert!(
        w.contains("(mean pairwise cosine 0.99927, median angle to their mean 1.51°)"),
        "{w}"
    );
}

#[test]
fn normalisation_names_and_result_identity() {
    for mode in Normalization::ALL {
        assert_eq!(mode.as_str().parse::<Normalization>(), Ok(mode));
    }
    assert_eq!(
        "center-target".parse::<Normalization>(),
        Ok(Normalization::CentreTarget)
    );
    let err = "l2".parse::<Normalization>().unwrap_err();
    assert_eq!((err.what, err.value.as_str()), ("normalisation", "l2"));
    assert_eq!(
        err.to_string(),
        "unknown normalisation `l2`: use none, centre-support, centre-target or cl2n"
    );
    assert!(Normalization::Cl2n.transductive() && Normalization::CentreTarget.transductive());
    assert!(!Normalization::None.transductive() && !Normalization::CentreSupport.transductive());
    assert_eq!(Normalization::Cl2n.label(), "cl2n (transductive)");

    // A result saved before normalisations existed reads as `none`, and the mode is part of
    // a result's file name, so two modes never overwrite each other.
    let opts: KShotOptions = serde_json::from_str(
        r#"{"k":10,"draws":100,"seed":0,"protocol":"pool","by_subject":false,"with_replacement":false,"support_part":"fold_0"}"#,
    )
    .expect("old options");
    assert_eq!(opts.normalize, Normalization::None);
    let result = |normalize| KShotResult {
        run_id: "r".into(),
        epoch: 3,
        target: "t".into(),
        options: KShotOptions {
            normalize,
            ..opts.clone()
        },
        protocol: bloodshot::fewshot::evaluate::Protocol::Pool,
        classes: vec!["all".into(), "hem".into()],
        support_pool: 10,
        queries: 10,
        summary: None,
        sweep: vec![],
        collapse: None,
    };
    assert_eq!(
        result(Normalization::None).file_name(),
        "e003-pool-k10-d100-s0.json"
    );
    assert_eq!(
        result(Normalization::CentreTarget).file_name(),
        "e003-pool-k10-d100-s0-centre-target.json"
    );
}

// ---------------------------------------------------------------------------------------
// the other classifiers

#[test]
fn logistic_regression_by_hand() {
    // x₁ = (1, 0) in class 0, x₂ = (−1, 0) in class 1, C = ln 3: n = 2, λ = 1/(C·n) = 1/(2 ln 3).
    // By symmetry w₀ = (t, 0) = −w₁ and b = 0; the objective −ln σ(2t) + λt² is stationary
    // where λt = 1 − σ(2t), i.e. t = ln 3 / 2, and then P(class 0 | x₁) = σ(ln 3) = 3/4.
    let m = Logistic::fit(&[vec![1.0, 0.0], vec![-1.0, 0.0]], &[0, 1], 2, 3f64.ln());
    let t = 3f64.ln() / 2.0;
    for (got, want) in m.weights.iter().zip([t, 0.0, -t, 0.0]) {
        assert!((got - want).abs() < 1e-6, "weights {:?}", m.weights);
    }
    assert!(m.bias.iter().all(|b| b.abs() < 1e-6), "{:?}", m.bias);
    let p = m.probabilities(&[1.0, 0.0]);
    assert!((p[0] - 0.75).abs() < 1e-6, "{p:?}");
    assert!(m.iterations < LOGISTIC_MAX_ITERATIONS, "converged");
    // A stronger regularisation (smaller C) gives smaller weights: C = 0.5 ln 3 is no longer
    // the hand solution.
    let weaker = Logistic::fit(
        &[vec![1.0, 0.0], vec![-1.0, 0.0]],
        &[0, 1],
        2,
        0.5 * 3f64.ln(),
    );
    assert!(weaker.weights[0] < t - 0.05, "{:?}", weaker.weights);
}

#[test]
fn one_soft_kmeans_step_by_hand() {
    // Prototypes (1, 0) and (0, 1); the query (1, 1) has equal cosines, so z = (½, ½), and
    // p₀ = ((1, 0) + ½(1, 1)) / 1.5 = (1, ⅓), p₁ = ((0, 1) + ½(1, 1)) / 1.5 = (⅓, 1).
    let prototypes = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let query = vec![1.0, 1.0];
    assert_eq!(assignment(&query, &prototypes), vec![0.5, 0.5]);
    let refined = refine(&prototypes, &[1, 1], &[query], &prototypes);
    let want = [[1.0, 1.0 / 3.0], [1.0 / 3.0, 1.0]];
    for (p, w) in refined.iter().zip(want) {
        assert!(
            (p[0] - w[0]).abs() < 1e-15 && (p[1] - w[1]).abs() < 1e-15,
            "{refined:?}"
        );
    }
    // A query at cosine 3/√10 to p₀ and 1/√10 to p₁: z₀ = 1 / (1 + e^{−(2/√10)/T}).
    let z = assignment(&[3.0, 1.0], &prototypes);
    let z0 = 1.0 / (1.0 + (-(2.0 / 10f64.sqrt()) / SOFT_KMEANS_TEMPERATURE).exp());
    assert!(
        (z[0] - z0).abs() < 1e-15 && (z[0] + z[1] - 1.0).abs() < 1e-15,
        "{z:?}"
    );

    // Through a draw, where the step changes an answer: support (1, 0) | (0, 1); queries
    // q = (1, 0.95) and three times (1, −1). Plain prototypes give q to class 0 (cosines
    // 1/|q| > 0.95/|q|). The three (1, −1) are class 0 beyond doubt (z₀ ≈ 1) and pull p₀ to
    // ≈ (1, −0.53), below the axis, while p₁ moves only to ≈ (0.29, 0.99): q is now closer to
    // p₁ (computed step by step in f64: 25° against 71°).
    let support_emb = embeddings(2, &[&[1.0, 0.0], &[0.0, 1.0]]);
    let queries = embeddings(2, &[&[1.0, 0.95], &[1.0, -1.0], &[1.0, -1.0], &[1.0, -1.0]]);
    let rows = TransformedRows::new(&support_emb, Some(&queries), Normalization::None);
    let s = support(&[&[0], &[1]]);
    let all = [0, 1, 2, 3];
    assert_eq!(
        method::predict(&rows, Method::Prototype, 1.0, &s, &all),
        vec![0, 0, 0, 0]
    );
    assert_eq!(
        method::predict(&rows, Method::SoftKmeans, 1.0, &s, &all),
        vec![1, 0, 0, 0]
    );
}

/// The plain float64 logistic regression, in the embedding space: the same objective, step
/// and momentum as the engine's solver, without its Gram-matrix shortcut.
fn reference_logistic(
    x: &[Vec<f64>],
    labels: &[usize],
    classes: usize,
    c: f64,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (n, dim) = (x.len(), x[0].len());
    let lambda = 1.0 / (c * n as f64);
    let step = 1.0 / (1.0 + lambda);
    let mut w = vec![vec![0f64; dim]; classes];
    let mut b = vec![0f64; classes];
    let (mut w_prev, mut b_prev) = (w.clone(), b.clone());
    let mut t = 1f64;
    for _ in 0..LOGISTIC_MAX_ITERATIONS {
        let mut gw: Vec<Vec<f64>> = w
            .iter()
            .map(|wc| wc.iter().map(|v| lambda * v).collect())
            .collect();
        let mut gb = vec![0f64; classes];
        for (xi, &yi) in x.iter().zip(labels) {
            let z: Vec<f64> = (0..classes)
                .map(|k| b[k] + w[k].iter().zip(xi).map(|(a, b)| a * b).sum::<f64>())
                .collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for k in 0..classes {
                let r = (e[k] / sum - f64::from(u8::from(yi == k))) / n as f64;
                gw[k].iter_mut().zip(xi).for_each(|(g, v)| *g += r * v);
                gb[k] += r;
            }
        }
        let norm2: f64 = gw.iter().flatten().chain(&gb).map(|g| g * g).sum();
        if norm2.sqrt() < LOGISTIC_TOLERANCE {
            break;
        }
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        let momentum = (t - 1.0) / t_next;
        for k in 0..classes {
            for d in 0..dim {
                let stepped = w[k][d] - step * gw[k][d];
                w[k][d] = stepped + momentum * (stepped - w_prev[k][d]);
                w_prev[k][d] = stepped;
            }
            let stepped = b[k] - step * gb[k];
            b[k] = stepped + momentum * (stepped - b_prev[k]);
            b_prev[k] = stepped;
        }
        t = t_next;
    }
    (w, b)
}

fn unit_row(v: Vec<f64>) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter()
        .map(|x| if n > 0.0 { x / n } else { 0.0 })
        .collect()
}

#[test]
fn other_classifiers_on_collapsed_embeddings_equal_their_float64_references() {
    let dim = 96;
    let mut rng = ChaCha8Rng::seed_from_u64(2020);
    let pool_labels: Vec<usize> = (0..60).map(|i| usize::from(i >= 30)).collect();
    let query_labels: Vec<usize> = (0..80).map(|i| i % 2).collect();
    let pool = collapsed(&pool_labels, &mut rng, dim);
    let queries = collapsed(&query_labels, &mut rng, dim);
    let draws = heldout_draws(
        &pool_labels,
        2,
        query_labels.len(),
        &SamplerOptions::new(5, 6, 4),
    )
    .expect("draws");
    // Best accuracy of each classifier over draws and modes: the task must not be trivial.
    let mut best = [0f64; 2];
    for mode in Normalization::ALL {
        let rows = TransformedRows::new(&pool, Some(&queries), mode);
        for draw in &draws {
            let shift = rows.shift(&draw.support);
            let shifted =
                |r: &[f64]| -> Vec<f64> { r.iter().zip(&shift).map(|(v, s)| v - s).collect() };
            // logistic: the reference fitted in the embedding space
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for (class, idx) in draw.support.per_class.iter().enumerate() {
                for &i in idx {
                    x.push(unit_row(shifted(rows.support_row(i))));
                    y.push(class);
                }
            }
            let (w, b) = reference_logistic(&x, &y, 2, 1.0);
            let reference: Vec<usize> = draw
                .queries
                .iter()
                .map(|&q| {
                    let xq = unit_row(shifted(rows.query_row(q)));
                    let s: Vec<f64> = (0..2)
                        .map(|k| b[k] + w[k].iter().zip(&xq).map(|(a, b)| a * b).sum::<f64>())
                        .collect();
                    usize::from(s[1] > s[0])
                })
                .collect();
            let ours = method::predict(&rows, Method::Logistic, 1.0, &draw.support, &draw.queries);
            assert_eq!(
                ours, reference,
                "logistic, draw {} under {mode}",
                draw.index
            );
            best[0] = best[0].max(accuracy(&ours, &query_labels));

            // soft k-means: one step written out directly
            let mean = |idx: &[usize]| -> Vec<f64> {
                let mut m = vec![0f64; dim];
                for &i in idx {
                    m.iter_mut()
                        .zip(shifted(rows.support_row(i)))
                        .for_each(|(a, v)| *a += v);
                }
                m.iter().map(|v| v / idx.len() as f64).collect()
            };
            let p: Vec<Vec<f64>> = draw.support.per_class.iter().map(|idx| mean(idx)).collect();
            let cos = |a: &[f64], b: &[f64]| {
                let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                d / (a.iter().map(|v| v * v).sum::<f64>().sqrt()
                    * b.iter().map(|v| v * v).sum::<f64>().sqrt())
            };
            let xs: Vec<Vec<f64>> = draw
                .queries
                .iter()
                .map(|&q| shifted(rows.query_row(q)))
                .collect();
            let mut refined = Vec::new();
            for (c, idx) in draw.support.per_class.iter().enumerate() {
                let mut num: Vec<f64> = p[c].iter().map(|v| v * idx.len() as f64).collect();
                let mut den = idx.len() as f64;
                for xq in &xs {
                    let e: Vec<f64> = p
                        .iter()
                        .map(|pk| (cos(xq, pk) / SOFT_KMEANS_TEMPERATURE).exp())
                        .collect();
                    let z = e[c] / e.iter().sum::<f64>();
                    num.iter_mut().zip(xq).for_each(|(a, v)| *a += z * v);
                    den += z;
                }
                refined.push(num.into_iter().map(|v| v / den).collect::<Vec<f64>>());
            }
            let reference: Vec<usize> = xs
                .iter()
                .map(|xq| usize::from(cos(xq, &refined[1]) > cos(xq, &refined[0])))
                .collect();
            let ours =
                method::predict(&rows, Method::SoftKmeans, 1.0, &draw.support, &draw.queries);
            assert_eq!(
                ours, reference,
                "soft-kmeans, draw {} under {mode}",
                draw.index
            );
            best[1] = best[1].max(accuracy(&ours, &query_labels));
        }
        // A bank on several threads scores exactly as draw by draw.
        for m in [Method::Logistic, Method::SoftKmeans] {
            let one = method::evaluate_bank(&rows, m, 1.0, &query_labels, &draws, 2, 1);
            assert_eq!(
                method::evaluate_bank(&rows, m, 1.0, &query_labels, &draws, 2, 3),
                one,
                "{m} under {mode}"
            );
        }
    }
    assert!(
        best.iter().all(|&b| b > 0.75),
        "both classifiers should learn the classes: {best:?}"
    );
}

#[test]
fn soft_kmeans_warns_on_unbalanced_queries() {
    let classes = vec!["all".to_string(), "hem".to_string()];
    assert_eq!(method::balance_warning(&[0, 1, 0, 1, 0], &classes), None);
    let w = method::balance_warning(&[0, 0, 0, 0, 1, 1], &classes).expect("2:1");
    assert!(
        w.contains("all 4, hem 2") && w.contains("soft-kmeans"),
        "{w}"
    );
}

#[test]
fn every_cell_of_the_grid_scores_the_same_draws() {
    use bloodshot::fewshot::evaluate::{Cell, Prepared, Protocol, draw_bank, evaluate_cell};
    let labels: Vec<usize> = (0..24).map(|i| i % 2).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let emb = collapsed(&labels, &mut rng, 16);
    let prep = Prepared::new(
        Protocol::Pool,
        vec!["all".into(), "hem".into()],
        (0..24).collect(),
        (0..24).collect(),
        emb.clone(),
        emb,
        labels.clone(),
        labels,
        vec![None; 24],
    );
    let base = KShotOptions {
        k: 3,
        draws: 5,
        protocol: Protocol::Pool,
        ..KShotOptions::default()
    };
    let bank = draw_bank(&prep, &base).expect("bank");
    for method in Method::ALL {
        for normalize in Normalization::ALL {
            let cell = KShotOptions {
                method,
                normalize,
                logistic_c: 0.3,
                ..base.clone()
            };
            assert_eq!(
                draw_bank(&prep, &cell).expect("bank"),
                bank,
                "{method} · {normalize}"
            );
            let metrics = evaluate_cell(&prep, Cell::of(&cell), &bank);
            assert_eq!(metrics.len(), 5);
            for (m, d) in metrics.iter().zip(&bank) {
                assert_eq!(m.confusion.total() as usize, d.queries.len());
            }
        }
    }
}
