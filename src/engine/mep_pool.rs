//! MEP runners shared by the worker threads (docs/reliability.md#mep-runner-pool).
use crate::error::Result;
use crate::instances::Instance;
use crate::mep::{Mep, MepParams};

/// MEP runners (scratch buffers) shared by the worker threads: each image checks one out and
/// returns it. No thread-local state: a MEP stage's own rayon loop may run another image's job on
/// the same thread (work stealing), and that job then simply checks out another runner
/// (see docs/reliability.md#mep-runner-pool).
#[derive(Debug, Default)]
pub struct MepPool {
    idle: std::sync::Mutex<Vec<Mep>>,
}

impl MepPool {
    /// Runs the MEP with a runner taken from the pool (a new one when none is idle or the idle
    /// ones have other parameters), then puts the runner back.
    ///
    /// # Errors
    /// As [`Mep::run`].
    pub fn run(&self, params: &MepParams, input: &crate::mep::MepInput<'_>) -> Result<Vec<Instance>> {
        let taken = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|m| m.params() == params);
            idle.pop()
        };
        let mut mep = taken.unwrap_or_else(|| Mep::new(params.clone()));
        let result = mep.run(input);
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mep);
        result
    }

    /// Runners currently idle (for tests).
    #[must_use]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ndarray::{Array2, Array3};

    use std::sync::{Arc, mpsc};

    use super::*;
    use crate::mep::{MepInput, Semantic, extract};

    fn case(i: usize) -> (Array3<u8>, Array2<f32>, Array2<u16>) {
        let (h, w) = (128 + (i % 4) * 16, 160 + (i % 3) * 16);
        let image = Array3::<u8>::zeros((h, w, 3));
        let step = 9 + i % 7;
        let boundary = Array2::from_shape_fn((h, w), |(y, x)| {
            if x % step == 0 || y % (step + 3) == 0 {
                0.9f32
            } else {
                0.05
            }
        });
        let labels = Array2::<u16>::from_elem((h, w), 1 + (i % 3) as u16);
        (image, boundary, labels)
    }

    fn run_case(pool: &MepPool, params: &MepParams, i: usize) -> Vec<Instance> {
        let (img, b, l) = case(i);
        let input = MepInput {
            image: img.view(),
            boundary: b.view(),
            semantic: Semantic::Labels(l.view()),
        };
        pool.run(params, &input).unwrap()
    }

    /// Image jobs are spawned on the pool as `run_infer` does; while a MEP stage's inner rayon
    /// loop waits for its pieces, its thread runs other image jobs. The old thread-local runner
    /// then panicked ("already borrowed") in the nested job, which aborts the process (a probe
    /// with the old design panicked in about 1 of 300 jobs of this setup). The pool must give
    /// identical results to one-off extraction with no panic.
    #[test]
    fn mep_pool_is_reentrant_under_rayon() {
        static PANICS: AtomicUsize = AtomicUsize::new(0);
        const N: usize = 600;
        let params = MepParams::default();
        let pool = Arc::new(MepPool::default());
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(6)
            .panic_handler(|_| {
                PANICS.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..N {
            let (tx, pool, params) = (tx.clone(), Arc::clone(&pool), params.clone());
            threads.spawn(move || {
                let got = run_case(&pool, &params, i);
                let _ = tx.send((i, got));
            });
        }
        drop(tx);
        let mut got: Vec<(usize, Vec<Instance>)> = rx.iter().collect();
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a nested job panicked");
        assert_eq!(got.len(), N);
        for (i, instances) in got.iter().step_by(37) {
            let (img, b, l) = case(*i);
            let input = MepInput {
                image: img.view(),
                boundary: b.view(),
                semantic: Semantic::Labels(l.view()),
            };
            assert_eq!(instances, &extract(&input, &params).unwrap(), "image {i}");
        }
        assert!(pool.idle_count() >= 1);
    }
}
