//! Bounded concurrency without async: scoped worker threads pull items from a shared queue,
//! and each result is handed back to the calling thread as soon as it is ready, so the
//! database (and anything else that is not `Sync`) stays on the calling thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Run `work` on every item with at most `workers` threads; call `done(index, result)` on
/// the calling thread in completion order. Returns when every item is done.
pub fn for_each<T, R, W, D>(items: &[T], workers: usize, work: W, mut done: D)
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    D: FnMut(usize, R),
{
    let workers = workers.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    if tx.send((index, work(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (index, result) in rx {
            done(index, result);
        }
    });
}

/// `for_each`, collecting the results in the items' order.
pub fn map<T, R, W>(items: &[T], workers: usize, work: W) -> Vec<R>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
{
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    for_each(items, workers, work, |i, r| results[i] = Some(r));
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_and_visits_every_item() {
        let items: Vec<u32> = (0..500).collect();
        for workers in [1, 3, 8, 1000] {
            assert_eq!(map(&items, workers, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(map(&Vec::<u32>::new(), 4, |x| *x).is_empty());
    }

    #[test]
    fn work_runs_concurrently() {
        use std::sync::atomic::AtomicUsize;
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..16).collect();
        map(&items, 4, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!(peak.load(Ordering::SeqCst) > 1);
        assert!(peak.load(Ordering::SeqCst) <= 4);
    }
}
