//! The MLP timed by the `peer_tensor` bench and the `tensor_mlp_step` example: f32, ReLU
//! between layers, `h = x·W + b`, weights `randn / sqrt(fan_in)`, zero biases, Gaussian
//! inputs and labels `i mod classes`, trained with cross-entropy and plain SGD.

use retrograd::tensor::autograd::no_grad;
use retrograd::tensor::{DType, Result, Rng, Tensor};

/// A batch of inputs and labels, and the parameters `W₀, b₀, W₁, b₁, …`.
pub struct Mlp {
    x: Tensor,
    y: Tensor,
    params: Vec<Tensor>,
}

impl Mlp {
    /// Layer widths `dims` (input first, classes last), `batch` samples; the inputs, then
    /// the weights layer by layer, drawn from a generator seeded with `seed`.
    pub fn new(dims: &[usize], batch: usize, seed: u64) -> Result<Mlp> {
        let mut rng = Rng::new(seed);
        let x = Tensor::randn([batch, dims[0]], 0.0, 1.0, DType::F32, &mut rng);
        let classes = *dims.last().unwrap() as i64;
        let y = Tensor::from_vec((0..batch as i64).map(|i| i % classes).collect(), [batch])?;
        let mut params = Vec::new();
        for w in dims.windows(2) {
            let std = 1.0 / (w[0] as f64).sqrt();
            params
                .push(Tensor::randn([w[0], w[1]], 0.0, std, DType::F32, &mut rng).requires_grad_());
            params.push(Tensor::zeros([w[1]], DType::F32).requires_grad_());
        }
        Ok(Mlp { x, y, params })
    }

    /// The forward pass: the mean cross-entropy of the batch.
    pub fn loss(&self) -> Result<Tensor> {
        let layers = self.params.len() / 2;
        let mut h = self.x.clone();
        for l in 0..layers {
            h = h
                .matmul(&self.params[2 * l])?
                .add(&self.params[2 * l + 1])?;
            if l + 1 < layers {
                h = h.relu()?;
            }
        }
        h.cross_entropy(&self.y)
    }

    /// One training step: forward, backward, and the SGD update `p -= lr · ∂loss/∂p`.
    /// Returns the loss before the update.
    pub fn step(&self, lr: f64) -> Result<f64> {
        let loss = self.loss()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in &self.params {
                p.add_scaled_(&p.grad().expect("reached by backward"), -lr)?;
                p.zero_grad();
            }
            Ok(())
        })?;
        loss.item()
    }
}
