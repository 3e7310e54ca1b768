//! Replays of one recording at many input sets, [`LANES`] at a time in SIMD lanes: Monte
//! Carlo paths, ensemble members, batches of states.

use super::kernel::{self, Lane, Simd, LANES};
use super::Recording;
use crate::error::check_len;
use crate::Error;

/// The buffers of lane replays ([`Recording::vjp_lanes`] and friends): values and
/// adjoints of [`LANES`] input sets per node, kept between calls so that they
/// allocate nothing once grown, and the instruction set the replays run on.
///
/// ```
/// use retrograd::replay::{self, LaneWorkspace, Simd};
/// let rec = replay::record(&[1.0], |x| x[0] * x[0]);
/// let mut ws = LaneWorkspace::new();
/// assert_eq!(ws.simd(), Simd::detect());
/// rec.eval_lanes(&mut ws, &[1.0, 2.0, 3.0]).unwrap();
/// assert_eq!(ws.outputs(), &[1.0, 4.0, 9.0]);
/// ```
#[derive(Clone, Debug)]
pub struct LaneWorkspace {
    simd: Simd,
    values: Vec<Lane>,
    /// All zeros between replays: the sweep resets what it reads.
    adjoints: Vec<Lane>,
    outputs: Vec<f64>,
}

impl Default for LaneWorkspace {
    fn default() -> Self {
        Self::new()
    }
}

/// The output seeds of a lane replay.
enum Seeds<'a> {
    /// One per output of each input set, set after set.
    Given(&'a [f64]),
    /// 1 for the one output of every set.
    One,
}

/// Where the gradients of a lane replay go.
enum Gradients<'a> {
    /// One gradient per input set, set after set.
    PerSet(&'a mut [f64]),
    /// Added up over the sets, into one gradient.
    Sum(&'a mut [f64]),
}

impl LaneWorkspace {
    /// Empty buffers, replays compiled for the widest instruction set of this processor
    /// ([`Simd::detect`]).
    ///
    /// ```
    /// let ws = retrograd::replay::LaneWorkspace::new();
    /// assert!(ws.outputs().is_empty());
    /// ```
    pub fn new() -> Self {
        LaneWorkspace {
            simd: Simd::detect(),
            values: Vec::new(),
            adjoints: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Empty buffers, replays compiled for `simd` (to compare instruction sets, or to run
    /// the portable code on purpose).
    ///
    /// # Errors
    /// [`Error::Unsupported`] if this processor lacks `simd`'s instructions.
    ///
    /// ```
    /// use retrograd::replay::{LaneWorkspace, Simd};
    /// let ws = LaneWorkspace::with_simd(Simd::Portable).unwrap();
    /// assert_eq!(ws.simd(), Simd::Portable);
    /// ```
    pub fn with_simd(simd: Simd) -> Result<Self, Error> {
        if !simd.is_available() {
            return Err(Error::Unsupported(format!(
                "replay lanes: this processor cannot run code compiled for {simd:?}"
            )));
        }
        Ok(LaneWorkspace {
            simd,
            ..Self::new()
        })
    }

    /// The instruction set the replays run on.
    ///
    /// ```
    /// let ws = retrograd::replay::LaneWorkspace::new();
    /// assert!(ws.simd().is_available());
    /// ```
    pub fn simd(&self) -> Simd {
        self.simd
    }

    /// The outputs of the last lane replay: each input set's outputs, set after set.
    ///
    /// ```
    /// use retrograd::replay::{self, LaneWorkspace};
    /// let rec = replay::record_many(&[1.0], |x| vec![x[0] + 1.0, x[0] * 2.0]);
    /// let mut ws = LaneWorkspace::new();
    /// rec.eval_lanes(&mut ws, &[1.0, 5.0]).unwrap();
    /// assert_eq!(ws.outputs(), &[2.0, 2.0, 6.0, 10.0]);
    /// ```
    pub fn outputs(&self) -> &[f64] {
        &self.outputs
    }
}

impl Recording {
    /// The outputs at many input sets, [`LANES`] at a time: `x` holds the sets one after
    /// another ([`inputs`](Recording::inputs) values each); the outputs land in `ws`
    /// ([`LaneWorkspace::outputs`]), set after set. Bitwise the values of
    /// [`eval_with`](Recording::eval_with) at each set, except that `exp` is computed by a
    /// vectorised function within 1 ulp of the C library's.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` is not a whole number of input sets;
    /// [`Error::InvalidInput`] for a recording without inputs; [`Error::GuardChanged`]
    /// if a set answers a guard otherwise than when recorded, naming the set (its index
    /// in `x`) and the guarded line (the outputs of earlier sets are in `ws`; replay that
    /// set with [`Replayed`](super::Replayed), which records again).
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, LaneWorkspace};
    /// let rec = replay::record(&[1.0, 1.0], |x| x[0] * x[1].exp());
    /// let mut ws = LaneWorkspace::new();
    /// let sets: Vec<f64> = (0..10).flat_map(|k| [k as f64, 0.0]).collect();
    /// rec.eval_lanes(&mut ws, &sets).unwrap();
    /// assert_eq!(ws.outputs()[9], 9.0);
    /// ```
    pub fn eval_lanes(&self, ws: &mut LaneWorkspace, x: &[f64]) -> Result<(), Error> {
        self.run_lanes(ws, x, None)
    }

    /// The vector–Jacobian products `seedᵀ J` at many input sets, [`LANES`] at a time:
    /// `x` holds the sets one after another, `seeds` one seed per output for each set,
    /// and `grads` receives one gradient per set (one value per input), set after set;
    /// the outputs land in `ws`. The gradients are those of
    /// [`vjp_with`](Recording::vjp_with) at each set (bitwise, but for the vectorised `exp`:
    /// see [`eval_lanes`](Recording::eval_lanes)).
    ///
    /// # Errors
    /// As [`eval_lanes`](Recording::eval_lanes), and [`Error::LengthMismatch`] if
    /// `seeds` or `grads` do not match the number of sets.
    ///
    /// ```
    /// use retrograd::replay::{self, LaneWorkspace};
    /// let rec = replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
    /// let mut ws = LaneWorkspace::new();
    /// let mut grads = [0.0; 4];
    /// rec.vjp_lanes(&mut ws, &[2.0, 3.0, 4.0, 5.0], &[1.0, 10.0], &mut grads).unwrap();
    /// assert_eq!(ws.outputs(), &[6.0, 20.0]);
    /// assert_eq!(grads, [3.0, 2.0, 50.0, 40.0]);
    /// ```
    pub fn vjp_lanes(
        &self,
        ws: &mut LaneWorkspace,
        x: &[f64],
        seeds: &[f64],
        grads: &mut [f64],
    ) -> Result<(), Error> {
        self.run_lanes(ws, x, Some((Seeds::Given(seeds), Gradients::PerSet(grads))))
    }

    /// As [`vjp_lanes`](Recording::vjp_lanes), with the gradients of all sets added up
    /// into `sum` (one value per input; added to what it holds): the pathwise
    /// sensitivities of a Monte Carlo estimate, with no gradient stored per path.
    ///
    /// # Errors
    /// As [`vjp_lanes`](Recording::vjp_lanes).
    ///
    /// ```
    /// use retrograd::replay::{self, LaneWorkspace};
    /// let rec = replay::record(&[1.0, 1.0], |x| x[0] * x[1]);
    /// let mut ws = LaneWorkspace::new();
    /// let mut sum = [0.0; 2];
    /// rec.vjp_lanes_sum(&mut ws, &[2.0, 3.0, 4.0, 5.0], &[1.0, 1.0], &mut sum).unwrap();
    /// assert_eq!(sum, [3.0 + 5.0, 2.0 + 4.0]);
    /// ```
    pub fn vjp_lanes_sum(
        &self,
        ws: &mut LaneWorkspace,
        x: &[f64],
        seeds: &[f64],
        sum: &mut [f64],
    ) -> Result<(), Error> {
        self.run_lanes(ws, x, Some((Seeds::Given(seeds), Gradients::Sum(sum))))
    }

    /// The values (in `ws`) and gradients of a one-output recording at many input sets,
    /// [`LANES`] at a time: `grads` receives one gradient per set, set after set.
    ///
    /// # Errors
    /// As [`vjp_lanes`](Recording::vjp_lanes), and [`Error::LengthMismatch`] if the
    /// recording has several outputs.
    ///
    /// ```
    /// use retrograd::prelude::*;
    /// use retrograd::replay::{self, LaneWorkspace};
    /// let rec = replay::record(&[1.0], |x| x[0].sin());
    /// let mut ws = LaneWorkspace::new();
    /// let xs = [0.0, 1.0, 2.0];
    /// let mut grads = [0.0; 3];
    /// rec.gradient_lanes(&mut ws, &xs, &mut grads).unwrap();
    /// assert_eq!(grads, [1.0, 1.0_f64.cos(), 2.0_f64.cos()]);
    /// ```
    pub fn gradient_lanes(
        &self,
        ws: &mut LaneWorkspace,
        x: &[f64],
        grads: &mut [f64],
    ) -> Result<(), Error> {
        self.one_output("gradient_lanes")?;
        self.run_lanes(ws, x, Some((Seeds::One, Gradients::PerSet(grads))))
    }

    /// The number of input sets in `x`.
    fn sets(&self, x: &[f64]) -> Result<usize, Error> {
        let n = self.inputs();
        if n == 0 {
            return Err(Error::InvalidInput(
                "replay lanes: the recording has no inputs, so no input sets to replay".into(),
            ));
        }
        check_len(
            || format!("replay lanes: the input sets ({n} values each)"),
            x.len().div_ceil(n) * n,
            x.len(),
        )?;
        Ok(x.len() / n)
    }

    /// Replays the sets of `x` a lane group at a time: forward (with partials when
    /// `seeds` are given), guards, outputs, and the sweep into the gradients.
    fn run_lanes(
        &self,
        ws: &mut LaneWorkspace,
        x: &[f64],
        mut gradients: Option<(Seeds, Gradients)>,
    ) -> Result<(), Error> {
        let p = &self.program;
        let (n, m) = (p.inputs, p.outputs.len());
        let sets = self.sets(x)?;
        if let Some(c) = p.customs.first() {
            return Err(Error::Unsupported(format!(
                "replay lanes: the recording holds a user-defined operation (recorded at {}), \
                 which runs one input set at a time; replay it with `vjp_with`",
                c.location
            )));
        }
        if let Some((seeds, grads)) = &gradients {
            if let Seeds::Given(seeds) = seeds {
                check_len(
                    || "replay lanes: the seeds (one per output of each input set)".into(),
                    sets * m,
                    seeds.len(),
                )?;
            }
            let (what, expected, found) = match grads {
                Gradients::PerSet(g) => ("one gradient per input set", sets * n, g.len()),
                Gradients::Sum(g) => ("the summed gradient (one per input)", n, g.len()),
            };
            check_len(|| format!("replay lanes: {what}"), expected, found)?;
        }
        let LaneWorkspace {
            simd,
            values,
            adjoints,
            outputs,
        } = ws;
        values.resize(p.ops.len(), Lane::ZERO);
        if gradients.is_some() {
            adjoints.resize(p.ops.len(), Lane::ZERO);
        }
        outputs.clear();
        outputs.resize(sets * m, 0.0);
        for first in (0..sets).step_by(LANES) {
            let active = LANES.min(sets - first);
            // Spare lanes of the last group repeat its first set; nothing is read from them.
            for (k, v) in values[..n].iter_mut().enumerate() {
                for l in 0..LANES {
                    let set = first + if l < active { l } else { 0 };
                    v.0[l] = x[set * n + k];
                }
            }
            kernel::forward(*simd, p, values);
            for g in &p.guards {
                for l in 0..active {
                    let [a, b] = g.args.map(|i| values[i as usize].0[l]);
                    if g.test.answer(a, b) != g.answer {
                        return Err(Error::GuardChanged(format!(
                            "input set {}: {} at {} answered otherwise than when recorded; \
                             record the function again at these inputs",
                            first + l,
                            g.test.describe(),
                            g.location
                        )));
                    }
                }
            }
            for (j, &o) in p.outputs.iter().enumerate() {
                for l in 0..active {
                    outputs[(first + l) * m + j] = values[o as usize].0[l];
                }
            }
            let Some((seeds, grads)) = &mut gradients else {
                continue;
            };
            for (j, &o) in p.outputs.iter().enumerate() {
                for l in 0..active {
                    adjoints[o as usize].0[l] += match seeds {
                        Seeds::Given(s) => s[(first + l) * m + j],
                        Seeds::One => 1.0,
                    };
                }
            }
            kernel::reverse(*simd, p, values, adjoints);
            for (k, a) in adjoints[..n].iter_mut().enumerate() {
                for l in 0..active {
                    match grads {
                        Gradients::PerSet(g) => g[(first + l) * n + k] = a.0[l],
                        Gradients::Sum(g) => g[k] += a.0[l],
                    }
                }
                *a = Lane::ZERO;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{record, Recording, Traced, Workspace};
    use super::*;
    use crate::scalar::ops::operator_table;
    use crate::scalar::rules::{binary_table, real_unary_table, unary_table};
    use crate::Real;
    use num_traits::Float;
    use proptest::prelude::*;

    /// A function of two inputs applying one operation.
    type OneOp = (&'static str, fn(&[Traced]) -> Traced);

    macro_rules! unary_cases {
        ([$tr:ident] $($name:ident: |$x:ident, $y:ident| $v:expr => $d:expr;)*) => {
            vec![$((stringify!($name), (|x: &[Traced]| $tr::$name(x[0])) as fn(&[Traced]) -> Traced),)*]
        };
    }
    macro_rules! binary_cases {
        ([] $($name:ident: |$a:ident, $b:ident, $y:ident| $v:expr => $d:expr;)*) => {
            vec![$((stringify!($name), (|x: &[Traced]| x[0].$name(x[1])) as fn(&[Traced]) -> Traced),)*]
        };
    }
    macro_rules! operator_cases {
        ([] $($Op:ident, $op:ident, $OpAssign:ident, $op_assign:ident:
           |$a:ident, $b:ident, $y:ident| $v:expr => $d:expr;)*) => {
            vec![$((stringify!($op), (|x: &[Traced]| std::ops::$Op::$op(x[0], x[1])) as fn(&[Traced]) -> Traced),)*]
        };
    }

    /// Every operation a recording can hold: the rule tables', and the rest by hand.
    fn every_operation() -> Vec<OneOp> {
        let mut ops: Vec<OneOp> = unary_table!(unary_cases, Float);
        ops.extend(real_unary_table!(unary_cases, Real));
        ops.extend(binary_table!(binary_cases));
        ops.extend(operator_table!(operator_cases));
        ops.extend([
            ("neg", (|x: &[Traced]| -x[0]) as fn(&[Traced]) -> Traced),
            ("powi(2)", |x| x[0].powi(2)),
            ("powi(3)", |x| x[0].powi(3)),
            ("powi(0)", |x| x[0].powi(0)),
            ("powi(-2)", |x| x[0].powi(-2)),
            ("mul_add", |x| x[0].mul_add(x[1], x[0])),
            ("constant", |x| x[0] * 2.5 + 1.0),
        ]);
        ops
    }

    /// The bits of a value, every NaN the same.
    fn bits(x: f64) -> u64 {
        if x.is_nan() {
            f64::NAN.to_bits()
        } else {
            x.to_bits()
        }
    }

    /// Equal bitwise, or close where the operation computes `exp` (the vectorised one,
    /// within 1 ulp of the C library's; its derivative is its value): within 2 ulp, or,
    /// when other operations follow it (`composed`), 1e-13 relative.
    fn agree(op: &str, lanes: f64, scalar: f64, composed: bool) -> bool {
        let close = op == "exp"
            && (lanes.to_bits().abs_diff(scalar.to_bits()) <= 2
                || composed && (lanes - scalar).abs() <= 1e-13 * scalar.abs());
        bits(lanes) == bits(scalar) || close
    }

    /// The replays at `sets` by every instruction set, against the scalar replay at each;
    /// `composed` when the operation `name` is followed by others in `rec` (see [`agree`]).
    fn check_against_scalar(name: &str, rec: &Recording, sets: &[[f64; 2]], composed: bool) {
        let x: Vec<f64> = sets.iter().flatten().copied().collect();
        for simd in [Simd::Avx512, Simd::Avx2, Simd::Portable] {
            let Ok(mut lanes) = LaneWorkspace::with_simd(simd) else {
                continue;
            };
            let mut grads = vec![f64::NAN; x.len()];
            // Every third set's seed is zero: its lane is skipped by the sweep.
            let seeds: Vec<f64> = (0..sets.len())
                .map(|k| if k % 3 == 2 { 0.0 } else { 1.0 + k as f64 })
                .collect();
            rec.vjp_lanes(&mut lanes, &x, &seeds, &mut grads).unwrap();
            let mut ws = Workspace::new();
            let mut g = [0.0; 2];
            for (k, set) in sets.iter().enumerate() {
                rec.vjp_with(&mut ws, set, &[seeds[k]], &mut g).unwrap();
                let (y, gl) = (lanes.outputs()[k], &grads[2 * k..2 * k + 2]);
                assert!(
                    agree(name, y, ws.outputs()[0], composed),
                    "{name} ({simd:?}) at {set:?}: value {y:e} in lanes, {:e} replayed",
                    ws.outputs()[0]
                );
                for i in 0..2 {
                    assert!(
                        agree(name, gl[i], g[i], composed),
                        "{name} ({simd:?}) at {set:?}: ∂/∂x{i} {:e} in lanes, {:e} replayed",
                        gl[i],
                        g[i]
                    );
                }
            }
            // The values alone are those of the gradient's pass.
            let with_gradient = lanes.outputs().to_vec();
            rec.eval_lanes(&mut lanes, &x).unwrap();
            assert_eq!(lanes.outputs().len(), with_gradient.len());
            for (a, b) in lanes.outputs().iter().zip(&with_gradient) {
                assert_eq!(bits(*a), bits(*b), "{name} ({simd:?})");
            }
        }
    }

    /// Domain edges: zeros of both signs, ±1, infinities and NaN (NaN and infinite
    /// values and partials must come out as the scalar replay's).
    const EDGES: [f64; 9] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-310,
        710.0,
    ];

    #[test]
    fn every_operation_at_domain_edges_as_the_scalar_replay() {
        let mut sets = vec![];
        for a in EDGES {
            for b in EDGES {
                sets.push([a, b]);
            }
        }
        for (name, f) in every_operation() {
            check_against_scalar(name, &record(&[0.5, 0.25], f), &sets, false);
        }
    }

    /// Which nodes get their adjoint handed over by the next node: only one whose single
    /// use is the next node, not an input, an output, or a node used twice.
    #[test]
    fn handovers_are_single_uses_by_the_next_node() {
        // Nodes: 0, 1 inputs; 2 = x0·x1 (reads inputs); 3 = sin(2); 4 = exp(3);
        // 5 = 4·4 (node 4 used twice); 6 = 5 + x1.
        let rec = record(&[0.5, 0.25], |x| {
            let e = (x[0] * x[1]).sin().exp();
            e * e + x[1]
        });
        assert_eq!(rec.program.handover, [0, 0, 0, 1, 1, 0, 1]);
        // Node 3 is also an output: it keeps its adjoint in memory.
        let rec = super::super::record_many(&[0.5, 0.25], |x| {
            let s = (x[0] * x[1]).sin();
            vec![s.exp(), s]
        });
        assert_eq!(rec.program.handover, [0, 0, 0, 1, 0]);
        // Node 3 is read by node 4 and again by node 5: node 4 does not take it over.
        let rec = record(&[0.5, 0.25], |x| {
            let s = (x[0] * x[1]).sin();
            s.exp() + s
        });
        assert_eq!(rec.program.handover, [0, 0, 0, 1, 0, 1]);
    }

    /// Every operation with an argument handed over from the node before it (in either
    /// position, and the result handed over to the next), as the scalar replay.
    #[test]
    fn handed_over_adjoints_as_the_scalar_replay() {
        let mut sets = vec![];
        for a in [-1.5, -0.3, 0.0, 0.4, 2.0] {
            for b in [-0.7, 0.0, 0.6, 1.9] {
                sets.push([a, b]);
            }
        }
        for (name, f) in every_operation() {
            let first = record(&[0.5, 0.25], |x| f(&[x[0].sin(), x[1]]).cos());
            let second = record(&[0.5, 0.25], |x| {
                let b = x[1].sin();
                f(&[x[0], b]).cos()
            });
            check_against_scalar(name, &first, &sets, true);
            check_against_scalar(name, &second, &sets, true);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Every operation, replayed in lanes at 1 to 19 random input sets (tail groups
        /// included), agrees with the scalar replay set by set.
        #[test]
        fn every_operation_in_lanes_as_the_scalar_replay(
            sets in prop::collection::vec(prop::array::uniform2(-3.0f64..3.0), 1..20),
        ) {
            for (name, f) in every_operation() {
                check_against_scalar(name, &record(&[0.5, 0.25], f), &sets, false);
            }
        }
    }
}
