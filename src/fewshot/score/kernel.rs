//! The residual dot-product kernels: portable, and AVX2 + FMA chosen at run time.

/// Lanes of partial sums per prototype in the dot kernels: enough independent accumulators
/// to hide the latency of the adds. The summation order is fixed by it, so the batched and
/// the per-draw paths give bit-identical scores.
pub(super) const LANES: usize = 16;

/// The residual dot-product kernel, chosen once per call site from the CPU's features.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    pub(super) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::level() >= crate::simd::Level::Avx2Fma {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    /// `out[p] = query · protos[p]` for each `dim`-long row `p` of `protos`.
    pub(super) fn dots(self, query: &[f32], protos: &[f32], dim: usize, out: &mut [f32]) {
        debug_assert_eq!(query.len(), dim);
        debug_assert_eq!(protos.len(), out.len() * dim);
        match self {
            Kernel::Portable => {
                for (o, p) in out.iter_mut().zip(protos.chunks_exact(dim.max(1))) {
                    *o = dot_portable(query, p);
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => {
                // SAFETY: `detect` returned this variant only when `simd::level` said the CPU
                // supports AVX2 and FMA; the kernel checks its slice lengths itself.
                unsafe { avx2::dots(query, protos, dim, out) }
            }
        }
    }
}

/// Dot product with the fixed 16-lane summation order (no FMA).
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; LANES];
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! AVX2 + FMA dot products of one query row against four prototype rows at a time: the
    //! query chunk is loaded once per four fused multiply-adds.

    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    use super::LANES;

    /// Lane sums (two 8-wide accumulators = 16 lanes) of one prototype, reduced in lane order.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce(lo: __m256, hi: __m256) -> f32 {
        let mut lanes = [0f32; LANES];
        // SAFETY: `lanes` holds 16 floats; each store writes 8 of them.
        unsafe {
            _mm256_storeu_ps(lanes.as_mut_ptr(), lo);
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8), hi);
        }
        lanes.iter().sum()
    }

    /// `out[p] = query · protos[p]`, every prototype summed in the same order whether it is
    /// computed in a group of four or on its own.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots(query: &[f32], protos: &[f32], dim: usize, out: &mut [f32]) {
        assert_eq!(query.len(), dim, "query row length");
        assert_eq!(protos.len(), out.len() * dim, "prototype matrix shape");
        if dim == 0 {
            out.iter_mut().for_each(|o| *o = 0.0);
            return;
        }
        let body = dim - dim % LANES;
        let tail = |p: &[f32]| -> f32 {
            query[body..]
                .iter()
                .zip(&p[body..])
                .map(|(x, y)| x * y)
                .sum()
        };
        let n = out.len();
        let mut start = 0;
        while start < n {
            // Groups of four; a short last group repeats its first row (results discarded).
            let idx: [usize; 4] =
                std::array::from_fn(|j| if start + j < n { start + j } else { start });
            let rows: [&[f32]; 4] = idx.map(|i| &protos[i * dim..(i + 1) * dim]);
            let mut acc = [_mm256_setzero_ps(); 8];
            let mut i = 0;
            while i < body {
                // SAFETY: i + 16 <= body <= dim, the length of the query and of every row.
                unsafe {
                    let q_lo = _mm256_loadu_ps(query.as_ptr().add(i));
                    let q_hi = _mm256_loadu_ps(query.as_ptr().add(i + 8));
                    for (j, row) in rows.iter().enumerate() {
                        let p_lo = _mm256_loadu_ps(row.as_ptr().add(i));
                        let p_hi = _mm256_loadu_ps(row.as_ptr().add(i + 8));
                        acc[2 * j] = _mm256_fmadd_ps(q_lo, p_lo, acc[2 * j]);
                        acc[2 * j + 1] = _mm256_fmadd_ps(q_hi, p_hi, acc[2 * j + 1]);
                    }
                }
                i += LANES;
            }
            for (j, &p) in idx.iter().enumerate() {
                if start + j < n {
                    out[p] = reduce(acc[2 * j], acc[2 * j + 1]) + tail(rows[j]);
                }
            }
            start += 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_a_plain_dot() {
        let dim = 37;
        let query: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let protos: Vec<f32> = (0..5 * dim).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut out = vec![0f32; 5];
        Kernel::detect().dots(&query, &protos, dim, &mut out);
        for (p, &o) in out.iter().enumerate() {
            let plain: f64 = query
                .iter()
                .zip(&protos[p * dim..(p + 1) * dim])
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            assert!(
                (f64::from(o) - plain).abs() < 1e-5,
                "row {p}: {o} vs {plain}"
            );
        }
        // A row alone gives the same bits as in a group.
        let mut single = vec![0f32; 1];
        Kernel::detect().dots(&query, &protos[3 * dim..4 * dim], dim, &mut single);
        assert_eq!(single[0].to_bits(), out[3].to_bits());
    }
}
