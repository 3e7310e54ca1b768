//! Giles' LIBOR market model swaption portfolio: the price and its 160 sensitivities.
//!
//! The benchmark of Giles and Glasserman's "Smoking adjoints" and of Giles' `libor_AD`
//! test code: 80 forward rates of tenor δ = 0.25, simulated to 40 periods by a log-Euler
//! scheme under the terminal measure (one normal draw per period), and a portfolio of 15
//! payer swaptions expiring at period 40. Its inputs are the 80 volatilities λ and the
//! 80 initial forward rates L₀; the Monte Carlo price and its 160 pathwise sensitivities
//! (the 80th volatility is never used: its sensitivity is exactly zero) are computed
//!
//! - by a plain `f64` pricing (the denominator of the ratios),
//! - on the tape: each path recorded after a mark, swept and dropped, its adjoints added
//!   to those of the inputs (`Recorder::sweep_and_reset`),
//! - on the tape with each step's two outputs preaccumulated by forward mode
//!   (`preaccumulate`), one statement each,
//! - by replay: one path recorded once with (λ, L₀, z) as inputs, replayed per path
//!   (`replay::Recording::vjp_with`); the payoff's kink is `max(−100·swapval, 0)`, an
//!   operation, so the recording holds for every path (no guard),
//! - by replay on lanes: the same recording replayed on 8 paths at once in SIMD lanes
//!   (`Recording::vjp_lanes_sum`; `replay_ratio` is the faster of the two replays,
//!   `replay_interpreted_ratio` and `replay_lanes_ratio` each),
//! - and each of these over 2 threads (a tape or workspace per worker, fixed-order sums),
//!
//! from one generic path function, and checked against bumping (central differences with
//! the same random numbers) at a reduced number of paths.
//!
//! Run: `cargo run --release -p retrograd --example libor [-- --json] [--quick] [--paths N]`

use std::convert::Infallible;
use std::time::Instant;

use rayon::prelude::*;
use retrograd::prelude::*;
use retrograd::replay::{self, LaneWorkspace, Recording, Traced, Workspace, LANES};
use retrograd::{preaccumulate, Dual, Error, Tape};

/// Periods simulated: the swaptions' expiry.
pub const NMAT: usize = 40;
/// Forward rates.
pub const N: usize = NMAT + 40;
/// Tenor of the forward rates, in years.
pub const DELTA: f64 = 0.25;
/// Swap lengths of the portfolio, in periods after expiry.
pub const MATURITIES: [usize; 15] = [4, 4, 4, 8, 8, 8, 20, 20, 20, 28, 28, 28, 40, 40, 40];
/// Fixed rates of the portfolio's swaps.
pub const SWAPRATES: [f64; 15] = [
    0.045, 0.05, 0.055, 0.045, 0.05, 0.055, 0.045, 0.05, 0.055, 0.045, 0.05, 0.055, 0.045, 0.05,
    0.055,
];
/// Paths per chunk of the threaded runs (their sums are taken in chunk order).
pub const CHUNK_PATHS: usize = 250;

/// The model's inputs: volatilities λ and initial forward rates L₀ (N each).
#[derive(Clone, Debug)]
pub struct Inputs {
    pub lambda: Vec<f64>,
    pub l0: Vec<f64>,
}

impl Inputs {
    /// Giles' set-up: λᵢ = 0.2, L₀ᵢ = 0.05.
    pub fn giles() -> Self {
        Inputs {
            lambda: vec![0.2; N],
            l0: vec![0.05; N],
        }
    }

    /// λ then L₀, as one vector.
    pub fn flat(&self) -> Vec<f64> {
        [self.lambda.as_slice(), self.l0.as_slice()].concat()
    }
}

/// The price and its sensitivities to λ and L₀.
#[derive(Clone, Debug)]
pub struct Sensitivities {
    pub price: f64,
    pub lambda: Vec<f64>,
    pub l0: Vec<f64>,
}

impl Sensitivities {
    fn zero() -> Self {
        Sensitivities {
            price: 0.0,
            lambda: vec![0.0; N],
            l0: vec![0.0; N],
        }
    }

    /// The sensitivities, λ then L₀ (160).
    pub fn gradient(&self) -> Vec<f64> {
        [self.lambda.as_slice(), self.l0.as_slice()].concat()
    }

    fn add(&mut self, other: &Sensitivities) {
        self.price += other.price;
        add_into(&mut self.lambda, &other.lambda);
        add_into(&mut self.l0, &other.l0);
    }

    fn scale(mut self, s: f64) -> Self {
        self.price *= s;
        self.lambda.iter_mut().for_each(|x| *x *= s);
        self.l0.iter_mut().for_each(|x| *x *= s);
        self
    }
}

fn add_into(total: &mut [f64], part: &[f64]) {
    total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
}

/// The constants of a step, made once per path (on the replay's recording, each
/// `from_f64` is an operation).
pub struct Constants<T> {
    delta: T,
    half: T,
    one: T,
}

impl<T: Real> Default for Constants<T> {
    fn default() -> Self {
        Constants {
            delta: T::from_f64(DELTA),
            half: T::from_f64(0.5),
            one: T::one(),
        }
    }
}

/// One step of the log-Euler scheme for one forward rate, in Giles' scheme multiplied
/// out so that the terms in λ alone are made once per path and the rates are carried as
/// `x = δ·L`: from `u` (δ times Giles' drift sum `v` of the rates before this one), the
/// rate's `x`, its volatility `lam`, `con1 = δ·lam`, `half_con1 = con1/2` and the scaled
/// draw `sqez`, the new `u` and `x`. Giles' `v += con1·L/(1 + δL)` is
/// `u += con1·x/(1 + x)`, and his `exp(con1·v + lam·(sqez − con1/2))` is
/// `exp(lam·(u + sqez − con1/2))`.
#[inline(always)]
pub fn step<T: Real>(
    u: T,
    x: T,
    lam: T,
    con1: T,
    half_con1: T,
    sqez: T,
    c: &Constants<T>,
) -> (T, T) {
    let u = u + con1 * (x / (c.one + x));
    let vrat = (lam * (u + (sqez - half_con1))).exp();
    (u, x * vrat)
}

/// The forward rates at expiry, as `x = δ·L`: `scratch.l` holds δ·L₀ and is evolved over
/// the first NMAT periods by the log-Euler scheme, with normal draws `z` (NMAT of them).
pub fn evolve<T: Real>(lambda: &[T], z: &[T], scratch: &mut Scratch<T>) {
    let c = Constants::default();
    let Scratch {
        l, con1, half_con1, ..
    } = scratch;
    for k in 0..N {
        con1[k] = c.delta * lambda[k];
        half_con1[k] = c.half * con1[k];
    }
    let sqrt_delta = T::from_f64(DELTA.sqrt());
    for (n, &zn) in z[..NMAT].iter().enumerate() {
        let sqez = sqrt_delta * zn;
        let mut u = T::zero();
        // Rate i = n + 1 + k has volatility λ[k].
        for (k, xi) in l[n + 1..].iter_mut().enumerate() {
            (u, *xi) = step(u, *xi, lambda[k], con1[k], half_con1[k], sqez, &c);
        }
    }
}

/// [`evolve`] on the tape with each step preaccumulated: its two outputs recorded as one
/// statement each, holding their partials in (u, x, λ) computed by forward mode.
fn evolve_preaccumulated(lambda: &[Var], z: &[f64], l: &mut [Var]) {
    let c = Constants::default();
    for (n, &zn) in z[..NMAT].iter().enumerate() {
        let sqez = DELTA.sqrt() * zn;
        let mut u = Var::constant(0.0);
        for (k, xi) in l[n + 1..].iter_mut().enumerate() {
            [u, *xi] = preaccumulate([u, *xi, lambda[k]], |[u, x, lam]| {
                let con1 = c.delta * lam;
                let half_con1 = c.half * con1;
                let (u, x) = step(u, x, lam, con1, half_con1, Dual::constant(sqez), &c);
                [u, x]
            });
        }
    }
}

/// `x = δ·L₀`, the scaled rates [`evolve`] starts from.
fn scale_rates<T: Real>(l0: &[T], x: &mut [T]) {
    let delta = T::from_f64(DELTA);
    x.iter_mut().zip(l0).for_each(|(x, &l)| *x = delta * l);
}

/// The discount factors `b` and annuities `s` of the swaps at expiry (periods NMAT..N),
/// from the scaled forward rates `x = δ·L` at expiry.
fn bonds<T: Real>(x: &[T], b: &mut [T], s: &mut [T]) {
    let delta = T::from_f64(DELTA);
    let (mut bn, mut sn) = (T::one(), T::zero());
    for n in NMAT..N {
        bn /= T::one() + x[n];
        sn += delta * bn;
        b[n - NMAT] = bn;
        s[n - NMAT] = sn;
    }
}

/// The value at expiry of swaption `i`'s receiver swap (per unit notional): the payer
/// swaption pays 100 times its negative part.
fn swap_value<T: Real>(b: &[T], s: &[T], i: usize) -> T {
    let m = MATURITIES[i] - 1;
    b[m] + T::from_f64(SWAPRATES[i]) * s[m] - T::one()
}

/// The discounted payoff of one path: the portfolio at expiry, discounted by the forward
/// rates of the first NMAT periods. The kink is `max(−100·swapval, 0)`.
pub fn path_value<T: Real>(lambda: &[T], l0: &[T], z: &[T], scratch: &mut Scratch<T>) -> T {
    scale_rates(l0, &mut scratch.l);
    evolve(lambda, z, scratch);
    portfolio(scratch)
}

/// The discounted portfolio value from the scaled forward rates `δ·L` at expiry in
/// `scratch.l`.
fn portfolio<T: Real>(scratch: &mut Scratch<T>) -> T {
    let Scratch { l, b, s, .. } = scratch;
    bonds(l, b, s);
    let hundred = T::from_f64(100.0);
    let mut v = T::zero();
    for i in 0..MATURITIES.len() {
        v += (-hundred * swap_value(b, s, i)).max(T::zero());
    }
    for x in &l[..NMAT] {
        v /= T::one() + *x;
    }
    v
}

/// Buffers of one path: scaled forward rates, discount factors, annuities, and the terms
/// of the steps in λ alone.
pub struct Scratch<T> {
    l: Vec<T>,
    b: Vec<T>,
    s: Vec<T>,
    con1: Vec<T>,
    half_con1: Vec<T>,
}

impl<T: Real> Default for Scratch<T> {
    fn default() -> Self {
        Scratch {
            l: vec![T::zero(); N],
            b: vec![T::zero(); N - NMAT],
            s: vec![T::zero(); N - NMAT],
            con1: vec![T::zero(); N],
            half_con1: vec![T::zero(); N],
        }
    }
}

/// Standard normal draws, NMAT per path, from a seeded xorshift64* generator (seeded by
/// SplitMix64) and the Box–Muller transform.
pub fn normals(paths: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    state ^= state >> 31;
    if state == 0 {
        state = 0x2545_F491_4F6C_DD1D;
    }
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut out = vec![0.0; paths * NMAT];
    for pair in out.chunks_mut(2) {
        let (u, v) = (uniform(), uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let (sn, cs) = (std::f64::consts::TAU * v).sin_cos();
        pair[0] = r * cs;
        if let Some(second) = pair.get_mut(1) {
            *second = r * sn;
        }
    }
    out
}

/// The Monte Carlo price on plain `f64`: the mean of the path values over the draws `z`
/// (NMAT per path).
pub fn price(inputs: &Inputs, z: &[f64]) -> f64 {
    let mut scratch = Scratch::default();
    let total: f64 = z
        .chunks(NMAT)
        .map(|zp| path_value(&inputs.lambda, &inputs.l0, zp, &mut scratch))
        .sum();
    total / (z.len() / NMAT) as f64
}

/// The sums over the paths of `z` of the path values and of their gradients, on the tape:
/// each path recorded after a mark, swept and dropped.
fn tape_sums(tape: &mut Tape, inputs: &Inputs, z: &[f64], steps: Steps) -> Sensitivities {
    tape.clear();
    tape.record(|rec| {
        let lambda = rec.inputs(&inputs.lambda);
        let l0 = rec.inputs(&inputs.l0);
        let mut adjoints = rec.adjoints();
        let mut scratch = Scratch::default();
        let mut zv = Vec::with_capacity(NMAT);
        let mut total = 0.0;
        for zp in z.chunks(NMAT) {
            let mark = rec.mark();
            let v = tape_path(&lambda, &l0, zp, steps, &mut scratch, &mut zv);
            total += v.value();
            rec.sweep_and_reset(mark, &[(v, 1.0)], &mut adjoints);
        }
        Sensitivities {
            price: total,
            lambda: adjoints.wrt_all(&lambda),
            l0: adjoints.wrt_all(&l0),
        }
    })
}

/// One path's value on the tape; `zv` is scratch space for the draws as constants.
fn tape_path(
    lambda: &[Var],
    l0: &[Var],
    zp: &[f64],
    steps: Steps,
    scratch: &mut Scratch<Var>,
    zv: &mut Vec<Var>,
) -> Var {
    match steps {
        Steps::Operators => {
            zv.clear();
            zv.extend(zp.iter().map(|&x| Var::constant(x)));
            path_value(lambda, l0, zv, scratch)
        }
        Steps::Preaccumulated => {
            scale_rates(l0, &mut scratch.l);
            evolve_preaccumulated(lambda, zp, &mut scratch.l);
            portfolio(scratch)
        }
    }
}

/// How the tape records the steps of the scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steps {
    /// Operation by operation, as the generic code runs on `Var`.
    Operators,
    /// Each step's two outputs as one statement each ([`preaccumulate`]).
    Preaccumulated,
}

/// The statements and operands of one path's recording on the tape (the first path of
/// `z`), its inputs excluded.
pub fn tape_path_size(inputs: &Inputs, z: &[f64], steps: Steps) -> (usize, usize) {
    let mut tape = Tape::new();
    tape.record(|rec| {
        let lambda = rec.inputs(&inputs.lambda);
        let l0 = rec.inputs(&inputs.l0);
        let mut zv = Vec::new();
        tape_path(
            &lambda,
            &l0,
            &z[..NMAT],
            steps,
            &mut Scratch::default(),
            &mut zv,
        );
    });
    let stats = tape.stats();
    (stats.statements - 2 * N, stats.operands)
}

/// The price and sensitivities on the tape, one thread.
pub fn tape_sensitivities(inputs: &Inputs, z: &[f64], steps: Steps) -> Sensitivities {
    let paths = z.len() / NMAT;
    tape_sums(&mut Tape::new(), inputs, z, steps).scale(1.0 / paths as f64)
}

/// One path recorded for replay, with inputs λ, L₀ and z (N + N + NMAT), at the first
/// path of `z`.
pub fn record_path(inputs: &Inputs, z: &[f64]) -> Recording {
    let mut x = inputs.flat();
    x.extend_from_slice(&z[..NMAT]);
    replay::record(&x, |t: &[Traced]| {
        let (lambda, rest) = t.split_at(N);
        let (l0, zp) = rest.split_at(N);
        path_value(lambda, l0, zp, &mut Scratch::default())
    })
}

/// The sums over the paths of `z` of the path values and gradients, by replaying `rec`.
///
/// # Errors
/// As `Recording::vjp_with`: a recording of another shape, or one with a guard that a
/// path answers otherwise (the one of [`record_path`] has none).
fn replay_sums(
    rec: &Recording,
    ws: &mut Workspace,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    let mut x = inputs.flat();
    x.resize(2 * N + NMAT, 0.0);
    let mut grad = vec![0.0; 2 * N + NMAT];
    let mut sums = Sensitivities::zero();
    for zp in z.chunks(NMAT) {
        x[2 * N..].copy_from_slice(zp);
        rec.vjp_with(ws, &x, &[1.0], &mut grad)?;
        sums.price += ws.outputs()[0];
        add_into(&mut sums.lambda, &grad[..N]);
        add_into(&mut sums.l0, &grad[N..2 * N]);
    }
    Ok(sums)
}

/// The price and sensitivities by replaying `rec` ([`record_path`]) per path, one thread.
///
/// # Errors
/// As [`replay_sums`].
pub fn replay_sensitivities(
    rec: &Recording,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    let paths = z.len() / NMAT;
    Ok(replay_sums(rec, &mut Workspace::new(), inputs, z)?.scale(1.0 / paths as f64))
}

/// Paths per lane replay call: a few lane groups, so that the inputs copied per call stay
/// small.
const LANE_BATCH: usize = 8 * LANES;

/// The sums over the paths of `z` of the path values and gradients, by replaying `rec`
/// on [`LANES`] paths at a time (`Recording::vjp_lanes_sum`).
///
/// # Errors
/// As [`replay_sums`].
fn replay_lanes_sums(
    rec: &Recording,
    ws: &mut LaneWorkspace,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    let flat = inputs.flat();
    let mut x = Vec::with_capacity(LANE_BATCH * (2 * N + NMAT));
    let mut grad = vec![0.0; 2 * N + NMAT];
    let seeds = [1.0; LANE_BATCH];
    let mut price = 0.0;
    for zc in z.chunks(LANE_BATCH * NMAT) {
        x.clear();
        for zp in zc.chunks(NMAT) {
            x.extend_from_slice(&flat);
            x.extend_from_slice(zp);
        }
        rec.vjp_lanes_sum(ws, &x, &seeds[..zc.len() / NMAT], &mut grad)?;
        price += ws.outputs().iter().sum::<f64>();
    }
    Ok(Sensitivities {
        price,
        lambda: grad[..N].to_vec(),
        l0: grad[N..2 * N].to_vec(),
    })
}

/// The price and sensitivities by replaying `rec` ([`record_path`]) on [`LANES`] paths at
/// a time, one thread.
///
/// # Errors
/// As [`replay_sums`].
pub fn replay_lanes_sensitivities(
    rec: &Recording,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    let paths = z.len() / NMAT;
    Ok(replay_lanes_sums(rec, &mut LaneWorkspace::new(), inputs, z)?.scale(1.0 / paths as f64))
}

/// The price and sensitivities on the tape over the threads of `pool`: chunks of
/// [`CHUNK_PATHS`] paths, a tape per worker, sums in chunk order (the same result for
/// any number of threads).
pub fn tape_sensitivities_threaded(
    pool: &rayon::ThreadPool,
    inputs: &Inputs,
    z: &[f64],
    steps: Steps,
) -> Sensitivities {
    let sums = over_chunks(pool, z, Tape::new, |tape, zc| {
        Ok::<_, Infallible>(tape_sums(tape, inputs, zc, steps))
    });
    match sums {
        Ok(s) => s,
        Err(never) => match never {},
    }
}

/// The mean over the paths of `z` of the sums `sums` makes of chunks of [`CHUNK_PATHS`]
/// paths on the threads of `pool`, with one state per worker made by `init`; the chunks'
/// sums are added in chunk order (the same result for any number of threads).
fn over_chunks<W, E: Send>(
    pool: &rayon::ThreadPool,
    z: &[f64],
    init: impl Fn() -> W + Send + Sync,
    sums: impl Fn(&mut W, &[f64]) -> Result<Sensitivities, E> + Send + Sync,
) -> Result<Sensitivities, E> {
    let parts: Vec<Sensitivities> = pool.install(|| {
        z.par_chunks(CHUNK_PATHS * NMAT)
            .map_init(init, sums)
            .collect::<Result<_, _>>()
    })?;
    Ok(sum_parts(parts, z.len() / NMAT))
}

/// The price and sensitivities by replay over the threads of `pool`: a workspace per
/// worker, sums in chunk order.
///
/// # Errors
/// As [`replay_sums`].
pub fn replay_sensitivities_threaded(
    pool: &rayon::ThreadPool,
    rec: &Recording,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    over_chunks(pool, z, Workspace::new, |ws, zc| {
        replay_sums(rec, ws, inputs, zc)
    })
}

/// The price and sensitivities by lane replays over the threads of `pool`: a lane
/// workspace per worker, sums in chunk order.
///
/// # Errors
/// As [`replay_sums`].
pub fn replay_lanes_sensitivities_threaded(
    pool: &rayon::ThreadPool,
    rec: &Recording,
    inputs: &Inputs,
    z: &[f64],
) -> Result<Sensitivities, Error> {
    over_chunks(pool, z, LaneWorkspace::new, |ws, zc| {
        replay_lanes_sums(rec, ws, inputs, zc)
    })
}

fn sum_parts(parts: Vec<Sensitivities>, paths: usize) -> Sensitivities {
    let mut total = Sensitivities::zero();
    parts.iter().for_each(|p| total.add(p));
    total.scale(1.0 / paths as f64)
}

/// The exercise decisions (swap value below zero) of every path and swaption.
fn exercised(inputs: &Inputs, z: &[f64]) -> Vec<bool> {
    let mut scratch = Scratch::default();
    let mut out = Vec::with_capacity(z.len() / NMAT * MATURITIES.len());
    for zp in z.chunks(NMAT) {
        scale_rates(&inputs.l0, &mut scratch.l);
        evolve(&inputs.lambda, zp, &mut scratch);
        let Scratch { l, b, s, .. } = &mut scratch;
        bonds(l, b, s);
        out.extend((0..MATURITIES.len()).map(|i| swap_value(b, s, i) < 0.0));
    }
    out
}

/// Sensitivities by bumping: central differences with step `h` (absolute) and the same
/// random numbers, 2·2N + 1 pricings. Also returns how many of the bumped pricings
/// exercise a different set of (path, swaption) pairs than the unbumped one: where none
/// does, every path is smooth over the bump and the difference is accurate to O(h²).
pub fn bumped_sensitivities(inputs: &Inputs, z: &[f64], h: f64) -> (Sensitivities, usize) {
    let base = exercised(inputs, z);
    let x = inputs.flat();
    let mut crossings = 0;
    let mut grad = Vec::with_capacity(2 * N);
    for j in 0..2 * N {
        let mut value = |xj: f64| {
            let mut bumped = x.clone();
            bumped[j] = xj;
            let b = Inputs {
                lambda: bumped[..N].to_vec(),
                l0: bumped[N..].to_vec(),
            };
            if exercised(&b, z) != base {
                crossings += 1;
            }
            price(&b, z)
        };
        let (up, down) = (x[j] + h, x[j] - h);
        grad.push((value(up) - value(down)) / (up - down));
    }
    let s = Sensitivities {
        price: price(inputs, z),
        lambda: grad[..N].to_vec(),
        l0: grad[N..].to_vec(),
    };
    (s, crossings)
}

/// The largest difference between two gradients, relative to the larger of each entry's
/// magnitude and 10⁻⁶ of the largest entry (the unused λ has zero sensitivity).
pub fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(x.abs()).max(1e-6 * scale))
        .fold(0.0, f64::max)
}

/// Step of the bumping check (absolute, on λ = 0.2 and L₀ = 0.05). The rounding error of
/// a difference is about ε·price/h ≈ 3·10⁻¹⁰ (the price is about 46), which is 10⁻⁷ of the
/// smallest sensitivity on the paths checked (about 2.5·10⁻³; the unused λ's is 0); the
/// truncation error is O(h²) relative, negligible; and the step is small enough that no
/// bumped pricing moves a swap value across zero on those paths (counted by
/// [`bumped_sensitivities`]).
pub const BUMP: f64 = 3e-5;
/// Tolerance of the bumping check on [`max_rel_diff`]: where no bump crosses a kink the
/// differences are those of a smooth function, and agree to about 10⁻⁷.
pub const BUMP_TOLERANCE: f64 = 1e-6;

/// Headline figures and checks.
pub struct Report {
    pub paths: usize,
    pub repetitions: usize,
    pub price: f64,
    pub gradient: Vec<f64>,
    pub plain_s: f64,
    pub tape_s: f64,
    pub tape_preaccumulated_s: f64,
    pub replay_s: f64,
    pub tape_threaded_s: f64,
    pub tape_preaccumulated_threaded_s: f64,
    pub replay_threaded_s: f64,
    /// The replay on [`LANES`] paths at a time, one thread and over the threads.
    pub replay_lanes_s: f64,
    pub replay_lanes_threaded_s: f64,
    pub threads: usize,
    pub recording_ops: usize,
    /// Statements and operands of one path on the tape: operation by operation, and with
    /// the steps preaccumulated.
    pub tape_path_size: [(usize, usize); 2],
    pub recording_guards: usize,
    pub bump_paths: usize,
    pub bump_crossings: usize,
    pub max_rel_diff_vs_bumping: f64,
    pub max_rel_diff_tape_vs_replay: f64,
    pub max_rel_diff_tape_vs_lanes: f64,
    pub max_rel_diff_preaccumulated: f64,
    pub max_rel_diff_threaded: f64,
    pub price_diff_plain_vs_tape: f64,
}

impl Report {
    pub fn tape_ratio(&self) -> f64 {
        self.tape_s / self.plain_s
    }
    pub fn tape_preaccumulated_ratio(&self) -> f64 {
        self.tape_preaccumulated_s / self.plain_s
    }
    /// The faster replay: interpreted per path, or on lanes of paths.
    pub fn replay_ratio(&self) -> f64 {
        self.replay_interpreted_ratio()
            .min(self.replay_lanes_ratio())
    }
    /// The replay interpreted one path at a time.
    pub fn replay_interpreted_ratio(&self) -> f64 {
        self.replay_s / self.plain_s
    }
    /// The replay on lanes of [`LANES`] paths.
    pub fn replay_lanes_ratio(&self) -> f64 {
        self.replay_lanes_s / self.plain_s
    }
    pub fn replay_lanes_speedup(&self) -> f64 {
        self.replay_lanes_s / self.replay_lanes_threaded_s
    }
    pub fn tape_speedup(&self) -> f64 {
        self.tape_s / self.tape_threaded_s
    }
    pub fn tape_preaccumulated_speedup(&self) -> f64 {
        self.tape_preaccumulated_s / self.tape_preaccumulated_threaded_s
    }
    pub fn replay_speedup(&self) -> f64 {
        self.replay_s / self.replay_threaded_s
    }

    /// Correctness checks (the speed targets are reported separately: they depend on the
    /// machine and its load).
    pub fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "bumping_agrees",
                self.max_rel_diff_vs_bumping < BUMP_TOLERANCE,
            ),
            ("no_kink_crossed_by_bumps", self.bump_crossings == 0),
            (
                "tape_and_replay_agree",
                self.max_rel_diff_tape_vs_replay < 1e-12,
            ),
            (
                "tape_and_replay_lanes_agree",
                self.max_rel_diff_tape_vs_lanes < 1e-12,
            ),
            (
                "preaccumulated_tape_agrees",
                self.max_rel_diff_preaccumulated < 1e-12,
            ),
            ("threads_agree", self.max_rel_diff_threaded < 1e-12),
            (
                "tape_price_is_plain_price",
                self.price_diff_plain_vs_tape < 1e-12,
            ),
            ("replay_has_no_guards", self.recording_guards == 0),
            (
                "unused_lambda_has_zero_sensitivity",
                self.gradient[N - 1] == 0.0,
            ),
        ]
    }

    /// The targets: tape ≤ 5×, replay ≤ 2× one plain pricing (the faster replay);
    /// ≥ 1.8× on 2 threads.
    pub fn targets(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("tape_ratio_at_most_5", self.tape_ratio() <= 5.0),
            (
                "tape_preaccumulated_ratio_at_most_5",
                self.tape_preaccumulated_ratio() <= 5.0,
            ),
            ("replay_ratio_at_most_2", self.replay_ratio() <= 2.0),
            (
                "tape_speedup_2_threads_at_least_1_8",
                self.tape_speedup() >= 1.8,
            ),
            (
                "tape_preaccumulated_speedup_2_threads_at_least_1_8",
                self.tape_preaccumulated_speedup() >= 1.8,
            ),
            (
                "replay_speedup_2_threads_at_least_1_8",
                self.replay_speedup() >= 1.8,
            ),
        ]
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn seconds<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let start = Instant::now();
    let r = f();
    (start.elapsed().as_secs_f64(), r)
}

/// Prices and differentiates `paths` paths by every method, `repetitions` times
/// interleaved (median times), and checks the sensitivities against bumping at
/// `bump_paths` paths.
///
/// # Errors
/// [`Error::InvalidInput`] for no paths, no repetitions, more bumped paths than paths or
/// a thread pool that cannot be built; the replay's errors (none for this recording).
pub fn run(
    paths: usize,
    repetitions: usize,
    bump_paths: usize,
    threads: usize,
) -> Result<Report, Error> {
    if paths == 0 || repetitions == 0 || bump_paths == 0 || bump_paths > paths {
        return Err(Error::InvalidInput(format!(
            "libor: {paths} paths, {repetitions} repetitions and {bump_paths} bumped paths; \
             each must be at least 1, and the bumped paths at most the paths"
        )));
    }
    let inputs = Inputs::giles();
    let z = normals(paths, 2026);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidInput(format!("libor: a pool of {threads} threads: {e}")))?;
    let rec = record_path(&inputs, &z);
    let mut times = vec![Vec::new(); 9];
    let mut results = None;
    for _ in 0..repetitions {
        use Steps::*;
        let (t0, plain) = seconds(|| price(&inputs, &z));
        let (t1, tape) = seconds(|| tape_sensitivities(&inputs, &z, Operators));
        let (t2, pre) = seconds(|| tape_sensitivities(&inputs, &z, Preaccumulated));
        let (t3, replayed) = seconds(|| replay_sensitivities(&rec, &inputs, &z));
        let replayed = replayed?;
        let (t4, tape_mt) = seconds(|| tape_sensitivities_threaded(&pool, &inputs, &z, Operators));
        let (t5, pre_mt) =
            seconds(|| tape_sensitivities_threaded(&pool, &inputs, &z, Preaccumulated));
        let (t6, replay_mt) = seconds(|| replay_sensitivities_threaded(&pool, &rec, &inputs, &z));
        let replay_mt = replay_mt?;
        let (t7, lanes) = seconds(|| replay_lanes_sensitivities(&rec, &inputs, &z));
        let lanes = lanes?;
        let (t8, lanes_mt) =
            seconds(|| replay_lanes_sensitivities_threaded(&pool, &rec, &inputs, &z));
        let lanes_mt = lanes_mt?;
        for (k, t) in [t0, t1, t2, t3, t4, t5, t6, t7, t8].into_iter().enumerate() {
            times[k].push(t);
        }
        results = Some((
            plain,
            tape,
            pre,
            replayed,
            lanes,
            [tape_mt, pre_mt, replay_mt, lanes_mt],
        ));
    }
    let (plain, tape, pre, replayed, lanes, threaded) =
        results.ok_or_else(|| Error::InvalidInput("libor: no repetitions".into()))?;
    let zb = &z[..bump_paths * NMAT];
    let (bumped, bump_crossings) = bumped_sensitivities(&inputs, zb, BUMP);
    let at_bump_paths = tape_sensitivities(&inputs, zb, Steps::Operators);
    let g = tape.gradient();
    let times: Vec<f64> = times.into_iter().map(median).collect();
    Ok(Report {
        paths,
        repetitions,
        price: tape.price,
        plain_s: times[0],
        tape_s: times[1],
        tape_preaccumulated_s: times[2],
        replay_s: times[3],
        tape_threaded_s: times[4],
        tape_preaccumulated_threaded_s: times[5],
        replay_threaded_s: times[6],
        replay_lanes_s: times[7],
        replay_lanes_threaded_s: times[8],
        threads,
        recording_ops: rec.len(),
        tape_path_size: [
            tape_path_size(&inputs, &z, Steps::Operators),
            tape_path_size(&inputs, &z, Steps::Preaccumulated),
        ],
        recording_guards: rec.guards(),
        bump_paths,
        bump_crossings,
        max_rel_diff_vs_bumping: max_rel_diff(&at_bump_paths.gradient(), &bumped.gradient()),
        max_rel_diff_tape_vs_replay: max_rel_diff(&g, &replayed.gradient()),
        max_rel_diff_tape_vs_lanes: max_rel_diff(&g, &lanes.gradient()),
        max_rel_diff_preaccumulated: max_rel_diff(&pre.gradient(), &g),
        max_rel_diff_threaded: threaded
            .iter()
            .map(|t| max_rel_diff(&t.gradient(), &g))
            .fold(0.0, f64::max),
        price_diff_plain_vs_tape: ((plain - tape.price) / plain).abs(),
        gradient: g,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let paths = args
        .iter()
        .position(|a| a == "--paths")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let (paths, repetitions, bump_paths) = if quick {
        (paths.unwrap_or(500), 1, 50)
    } else {
        (paths.unwrap_or(10_000), 5, 200)
    };
    let result = run(paths, repetitions, bump_paths.min(paths), 2);
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let checks = r.checks();
    let targets = r.targets();
    let as_map = |v: &[(&'static str, bool)]| -> serde_json::Map<String, serde_json::Value> {
        v.iter()
            .map(|(k, b)| (k.to_string(), (*b).into()))
            .collect()
    };
    if json {
        let out = serde_json::json!({
            "paths": r.paths,
            "sensitivities": 1 + r.gradient.len(),
            "price": r.price,
            "lambda_sensitivities": &r.gradient[..N],
            "l0_sensitivities": &r.gradient[N..],
            "tape_ratio": r.tape_ratio(),
            "tape_preaccumulated_ratio": r.tape_preaccumulated_ratio(),
            "replay_ratio": r.replay_ratio(),
            "replay_interpreted_ratio": r.replay_interpreted_ratio(),
            "replay_lanes_ratio": r.replay_lanes_ratio(),
            "lanes": LANES,
            "simd": format!("{:?}", replay::Simd::detect()),
            "threads": r.threads,
            "tape_speedup_threads": r.tape_speedup(),
            "tape_preaccumulated_speedup_threads": r.tape_preaccumulated_speedup(),
            "replay_speedup_threads": r.replay_speedup(),
            "replay_lanes_speedup_threads": r.replay_lanes_speedup(),
            "plain_seconds": r.plain_s,
            "tape_seconds": r.tape_s,
            "tape_preaccumulated_seconds": r.tape_preaccumulated_s,
            "replay_seconds": r.replay_s,
            "tape_threaded_seconds": r.tape_threaded_s,
            "tape_preaccumulated_threaded_seconds": r.tape_preaccumulated_threaded_s,
            "replay_threaded_seconds": r.replay_threaded_s,
            "replay_lanes_seconds": r.replay_lanes_s,
            "replay_lanes_threaded_seconds": r.replay_lanes_threaded_s,
            "repetitions": r.repetitions,
            "recording_operations": r.recording_ops,
            "tape_statements_per_path": r.tape_path_size[0].0,
            "tape_preaccumulated_statements_per_path": r.tape_path_size[1].0,
            "bump_paths": r.bump_paths,
            "max_rel_diff_vs_bumping": r.max_rel_diff_vs_bumping,
            "max_rel_diff_tape_vs_replay": r.max_rel_diff_tape_vs_replay,
            "max_rel_diff_tape_vs_replay_lanes": r.max_rel_diff_tape_vs_lanes,
            "checks": as_map(&checks),
            "targets": as_map(&targets),
        });
        println!("{out}");
    } else {
        println!(
            "LIBOR market model, {} forward rates, {} swaptions, {} paths: price {:.8}, {} sensitivities",
            N,
            MATURITIES.len(),
            r.paths,
            r.price,
            1 + r.gradient.len()
        );
        println!(
            "times (median of {}): plain f64 pricing {:.4} s",
            r.repetitions, r.plain_s
        );
        println!(
            "{:<32} {:>10} {:>8}  {:>10} {:>8}",
            "price + all sensitivities", "1 thread", "ratio", "threads", "speedup"
        );
        for (name, t1, tn) in [
            ("tape (a path per mark)", r.tape_s, r.tape_threaded_s),
            (
                "tape, steps preaccumulated",
                r.tape_preaccumulated_s,
                r.tape_preaccumulated_threaded_s,
            ),
            ("replay (one recording)", r.replay_s, r.replay_threaded_s),
            (
                "replay, lanes of paths",
                r.replay_lanes_s,
                r.replay_lanes_threaded_s,
            ),
        ] {
            println!(
                "{name:<32} {t1:>9.4}s {:>7.2}x  {tn:>9.4}s {:>7.2}x",
                t1 / r.plain_s,
                t1 / tn
            );
        }
        println!(
            "one path: {} statements ({} operands) on the tape, {} with the steps \
             preaccumulated ({} operands); the replay's recording: {} operations, {} guards",
            r.tape_path_size[0].0,
            r.tape_path_size[0].1,
            r.tape_path_size[1].0,
            r.tape_path_size[1].1,
            r.recording_ops,
            r.recording_guards
        );
        println!("\nsensitivities (first five and the last of each):");
        for (name, range) in [("lambda", 0..N), ("L0", N..2 * N)] {
            let g = &r.gradient[range];
            println!(
                "  {name:<6} {:?} ... {:.6e}",
                g[..5]
                    .iter()
                    .map(|x| format!("{x:.6e}"))
                    .collect::<Vec<_>>(),
                g[N - 1]
            );
        }
        println!(
            "vs bumping ({} paths, h = {:e}, {} kink crossings): max rel. diff {:.2e}",
            r.bump_paths, BUMP, r.bump_crossings, r.max_rel_diff_vs_bumping
        );
        for (name, ok) in &checks {
            println!("check {name}: {}", if *ok { "pass" } else { "FAIL" });
        }
        for (name, ok) in &targets {
            println!("target {name}: {}", if *ok { "met" } else { "missed" });
        }
    }
    if checks.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
}
