//! Grouping decoded images into ONNX Runtime batches (docs/engine.md#batcher).
//!
//! Images of one batch must share the padded input size, so the batcher keeps one group per
//! padded size and hands a group out as soon as it holds `batch` images. So that memory stays
//! bounded when sizes vary, once `4 * batch` images wait for partners the largest group goes out
//! incomplete. At the end the groups left go out in input order. With `batch == 1` every image
//! goes out alone, at once. A batch that ONNX Runtime refuses as a whole is retried one image at
//! a time ([`Batcher::singly`]), so that only the culprit is skipped.
use std::collections::HashMap;

use crate::input::preprocess::padded_shape;

/// A group of items for one forward pass: `(input index, item)`, in arrival order.
pub type Group<T> = Vec<(usize, T)>;

/// How many batches' worth of images may wait for partners before the largest group is flushed.
const WAITING_BATCHES: usize = 4;

/// Groups items by padded size; see the module documentation.
#[derive(Debug)]
pub struct Batcher<T> {
    batch: usize,
    size_divisor: usize,
    groups: HashMap<(usize, usize), Group<T>>,
    pending: usize,
}

impl<T> Batcher<T> {
    /// A batcher of `batch` images per forward pass (at least 1) for a model whose input sides
    /// are padded to multiples of `size_divisor`.
    #[must_use]
    pub fn new(batch: usize, size_divisor: usize) -> Self {
        Self {
            batch: batch.max(1),
            size_divisor,
            groups: HashMap::new(),
            pending: 0,
        }
    }

    /// Images per forward pass.
    #[must_use]
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Items waiting in incomplete groups.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Adds item `index` of size `(height, width)`; returns a group to run when one is ready.
    pub fn push(&mut self, index: usize, (height, width): (usize, usize), item: T) -> Option<Group<T>> {
        let key = if self.batch == 1 {
            (0, 0)
        } else {
            padded_shape(height, width, self.size_divisor)
        };
        let group = self.groups.entry(key).or_default();
        group.push((index, item));
        self.pending += 1;
        let flush = if group.len() >= self.batch {
            Some(key)
        } else if self.pending >= self.batch * WAITING_BATCHES {
            // The largest group; among equals the one that waits longest (deterministic).
            self.groups
                .iter()
                .max_by(|(_, a), (_, b)| {
                    a.len()
                        .cmp(&b.len())
                        .then_with(|| first_index(b).cmp(&first_index(a)))
                })
                .map(|(k, _)| *k)
        } else {
            None
        };
        flush.and_then(|k| self.take(k))
    }

    /// The groups left, in input order (of their first item).
    pub fn finish(&mut self) -> Vec<Group<T>> {
        let mut rest: Vec<Group<T>> = self.groups.drain().map(|(_, g)| g).collect();
        self.pending = 0;
        rest.sort_by_key(first_index);
        rest
    }

    /// A refused group as one-item groups, in the group's order.
    #[must_use]
    pub fn singly(group: Group<T>) -> Vec<Group<T>> {
        group.into_iter().map(|one| vec![one]).collect()
    }

    fn take(&mut self, key: (usize, usize)) -> Option<Group<T>> {
        let group = self.groups.remove(&key)?;
        self.pending -= group.len();
        Some(group)
    }
}

fn first_index<T>(group: &Group<T>) -> Option<usize> {
    group.first().map(|(i, _)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices<T>(g: &Group<T>) -> Vec<usize> {
        g.iter().map(|(i, _)| *i).collect()
    }

    #[test]
    fn batch_of_one_flushes_every_image_at_once() {
        let mut b = Batcher::new(1, 32);
        for (i, size) in [(100, 100), (500, 300), (100, 100)].into_iter().enumerate() {
            let g = b.push(i, size, ()).expect("flushed");
            assert_eq!(indices(&g), [i]);
        }
        assert!(b.finish().is_empty());
    }

    #[test]
    fn groups_by_padded_size_and_flushes_when_full() {
        let mut b = Batcher::new(2, 32);
        // 100 and 120 both pad to 128; 200 pads to 224.
        assert!(b.push(0, (100, 100), 'a').is_none());
        assert!(b.push(1, (200, 100), 'b').is_none());
        let g = b.push(2, (120, 110), 'c').expect("two of size 128x128");
        assert_eq!(g, [(0, 'a'), (2, 'c')]);
        assert_eq!(b.pending(), 1);
        let g = b.push(3, (210, 128), 'd').expect("two of size 224x128");
        assert_eq!(indices(&g), [1, 3]);
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn flushes_the_largest_group_when_too_many_wait() {
        let mut b = Batcher::new(3, 32);
        // Sizes 32*k: every image in a group of its own except two of size 64.
        let sizes = [64, 96, 64, 128, 160, 192, 224, 256, 288, 320, 352];
        let mut out = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            if let Some(g) = b.push(i, (*s, *s), ()) {
                out.push(indices(&g));
            }
        }
        // 11 waiting: below 4 * 3, nothing goes out.
        assert!(out.is_empty(), "{out:?}");
        // The 12th waiting image: the largest group (size 64, two images) goes out incomplete.
        let g = b.push(11, (384, 384), ()).expect("12 waiting");
        assert_eq!(indices(&g), [0, 2]);
        assert_eq!(b.pending(), 10);
        assert!(b.push(12, (416, 416), ()).is_none());
        // 12 again: all groups hold one image; the oldest goes first.
        let g = b.push(13, (448, 448), ()).expect("12 waiting");
        assert_eq!(indices(&g), [1]);
    }

    #[test]
    fn finish_returns_the_rest_in_input_order() {
        let mut b = Batcher::new(4, 32);
        for (i, s) in [300, 100, 300, 200, 100].iter().enumerate() {
            assert!(b.push(i, (*s, *s), ()).is_none());
        }
        let rest: Vec<Vec<usize>> = b.finish().iter().map(indices).collect();
        assert_eq!(rest, [vec![0, 2], vec![1, 4], vec![3]]);
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn a_refused_group_is_retried_one_by_one_in_order() {
        let groups = Batcher::singly(vec![(4, 'x'), (1, 'y'), (7, 'z')]);
        assert_eq!(groups, [vec![(4, 'x')], vec![(1, 'y')], vec![(7, 'z')]]);
    }
}
