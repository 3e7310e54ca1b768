//! Gradient clipping by global norm and by value.

/// The Euclidean norm of all gradients together.
///
/// ```
/// assert_eq!(retrograd_nn::optim::grad_norm(&[&[3.0][..], &[4.0][..]]), 5.0);
/// ```
pub fn grad_norm(grads: &[&[f32]]) -> f64 {
    grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt()
}

/// Scales all gradients together so that their global norm is at most `max_norm`;
/// returns the norm before clipping.
///
/// ```
/// let (mut a, mut b) = (vec![3.0f32], vec![4.0f32]);
/// let norm = retrograd_nn::optim::clip_grad_norm(&mut [&mut a[..], &mut b[..]], 1.0);
/// assert_eq!(norm, 5.0);
/// assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let norm = grad_norm(&grads.iter().map(|g| &**g).collect::<Vec<_>>());
    if norm > max_norm && norm > 0.0 {
        let scale = (max_norm / norm) as f32;
        for g in grads.iter_mut() {
            g.iter_mut().for_each(|x| *x *= scale);
        }
    }
    norm
}

/// Clamps every gradient element to `[-clip, clip]`.
///
/// ```
/// let mut g = vec![-3.0f32, 0.5, 2.0];
/// retrograd_nn::optim::clip_grad_value(&mut [&mut g[..]], 1.0);
/// assert_eq!(g, vec![-1.0, 0.5, 1.0]);
/// ```
pub fn clip_grad_value(grads: &mut [&mut [f32]], clip: f32) {
    for g in grads.iter_mut() {
        g.iter_mut().for_each(|x| *x = x.clamp(-clip, clip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_gradients_are_left_alone() {
        let mut g = vec![0.3f32, 0.4];
        let n = clip_grad_norm(&mut [&mut g[..]], 1.0);
        assert!((n - 0.5).abs() < 1e-7);
        assert_eq!(g, vec![0.3, 0.4]);
    }
}
