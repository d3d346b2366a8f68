//! Draws scored on several threads: the bank split into one contiguous chunk per thread,
//! the results joined back in draw order.

/// `work` on each of up to `threads` contiguous chunks of `items` (scoped threads; one chunk
/// runs on the calling thread when `threads` ≤ 1), results concatenated in order. A panic in
/// a worker is resumed on the caller.
pub(crate) fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return work(items);
    }
    let chunk_len = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
