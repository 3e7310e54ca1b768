//! Where a chain of layers is cut into stages.

use crate::{Error, Result};

/// How a [`Sequential`](retrograd_nn::layers::Sequential) is cut into one stage per rank.
///
/// ```
/// use retrograd_mpi::pipeline::Split;
/// // four layers on two ranks: layers 0 and 1 on rank 0, 2 and 3 on rank 1
/// assert_eq!(Split::At(vec![2]).stage_starts(&[1, 0, 1, 0], 2).unwrap(), vec![0, 2]);
/// // by parameter count: the first layer is as large as the other three together
/// assert_eq!(Split::Balanced.stage_starts(&[30, 10, 10, 10], 2).unwrap(), vec![0, 1]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Split {
    /// Stages of contiguous layers whose largest parameter count is as small as possible
    /// (ties: the earliest cuts).
    Balanced,
    /// The index of the first layer of each stage after the first: `At(vec![2, 5])` gives
    /// three stages, layers `0..2`, `2..5` and `5..`.
    At(Vec<usize>),
}

impl Split {
    /// The first layer of each of `stages` stages, given each layer's parameter count;
    /// an error unless every stage gets at least one layer.
    ///
    /// ```
    /// use retrograd_mpi::pipeline::Split;
    /// assert!(Split::At(vec![1, 2]).stage_starts(&[1, 1, 1], 2).is_err()); // 3 stages, 2 ranks
    /// assert!(Split::Balanced.stage_starts(&[1], 2).is_err()); // 2 stages, 1 layer
    /// ```
    pub fn stage_starts(&self, layer_sizes: &[usize], stages: usize) -> Result<Vec<usize>> {
        let layers = layer_sizes.len();
        if stages == 0 {
            return Err(Error::Config("a pipeline needs at least one stage".into()));
        }
        if stages > layers {
            return Err(Error::Config(format!(
                "{stages} pipeline stages but the model has {layers} layer(s): \
                 each stage needs at least one"
            )));
        }
        match self {
            Split::At(cuts) => {
                if cuts.len() + 1 != stages {
                    return Err(Error::Config(format!(
                        "the split at layers {cuts:?} makes {} stages, but there are {stages} \
                         ranks: one stage per rank",
                        cuts.len() + 1
                    )));
                }
                let mut starts = vec![0];
                for &c in cuts {
                    let last = *starts.last().expect("starts with 0");
                    if c <= last || c >= layers {
                        return Err(Error::Config(format!(
                            "split points {cuts:?} must increase strictly within 1..{layers} \
                             (the model has {layers} layers)"
                        )));
                    }
                    starts.push(c);
                }
                Ok(starts)
            }
            Split::Balanced => Ok(balanced(layer_sizes, stages)),
        }
    }
}

/// The linear partition minimising the largest part: `best[s][i]` is the smallest possible
/// largest part when the first `i` layers form `s` stages.
fn balanced(sizes: &[usize], stages: usize) -> Vec<usize> {
    let n = sizes.len();
    let mut prefix = vec![0usize; n + 1];
    for (i, &s) in sizes.iter().enumerate() {
        prefix[i + 1] = prefix[i].saturating_add(s);
    }
    let part = |a: usize, b: usize| prefix[b] - prefix[a];
    let mut best = vec![vec![usize::MAX; n + 1]; stages + 1];
    let mut cut = vec![vec![0usize; n + 1]; stages + 1];
    best[0][0] = 0;
    for s in 1..=stages {
        for i in s..=n {
            for j in (s - 1)..i {
                if best[s - 1][j] == usize::MAX {
                    continue;
                }
                let cost = best[s - 1][j].max(part(j, i));
                if cost < best[s][i] {
                    best[s][i] = cost;
                    cut[s][i] = j;
                }
            }
        }
    }
    let mut starts = vec![0; stages];
    let mut end = n;
    for s in (1..=stages).rev() {
        starts[s - 1] = cut[s][end];
        end = cut[s][end];
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest stage of the best partition, by trying every set of cuts.
    fn exhaustive(sizes: &[usize], stages: usize) -> usize {
        fn go(sizes: &[usize], stages: usize) -> usize {
            if stages == 1 {
                return sizes.iter().sum();
            }
            (1..=sizes.len() - stages + 1)
                .map(|i| {
                    sizes[..i]
                        .iter()
                        .sum::<usize>()
                        .max(go(&sizes[i..], stages - 1))
                })
                .min()
                .expect("at least one cut")
        }
        go(sizes, stages)
    }

    #[test]
    fn balanced_splits_are_optimal_and_non_empty() {
        let mut state = 7u64;
        for _ in 0..300 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 1 + (state >> 60) as usize % 8;
            let sizes: Vec<usize> = (0..n)
                .map(|i| ((state >> (i * 5)) & 31) as usize * usize::from(i % 3 != 1))
                .collect();
            for stages in 1..=n {
                let starts = Split::Balanced.stage_starts(&sizes, stages).unwrap();
                assert_eq!(starts.len(), stages);
                assert_eq!(starts[0], 0);
                assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
                assert!(*starts.last().unwrap() < n);
                let mut ends = starts[1..].to_vec();
                ends.push(n);
                let largest = starts
                    .iter()
                    .zip(&ends)
                    .map(|(&a, &b)| sizes[a..b].iter().sum::<usize>())
                    .max()
                    .unwrap();
                assert_eq!(largest, exhaustive(&sizes, stages), "{sizes:?} {stages}");
            }
        }
    }

    #[test]
    fn explicit_splits_are_checked() {
        let sizes = [1, 1, 1, 1];
        assert_eq!(
            Split::At(vec![1, 3]).stage_starts(&sizes, 3).unwrap(),
            vec![0, 1, 3]
        );
        for bad in [vec![0, 2], vec![2, 2], vec![3, 1], vec![1, 4]] {
            let err = Split::At(bad.clone()).stage_starts(&sizes, 3).unwrap_err();
            assert!(
                err.to_string().contains("increase strictly"),
                "{bad:?}: {err}"
            );
        }
        let err = Split::At(vec![2]).stage_starts(&sizes, 3).unwrap_err();
        assert!(
            err.to_string()
                .contains("makes 2 stages, but there are 3 ranks"),
            "{err}"
        );
        let err = Split::Balanced.stage_starts(&sizes, 5).unwrap_err();
        assert!(
            err.to_string()
                .contains("5 pipeline stages but the model has 4 layer"),
            "{err}"
        );
    }
}
