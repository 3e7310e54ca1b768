//! The update rules of SGD, Adam/AdamW, RMSProp and Adagrad, each next to its formula.

use retrograd::tensor::FloatElement;

use super::UpdateRule;

/// `v` in the rule's element type.
fn c<T: FloatElement>(v: f64) -> T {
    T::from_f64(v)
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight
/// decay (the conventions of PyTorch's `torch.optim.SGD`, dampening 0):
/// `g += wd·w; b = μ·b + g; w -= lr·(nesterov ? g + μ·b : b)`.
///
/// ```
/// use retrograd_nn::optim::{Optim, Optimizer, SgdConfig};
/// let mut opt = Optim::new(SgdConfig::new(0.1).momentum(0.9), 1);
/// let mut w = [1.0f32];
/// opt.update(0, &mut w, &[1.0]); // b = 1,   w = 1 - 0.1
/// opt.update(0, &mut w, &[1.0]); // b = 1.9, w = 0.9 - 0.19
/// assert!((w[0] - 0.71).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor μ (0: plain SGD).
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::SgdConfig::new(0.1).momentum, 0.0);
    /// ```
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Sets the momentum factor.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::SgdConfig::new(0.1).momentum(0.9).momentum, 0.9);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Switches to Nesterov momentum.
    ///
    /// ```
    /// assert!(retrograd_nn::optim::SgdConfig::new(0.1).momentum(0.9).nesterov().nesterov);
    /// ```
    pub fn nesterov(mut self) -> Self {
        self.nesterov = true;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::SgdConfig::new(0.1).weight_decay(1e-4).weight_decay, 1e-4);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl UpdateRule for SgdConfig {
    const NAME: &'static str = "sgd";
    const SLOTS: &'static [&'static str] = &["momentum"];

    fn lr(&self) -> f64 {
        self.lr
    }

    fn apply<T: FloatElement>(
        &self,
        lr: T,
        _step: u64,
        w: &mut [T],
        grad: &[T],
        state: &mut [Vec<T>],
    ) {
        let (mu, wd) = (c::<T>(self.momentum), c::<T>(self.weight_decay));
        let buf = &mut state[0];
        // Branches hoisted and slices zipped, so each loop compiles to vector code.
        if mu == T::zero() {
            for (w, &g) in w.iter_mut().zip(grad) {
                *w -= lr * (g + wd * *w);
            }
            return;
        }
        for ((w, &g), b) in w.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let g = g + wd * *w;
            *b = mu * *b + g;
            let d = if self.nesterov { g + mu * *b } else { *b };
            *w -= lr * d;
        }
    }
}

/// Adam (Kingma & Ba) with bias correction; with `decoupled` set it is AdamW (Loshchilov &
/// Hutter), whose weight decay shrinks the weights directly (`w -= lr·wd·w`) instead of
/// being added to the gradient.
///
/// `m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  w -= lr·(m/(1-β1ᵗ)) / (√(v/(1-β2ᵗ)) + ε)`
///
/// ```
/// use retrograd_nn::optim::{AdamConfig, Optim, Optimizer};
/// let mut opt = Optim::new(AdamConfig::adamw(0.1, 0.5), 1);
/// let mut w = [1.0f32];
/// opt.update(0, &mut w, &[2.0]); // decay: 1 - 0.1·0.5·1 = 0.95, then Adam step of -0.1
/// assert!((w[0] - 0.85).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// AdamW: decoupled weight decay.
    pub decoupled: bool,
}

impl AdamConfig {
    /// Adam with β = (0.9, 0.999), ε = 1e-8, no weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::AdamConfig::new(1e-3).beta2, 0.999);
    /// ```
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW with decoupled weight decay `weight_decay`.
    ///
    /// ```
    /// assert!(retrograd_nn::optim::AdamConfig::adamw(1e-3, 0.01).decoupled);
    /// ```
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        AdamConfig {
            weight_decay,
            decoupled: true,
            ..AdamConfig::new(lr)
        }
    }

    /// Sets β1 and β2.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::AdamConfig::new(1e-3).betas(0.8, 0.9).beta1, 0.8);
    /// ```
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets the weight decay (L2 for Adam, decoupled for AdamW).
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::AdamConfig::new(1e-3).weight_decay(0.1).weight_decay, 0.1);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl UpdateRule for AdamConfig {
    const NAME: &'static str = "adam";
    const SLOTS: &'static [&'static str] = &["m", "v"];

    fn lr(&self) -> f64 {
        self.lr
    }

    fn apply<T: FloatElement>(
        &self,
        lr: T,
        step: u64,
        w: &mut [T],
        grad: &[T],
        state: &mut [Vec<T>],
    ) {
        let (b1, b2) = (c::<T>(self.beta1), c::<T>(self.beta2));
        let (eps, wd) = (c::<T>(self.eps), c::<T>(self.weight_decay));
        let one = T::one();
        let c1 = one - c::<T>(self.beta1.powi(step as i32));
        let c2 = one - c::<T>(self.beta2.powi(step as i32));
        let (m, v) = state.split_at_mut(1);
        let (m, v) = (&mut m[0], &mut v[0]);
        let moments = |w: &mut T, g: T, m: &mut T, v: &mut T| {
            *m = b1 * *m + (one - b1) * g;
            *v = b2 * *v + (one - b2) * g * g;
            *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
        };
        // Branch hoisted and slices zipped, so each loop compiles to vector code.
        let each = w.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut());
        if self.decoupled {
            for (((w, &g), m), v) in each {
                *w -= lr * wd * *w;
                moments(w, g, m, v);
            }
        } else {
            for (((w, &g), m), v) in each {
                let g = g + wd * *w;
                moments(w, g, m, v);
            }
        }
    }
}

/// RMSProp (Hinton): `v = α·v + (1-α)·g²;  w -= lr·g / (√v + ε)`, with optional momentum
/// on the scaled step (`b = μ·b + g/(√v+ε); w -= lr·b`) and L2 weight decay.
///
/// ```
/// use retrograd_nn::optim::{Optim, Optimizer, RmsPropConfig};
/// let mut opt = Optim::new(RmsPropConfig::new(0.01), 1);
/// let mut w = [1.0f32];
/// opt.update(0, &mut w, &[1.0]); // v = 0.01, step = 0.01 · 1/0.1
/// assert!((w[0] - 0.9).abs() < 1e-5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the squared-gradient average.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl RmsPropConfig {
    /// RMSProp with α = 0.99, ε = 1e-8, no momentum, no weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::RmsPropConfig::new(0.01).alpha, 0.99);
    /// ```
    pub fn new(lr: f64) -> Self {
        RmsPropConfig {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// Sets the momentum factor.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::RmsPropConfig::new(0.01).momentum(0.5).momentum, 0.5);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::RmsPropConfig::new(0.01).weight_decay(0.1).weight_decay, 0.1);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl UpdateRule for RmsPropConfig {
    const NAME: &'static str = "rmsprop";
    const SLOTS: &'static [&'static str] = &["square_avg", "momentum"];

    fn lr(&self) -> f64 {
        self.lr
    }

    fn apply<T: FloatElement>(
        &self,
        lr: T,
        _step: u64,
        w: &mut [T],
        grad: &[T],
        state: &mut [Vec<T>],
    ) {
        let (alpha, eps) = (c::<T>(self.alpha), c::<T>(self.eps));
        let (mu, wd) = (c::<T>(self.momentum), c::<T>(self.weight_decay));
        let one = T::one();
        let (v, b) = state.split_at_mut(1);
        let (v, b) = (&mut v[0], &mut b[0]);
        let each = w.iter_mut().zip(grad).zip(v.iter_mut()).zip(b.iter_mut());
        for (((w, &g), v), b) in each {
            let g = g + wd * *w;
            *v = alpha * *v + (one - alpha) * g * g;
            let d = g / (v.sqrt() + eps);
            if mu == T::zero() {
                *w -= lr * d;
            } else {
                *b = mu * *b + d;
                *w -= lr * *b;
            }
        }
    }
}

/// Adagrad (Duchi et al.): `s += g²;  w -= lr·g / (√s + ε)`, with L2 weight decay.
///
/// ```
/// use retrograd_nn::optim::{AdagradConfig, Optim, Optimizer};
/// let mut opt = Optim::new(AdagradConfig::new(0.5), 1);
/// let mut w = [1.0f32];
/// opt.update(0, &mut w, &[2.0]); // s = 4, step = 0.5 · 2/2
/// assert!((w[0] - 0.5).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate.
    pub lr: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl AdagradConfig {
    /// Adagrad with ε = 1e-10 and no weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::AdagradConfig::new(0.1).eps, 1e-10);
    /// ```
    pub fn new(lr: f64) -> Self {
        AdagradConfig {
            lr,
            eps: 1e-10,
            weight_decay: 0.0,
        }
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// assert_eq!(retrograd_nn::optim::AdagradConfig::new(0.1).weight_decay(0.2).weight_decay, 0.2);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl UpdateRule for AdagradConfig {
    const NAME: &'static str = "adagrad";
    const SLOTS: &'static [&'static str] = &["sum"];

    fn lr(&self) -> f64 {
        self.lr
    }

    fn apply<T: FloatElement>(
        &self,
        lr: T,
        _step: u64,
        w: &mut [T],
        grad: &[T],
        state: &mut [Vec<T>],
    ) {
        let (eps, wd) = (c::<T>(self.eps), c::<T>(self.weight_decay));
        let s = &mut state[0];
        for ((w, &g), s) in w.iter_mut().zip(grad).zip(s.iter_mut()) {
            let g = g + wd * *w;
            *s += g * g;
            *w -= lr * g / (s.sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each optimizer against updates worked out by hand (in f64) for a few steps.
    use super::super::{Optim, Optimizer};
    use super::*;

    /// Runs `steps` updates of a 2-element parameter with the gradient `grad(step, w)`.
    fn run<R: UpdateRule>(rule: R, w0: [f32; 2], grads: &[[f32; 2]]) -> [f32; 2] {
        let mut opt = Optim::new(rule, 1);
        let mut w = w0;
        for g in grads {
            opt.update(0, &mut w, g);
        }
        w
    }

    fn close(a: [f32; 2], b: [f64; 2]) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    const G: [[f32; 2]; 3] = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]];

    #[test]
    fn sgd_plain_and_weight_decay() {
        close(
            run(SgdConfig::new(0.1), [1.0, 1.0], &G),
            [1.0 - 0.1 * 0.5, 1.0 - 0.1 * 1.5],
        );
        // w1 = 1 - .1(1 + .5) = .85; w2 = .85 - .1(.5 + .425) = .7575; w3 = .7575 - .1(-1 + .37875)
        let w = run(SgdConfig::new(0.1).weight_decay(0.5), [1.0, 1.0], &G);
        assert!((w[0] as f64 - 0.819625).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn sgd_momentum_by_hand() {
        // first element: g = 1, .5, -1; b = 1, 1.4, .26; w = 1 - .1·(1 + 1.4 + .26)
        let w = run(SgdConfig::new(0.1).momentum(0.9), [1.0, 0.0], &G);
        assert!((w[0] as f64 - (1.0 - 0.266)).abs() < 1e-6, "{w:?}");
        // Nesterov: step = g + μ·b = 1.9, .5 + 1.26 = 1.76, -1 + .234 = -.766
        let w = run(SgdConfig::new(0.1).momentum(0.9).nesterov(), [1.0, 0.0], &G);
        assert!(
            (w[0] as f64 - (1.0 - 0.1 * (1.9 + 1.76 - 0.766))).abs() < 1e-6,
            "{w:?}"
        );
    }

    fn adam_by_hand(lr: f64, wd: f64, decoupled: bool, w0: f64, gs: &[f64]) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut m, mut v, mut w) = (0.0, 0.0, w0);
        for (t, &g0) in gs.iter().enumerate() {
            let t = t as i32 + 1;
            let g = if decoupled { g0 } else { g0 + wd * w };
            if decoupled {
                w -= lr * wd * w;
            }
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            w -= lr * (m / (1.0 - b1.powi(t))) / ((v / (1.0 - b2.powi(t))).sqrt() + eps);
        }
        w
    }

    #[test]
    fn adam_and_adamw_by_hand() {
        let g0: Vec<f64> = G.iter().map(|g| g[0] as f64).collect();
        let g1: Vec<f64> = G.iter().map(|g| g[1] as f64).collect();
        let w = run(AdamConfig::new(0.01), [1.0, -1.0], &G);
        close(
            w,
            [
                adam_by_hand(0.01, 0.0, false, 1.0, &g0),
                adam_by_hand(0.01, 0.0, false, -1.0, &g1),
            ],
        );
        let w = run(AdamConfig::new(0.01).weight_decay(0.1), [1.0, -1.0], &G);
        close(
            w,
            [
                adam_by_hand(0.01, 0.1, false, 1.0, &g0),
                adam_by_hand(0.01, 0.1, false, -1.0, &g1),
            ],
        );
        let w = run(AdamConfig::adamw(0.01, 0.1), [1.0, -1.0], &G);
        close(
            w,
            [
                adam_by_hand(0.01, 0.1, true, 1.0, &g0),
                adam_by_hand(0.01, 0.1, true, -1.0, &g1),
            ],
        );
    }

    #[test]
    fn rmsprop_by_hand() {
        // v = .01, .0199, .029701 for g = 1, .5, -1
        let mut w = 1.0f64;
        let mut v = 0.0f64;
        let mut b = 0.0f64;
        for g in [1.0, 0.5, -1.0] {
            v = 0.99 * v + 0.01 * g * g;
            b = 0.5 * b + g / (v.sqrt() + 1e-8);
            w -= 0.01 * b;
        }
        let got = run(RmsPropConfig::new(0.01).momentum(0.5), [1.0, 0.0], &G);
        assert!((got[0] as f64 - w).abs() < 1e-5, "{got:?} vs {w}");
        let plain = run(RmsPropConfig::new(0.01), [1.0, 0.0], &G[..1]);
        assert!((plain[0] as f64 - 0.9).abs() < 1e-5);
    }

    #[test]
    fn adagrad_by_hand() {
        // s = 1, 1.25, 2.25: w = 1 - .1(1/1 + .5/√1.25 - 1/1.5)
        let w = run(AdagradConfig::new(0.1), [1.0, 0.0], &G);
        let expect = 1.0 - 0.1 * (1.0 + 0.5 / 1.25f64.sqrt() - 1.0 / 1.5);
        assert!((w[0] as f64 - expect).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn groups_have_their_own_settings_and_lr_factor_scales_all() {
        let mut opt = Optim::with_groups(
            vec![
                (vec![0], SgdConfig::new(0.1)),
                (vec![2], SgdConfig::new(1.0)),
            ],
            3,
        )
        .unwrap();
        opt.set_lr_factor(0.5);
        let (mut a, mut b, mut c) = ([1.0f32], [1.0f32], [1.0f32]);
        opt.update(0, &mut a, &[1.0]);
        opt.update(1, &mut b, &[1.0]);
        opt.update(2, &mut c, &[1.0]);
        assert_eq!((a[0], b[0], c[0]), (0.95, 1.0, 0.5));
        assert_eq!(opt.current_lr(2), 0.5);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let mut a = Optim::new(AdamConfig::new(0.01), 1);
        let mut wa = [1.0f32, 2.0];
        a.update(0, &mut wa, &G[0]);
        let mut state = a.state();
        state.buffers.reverse(); // order in a file is not guaranteed
        let mut b = Optim::new(AdamConfig::new(0.01), 1);
        b.load_state(state).unwrap();
        let mut wb = wa;
        a.update(0, &mut wa, &G[1]);
        b.update(0, &mut wb, &G[1]);
        assert_eq!(wa, wb);
        let mut bad = a.state();
        bad.buffers[0].0 = "0.velocity".into();
        assert!(b
            .load_state(bad)
            .unwrap_err()
            .to_string()
            .contains("velocity"));
    }
}
