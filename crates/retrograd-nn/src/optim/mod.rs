//! Optimizers, learning-rate schedules and gradient clipping.
//!
//! Every first-order optimizer is an [`UpdateRule`] — the update of one parameter given
//! its gradient and its state buffers, written once in plain slice arithmetic — driven by
//! [`Optim`], which keeps per-parameter state and parameter groups (each group with its own
//! settings). Parameters are addressed by their index in the model's parameter list, so
//! the same code updates tensors, flat vectors, or anything that lends a `&mut [f32]`.
//! [`Lbfgs`] minimises full-batch problems through a closure.

mod clip;
mod lbfgs;
mod line_search;
mod rules;
mod scaler;
mod schedule;

pub use clip::{clip_grad_norm, clip_grad_value, grad_norm};
pub use lbfgs::{Curvature, Lbfgs, LbfgsProgress, LbfgsReport, LbfgsStatus, LineSearch};
pub use rules::{AdagradConfig, AdamConfig, RmsPropConfig, SgdConfig};
pub use scaler::GradScaler;
pub use schedule::LrSchedule;

use retrograd::tensor::FloatElement;

use crate::{NnError, Result};

/// The update of one parameter: `value -= f(grad, state)`, in place.
///
/// ```
/// use retrograd_nn::optim::{SgdConfig, UpdateRule};
/// let rule = SgdConfig::new(0.5);
/// let mut w = [1.0f32];
/// let mut state = vec![vec![0.0; 1]; SgdConfig::SLOTS.len()];
/// rule.apply(0.5, 1, &mut w, &[2.0], &mut state);
/// assert_eq!(w, [0.0]);
/// ```
pub trait UpdateRule: Clone + std::fmt::Debug {
    /// The optimizer's name (`"sgd"`, `"adam"`, ...).
    const NAME: &'static str;
    /// The names of the per-element state buffers the rule keeps.
    const SLOTS: &'static [&'static str];
    /// The configured learning rate.
    fn lr(&self) -> f64;
    /// Applies one update with learning rate `lr`; `step` counts this parameter's updates
    /// from 1; `state` has one buffer per [`Self::SLOTS`] entry, as long as `value`. The
    /// arithmetic is done in the parameters' own type, `f32` or `f64`.
    fn apply<T: FloatElement>(
        &self,
        lr: T,
        step: u64,
        value: &mut [T],
        grad: &[T],
        state: &mut [Vec<T>],
    );
}

/// Everything an optimizer must remember between steps, for checkpoints.
///
/// ```
/// use retrograd_nn::optim::{Optim, Optimizer, SgdConfig};
/// let mut opt = Optim::new(SgdConfig::new(0.1).momentum(0.9), 1);
/// opt.update(0, &mut [1.0], &[1.0]);
/// let state = opt.state();
/// assert_eq!(state.steps, vec![1]);
/// assert_eq!(state.buffers[0].0, "0.momentum");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState {
    /// Named state buffers, `"{parameter index}.{slot}"`.
    pub buffers: Vec<(String, Vec<f32>)>,
    /// How many updates each parameter has had.
    pub steps: Vec<u64>,
}

impl OptimState {
    /// Checks the state against parameters of `sizes` values each (the model's order): one
    /// step count per parameter, and every buffer `"{index}.{slot}"` of a parameter that
    /// exists and as long as it. A state read from a file must pass this before
    /// [`Optimizer::load_state`], whose updates would otherwise run over mismatched buffers.
    ///
    /// ```
    /// use retrograd_nn::optim::OptimState;
    /// let s = OptimState { buffers: vec![("1.m".into(), vec![0.0; 3])], steps: vec![0, 2] };
    /// assert!(s.check_sizes(&[5, 3]).is_ok());
    /// let e = s.check_sizes(&[5, 4]).unwrap_err().to_string();
    /// assert!(e.contains("`1.m`") && e.contains("4"), "{e}");
    /// ```
    pub fn check_sizes(&self, sizes: &[usize]) -> Result<()> {
        if self.steps.len() != sizes.len() {
            return Err(NnError::invalid(format!(
                "the optimizer state counts steps of {} parameters, the model has {}",
                self.steps.len(),
                sizes.len()
            )));
        }
        for (name, buf) in &self.buffers {
            let size = name
                .split_once('.')
                .and_then(|(i, _)| i.parse::<usize>().ok())
                .and_then(|i| sizes.get(i));
            match size {
                None => {
                    return Err(NnError::invalid(format!(
                        "optimizer buffer `{name}` belongs to no parameter of the model"
                    )))
                }
                Some(&n) if n != buf.len() => {
                    return Err(NnError::invalid(format!(
                        "optimizer buffer `{name}` holds {} values, its parameter {n}",
                        buf.len()
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The object-safe interface of every first-order optimizer, for code that picks one at
/// run time.
///
/// ```
/// use retrograd_nn::optim::{AdamConfig, Optim, Optimizer};
/// let mut opt: Box<dyn Optimizer> = Box::new(Optim::new(AdamConfig::new(0.1), 1));
/// let mut w = [1.0f32];
/// opt.update(0, &mut w, &[3.0]);
/// assert!((w[0] - 0.9).abs() < 1e-6); // Adam's first step moves by lr
/// ```
pub trait Optimizer {
    /// The optimizer's name.
    fn name(&self) -> &'static str;
    /// Updates parameter `index` in place from its gradient.
    fn update(&mut self, index: usize, value: &mut [f32], grad: &[f32]);
    /// Scales every group's configured learning rate (set by a schedule).
    fn set_lr_factor(&mut self, factor: f64);
    /// The learning rate now in force for parameter `index` (0 if it is in no group).
    fn current_lr(&self, index: usize) -> f64;
    /// The state to checkpoint.
    fn state(&self) -> OptimState;
    /// Restores a state saved by [`Optimizer::state`] of the same kind of optimizer.
    fn load_state(&mut self, state: OptimState) -> Result<()>;
}

/// A first-order optimizer over `num_params` parameters in groups, each group with its own
/// settings `R` (learning rate, weight decay, momentum, ...), updating parameters of element
/// type `T` (`f32` by default, the type of [`Optimizer`] and of checkpoints; `f64` through
/// [`Optim::step`]).
///
/// ```
/// use retrograd_nn::optim::{Optim, Optimizer, SgdConfig};
/// // weights with weight decay, biases without
/// let mut opt = Optim::with_groups(
///     vec![(vec![0], SgdConfig::new(0.1).weight_decay(0.5)), (vec![1], SgdConfig::new(0.1))],
///     2,
/// ).unwrap();
/// let (mut w, mut b) = ([2.0f32], [2.0f32]);
/// opt.update(0, &mut w, &[0.0]);
/// opt.update(1, &mut b, &[0.0]);
/// assert_eq!((w[0], b[0]), (1.9, 2.0));
/// ```
#[derive(Clone, Debug)]
pub struct Optim<R: UpdateRule, T: FloatElement = f32> {
    groups: Vec<(Vec<usize>, R)>,
    group_of: Vec<Option<usize>>,
    slots: Vec<Vec<Vec<T>>>,
    steps: Vec<u64>,
    lr_factor: f64,
}

impl<R: UpdateRule> Optim<R> {
    /// One group holding all `num_params` `f32` parameters.
    ///
    /// ```
    /// use retrograd_nn::optim::{Optim, Optimizer, SgdConfig};
    /// let opt = Optim::new(SgdConfig::new(0.01), 3);
    /// assert_eq!(opt.current_lr(2), 0.01);
    /// ```
    pub fn new(config: R, num_params: usize) -> Self {
        Self::new_typed(config, num_params)
    }

    /// Parameter groups of `f32` parameters: `(parameter indices, settings)`. A parameter
    /// in no group is frozen; one in two groups is an error.
    ///
    /// ```
    /// use retrograd_nn::optim::{Optim, SgdConfig};
    /// let c = SgdConfig::new(0.1);
    /// assert!(Optim::with_groups(vec![(vec![0], c.clone()), (vec![0], c)], 1).is_err());
    /// ```
    pub fn with_groups(groups: Vec<(Vec<usize>, R)>, num_params: usize) -> Result<Self> {
        Self::with_groups_typed(groups, num_params)
    }
}

impl<R: UpdateRule, T: FloatElement> Optim<R, T> {
    /// [`Optim::new`] for parameters of element type `T`.
    ///
    /// ```
    /// use retrograd_nn::optim::{AdamConfig, Optim};
    /// let opt = Optim::<_, f64>::new_typed(AdamConfig::new(1e-3), 2);
    /// assert_eq!(opt.groups()[0].0, vec![0, 1]);
    /// ```
    pub fn new_typed(config: R, num_params: usize) -> Self {
        Self::with_groups_typed(vec![((0..num_params).collect(), config)], num_params)
            .expect("a single group is valid")
    }

    /// [`Optim::with_groups`] for parameters of element type `T`.
    ///
    /// ```
    /// use retrograd_nn::optim::{Optim, SgdConfig};
    /// let c = SgdConfig::new(0.1);
    /// assert!(Optim::<_, f64>::with_groups_typed(vec![(vec![3], c)], 2).is_err());
    /// ```
    pub fn with_groups_typed(groups: Vec<(Vec<usize>, R)>, num_params: usize) -> Result<Self> {
        let mut group_of = vec![None; num_params];
        for (g, (indices, _)) in groups.iter().enumerate() {
            for &i in indices {
                match group_of.get_mut(i) {
                    None => {
                        return Err(NnError::invalid(format!(
                            "parameter group {g} names parameter {i}, but there are {num_params}"
                        )))
                    }
                    Some(Some(other)) => {
                        return Err(NnError::invalid(format!(
                            "parameter {i} is in groups {other} and {g}"
                        )))
                    }
                    Some(slot) => *slot = Some(g),
                }
            }
        }
        Ok(Optim {
            groups,
            group_of,
            slots: vec![Vec::new(); num_params],
            steps: vec![0; num_params],
            lr_factor: 1.0,
        })
    }

    /// The groups and their settings.
    ///
    /// ```
    /// use retrograd_nn::optim::{Optim, SgdConfig};
    /// assert_eq!(Optim::new(SgdConfig::new(0.1), 2).groups()[0].0, vec![0, 1]);
    /// ```
    pub fn groups(&self) -> &[(Vec<usize>, R)] {
        &self.groups
    }

    /// Updates parameter `index` in place from its gradient (a parameter in no group stays
    /// as it is). Panics if `value` and `grad` differ in length.
    ///
    /// ```
    /// use retrograd_nn::optim::{AdamConfig, Optim};
    /// let mut opt = Optim::<_, f64>::new_typed(AdamConfig::new(0.1), 1);
    /// let mut w = [1.0f64];
    /// opt.step(0, &mut w, &[3.0]);
    /// assert!((w[0] - 0.9).abs() < 1e-9); // Adam's first step moves by lr (less ε)
    /// ```
    pub fn step(&mut self, index: usize, value: &mut [T], grad: &[T]) {
        assert_eq!(
            value.len(),
            grad.len(),
            "{}: parameter {index} has {} values but its gradient {}",
            R::NAME,
            value.len(),
            grad.len()
        );
        let Some(g) = self.group_of.get(index).copied().flatten() else {
            return;
        };
        let rule = &self.groups[g].1;
        let slots = &mut self.slots[index];
        if slots.is_empty() {
            *slots = vec![vec![T::zero(); value.len()]; R::SLOTS.len()];
        }
        self.steps[index] += 1;
        let lr = T::from_f64(rule.lr() * self.lr_factor);
        rule.apply(lr, self.steps[index], value, grad, slots);
    }
}

impl<R: UpdateRule> Optimizer for Optim<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn update(&mut self, index: usize, value: &mut [f32], grad: &[f32]) {
        self.step(index, value, grad);
    }

    fn set_lr_factor(&mut self, factor: f64) {
        self.lr_factor = factor;
    }

    fn current_lr(&self, index: usize) -> f64 {
        match self.group_of.get(index).copied().flatten() {
            Some(g) => self.groups[g].1.lr() * self.lr_factor,
            None => 0.0,
        }
    }

    fn state(&self) -> OptimState {
        let mut buffers = Vec::new();
        for (i, slots) in self.slots.iter().enumerate() {
            for (name, buf) in R::SLOTS.iter().zip(slots) {
                buffers.push((format!("{i}.{name}"), buf.clone()));
            }
        }
        OptimState {
            buffers,
            steps: self.steps.clone(),
        }
    }

    fn load_state(&mut self, state: OptimState) -> Result<()> {
        if state.steps.len() != self.steps.len() {
            return Err(NnError::invalid(format!(
                "{} state is for {} parameters, the model has {}",
                R::NAME,
                state.steps.len(),
                self.steps.len()
            )));
        }
        let k = R::SLOTS.len();
        let mut slots: Vec<Vec<Option<Vec<f32>>>> = vec![vec![None; k]; self.steps.len()];
        for (name, buf) in state.buffers {
            let (i, s) = name
                .split_once('.')
                .and_then(|(i, s)| Some((i.parse::<usize>().ok()?, s)))
                .and_then(|(i, s)| Some((i, R::SLOTS.iter().position(|&n| n == s)?)))
                .filter(|(i, _)| *i < slots.len())
                .ok_or_else(|| {
                    NnError::invalid(format!("{} state has an unknown buffer `{name}`", R::NAME))
                })?;
            slots[i][s] = Some(buf);
        }
        let mut restored = Vec::with_capacity(slots.len());
        for (i, s) in slots.into_iter().enumerate() {
            let present = s.iter().filter(|b| b.is_some()).count();
            if present != 0 && present != k {
                return Err(NnError::invalid(format!(
                    "{} state of parameter {i} has {present} buffers, expected {k}",
                    R::NAME
                )));
            }
            restored.push(s.into_iter().flatten().collect::<Vec<_>>());
        }
        let slots = restored;
        self.slots = slots;
        self.steps = state.steps;
        Ok(())
    }
}
