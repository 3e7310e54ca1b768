//! Data parallelism as the training loop sees it: processes (replicas) that each train on
//! their share of every epoch and agree on the gradients.
//!
//! The loop ([`Trainer::run_replicated`](super::Trainer::run_replicated)) asks a
//! [`Replicas`] for the collectives it needs; the communication itself (MPI, in the
//! `retrograd-mpi` crate) lives behind it. [`SingleProcess`] is the run of one process.

use retrograd::tensor::Tensor;

use crate::NnError;

/// The collectives of a data-parallel run. Every method is called by every process at the
/// same point of the loop, in the same order (as MPI collectives must be).
///
/// ```
/// use retrograd_nn::train::{Replicas, SingleProcess};
/// let mut one = SingleProcess;
/// assert_eq!((one.rank(), one.size()), (0, 1));
/// let mut v = [1.0, 2.0];
/// one.sum(&mut v).unwrap();
/// assert_eq!(v, [1.0, 2.0]);
/// ```
pub trait Replicas {
    /// The error of a collective; training-stack errors convert into it.
    type Error: From<NnError>;

    /// This process's index, `0..size()`; process 0 writes the checkpoints.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Called once before training with the model's parameters (in the model's order),
    /// e.g. to register gradient hooks.
    fn attach(&mut self, params: &[Tensor]) -> Result<(), Self::Error>;
    /// Replaces `values` by process 0's (parameters and optimizer state).
    fn broadcast(&mut self, values: &mut [f32]) -> Result<(), Self::Error>;
    /// Replaces `words` by process 0's (counters, generator state).
    fn broadcast_words(&mut self, words: &mut [u64]) -> Result<(), Self::Error>;
    /// Called after each backward pass with every parameter's gradient (read from
    /// `.grad()`, zeros where there is none): replaces each by its mean over the
    /// processes.
    fn average_gradients(&mut self, grads: &mut [Vec<f32>]) -> Result<(), Self::Error>;
    /// Replaces `values` by their sums over the processes.
    fn sum(&mut self, values: &mut [f64]) -> Result<(), Self::Error>;
    /// Called after the last step of the run (e.g. to remove gradient hooks).
    fn detach(&mut self, _params: &[Tensor]) {}
}

/// One process: every collective is the identity.
///
/// ```
/// use retrograd_nn::train::{Replicas, SingleProcess};
/// let mut g = vec![vec![0.5f32]];
/// SingleProcess.average_gradients(&mut g).unwrap();
/// assert_eq!(g, vec![vec![0.5]]);
/// ```
pub struct SingleProcess;

impl Replicas for SingleProcess {
    type Error = NnError;
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn attach(&mut self, _params: &[Tensor]) -> Result<(), NnError> {
        Ok(())
    }
    fn broadcast(&mut self, _values: &mut [f32]) -> Result<(), NnError> {
        Ok(())
    }
    fn broadcast_words(&mut self, _words: &mut [u64]) -> Result<(), NnError> {
        Ok(())
    }
    fn average_gradients(&mut self, _grads: &mut [Vec<f32>]) -> Result<(), NnError> {
        Ok(())
    }
    fn sum(&mut self, _values: &mut [f64]) -> Result<(), NnError> {
        Ok(())
    }
}

/// Process `rank`'s share of an epoch's sample order (a distributed sampler): every
/// `ranks`-th sample from position `rank`, after padding `order` by repeating its start
/// to a multiple of `ranks`, as PyTorch's `DistributedSampler` does, so every process has
/// as many samples (and mini-batches) as the others. Global mini-batch `k` of the
/// processes together (each taking `B` from its share) is then exactly samples
/// `k·ranks·B .. (k+1)·ranks·B` of the padded order: the same mini-batches as one process
/// with batch `ranks·B`.
///
/// ```
/// use retrograd_nn::train::shard;
/// assert_eq!(shard(&[7, 8, 9, 10, 11], 0, 2), vec![7, 9, 11]);
/// assert_eq!(shard(&[7, 8, 9, 10, 11], 1, 2), vec![8, 10, 7]);
/// assert_eq!(shard(&[7, 8, 9], 0, 1), vec![7, 8, 9]);
/// ```
pub fn shard(order: &[usize], rank: usize, ranks: usize) -> Vec<usize> {
    assert!(rank < ranks, "rank {rank} of {ranks}");
    let padded = order.len().div_ceil(ranks) * ranks;
    (rank..padded)
        .step_by(ranks)
        .map(|i| order[i % order.len()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn shards_cover_the_order_once_plus_padding() {
        let order: Vec<usize> = (0..103).rev().collect();
        for ranks in 1..6 {
            let mut all: Vec<usize> = (0..ranks).flat_map(|r| shard(&order, r, ranks)).collect();
            let per = 103usize.div_ceil(ranks);
            assert_eq!(all.len(), per * ranks);
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 103, "{ranks} ranks miss a sample");
        }
    }
}
