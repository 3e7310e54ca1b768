//! Elementary functions that vectorise, and running loops with wider vectors.
//!
//! `std`'s `f32::exp` and friends call the C library once per element, which no compiler can
//! vectorise. The `f32` versions here are branch-free (selects instead of branches, the
//! exponent built with integer arithmetic on the bits), so a loop over a slice compiles to
//! SIMD code; they are Cephes' single-precision algorithms (range reduction plus a minimax
//! polynomial): on a million sample points over the whole range (subnormal results,
//! infinities and NaN included) the tests below assert errors of at most 1 ulp (exp, ln)
//! and 1.5 ulp (tanh) against the exact value.
//! `f64` keeps `std`'s `exp` and `ln`; its `tanh` is written the same way (a degree-13
//! polynomial for `e^r`, a degree-16 one for `e^y − 1` near zero), within 4 ulp of the C
//! library's on the same kind of sweep.
//!
//! The default x86-64 target only assumes SSE2 (4 lanes of `f32`). [`vectorized`] runs a loop
//! compiled for AVX-512 (16 lanes) or AVX2 (8 lanes), with FMA, when the processor has them.
//! The polynomials use `mul_add`, which compiles to one fused instruction there; on an
//! x86-64 processor without FMA (older than 2013) it is a call to the C library's exact
//! `fmaf`: slower, equally accurate.

use crate::tensor::FloatElement;

/// Runs `f` compiled with AVX-512 (F, BW, DQ, VL) or else AVX2, each with FMA, when the
/// processor supports them (the feature tests are cached loads), else as is.
///
/// Only code inlined into `f` gets the wider vectors, and `f` itself is compiled into the
/// wrappers below only if it is inlined there: mark the closure `#[inline(always)]` (the
/// compiler otherwise calls a closure with a loop of any size, compiled for the baseline),
/// and keep what it calls `#[inline(always)]` too.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        /// `f` compiled with AVX-512.
        ///
        /// # Safety
        /// The processor must support the features enabled here.
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        /// `f` compiled with AVX2 and FMA.
        ///
        /// # Safety
        /// The processor must support the features enabled here.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        let has_avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if has_avx2
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the run-time tests just above found every feature `avx512` is
            // compiled with.
            return unsafe { avx512(f) };
        }
        if has_avx2 {
            // SAFETY: the run-time tests above found AVX2 and FMA, the features `avx2` is
            // compiled with.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Float element types with elementary functions written to vectorise.
pub(crate) trait FastMath: FloatElement {
    /// `e^x`
    fn exp_v(self) -> Self;
    /// natural logarithm
    fn ln_v(self) -> Self;
    /// hyperbolic tangent
    fn tanh_v(self) -> Self;
}

impl FastMath for f64 {
    #[inline(always)]
    fn exp_v(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn ln_v(self) -> f64 {
        self.ln()
    }
    #[inline(always)]
    fn tanh_v(self) -> f64 {
        tanh_f64(self)
    }
}

impl FastMath for f32 {
    #[inline(always)]
    fn exp_v(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln_v(self) -> f32 {
        ln_f32(self)
    }
    #[inline(always)]
    fn tanh_v(self) -> f32 {
        tanh_f32(self)
    }
}

/// `if c { a } else { b }` for floats, written so that it compiles to a blend.
#[inline(always)]
fn pick(c: bool, a: f32, b: f32) -> f32 {
    if c {
        a
    } else {
        b
    }
}

/// `e^x` for `f32`: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7 polynomial for
/// `e^r`, and `2^n` applied in two halves so that subnormal results and overflow to
/// infinity come out right.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SHIFT: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
                                     // Past these bounds the result is 0 or infinity anyway; NaN passes through.
    let x = pick(x > 89.0, 89.0, x);
    let x = pick(x < -104.0, -104.0, x);
    let t = x.mul_add(LOG2E, SHIFT);
    let n = t.to_bits() as i32 - SHIFT.to_bits() as i32; // round(x / ln 2), in [-150, 129]
    let nf = t - SHIFT;
    let r = nf.mul_add(-LN2_LO, nf.mul_add(-LN2_HI, x));
    let z = r * r;
    let p = 1.987_569_1e-4f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 1.666_666_5e-1)
        .mul_add(r, 0.5);
    let e = p.mul_add(z, r) + 1.0;
    let n1 = n >> 1;
    let n2 = n - n1; // both in [-75, 65]: 2^n1 and 2^n2 are normal numbers
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n2 + 127) as u32) << 23);
    e * s1 * s2
}

/// Natural logarithm for `f32`: `x = m 2^e` with `m` in `[√½, √2)`, a degree-9 polynomial
/// for `ln m`, and `e ln 2` added in two parts. Subnormal inputs are scaled first.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let tiny = x < f32::MIN_POSITIVE;
    let xs = pick(tiny, x * 8_388_608.0, x); // 2²³
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126 - if tiny { 23 } else { 0 };
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // in [0.5, 1)
    let low = m < SQRT_HALF;
    e -= low as i32;
    let m = pick(low, m + m, m) - 1.0;
    let ef = e as f32;
    let z = m * m;
    let mut y = 7.037_683_6e-2f32
        .mul_add(m, -1.151_461e-1)
        .mul_add(m, 1.167_699_9e-1)
        .mul_add(m, -1.242_014_1e-1)
        .mul_add(m, 1.424_932_3e-1)
        .mul_add(m, -1.666_805_8e-1)
        .mul_add(m, 2.000_071_4e-1)
        .mul_add(m, -2.499_999_4e-1)
        .mul_add(m, 3.333_333e-1)
        * m
        * z;
    y = ef.mul_add(-2.121_944_4e-4, y);
    y = z.mul_add(-0.5, y);
    let r = ef.mul_add(0.693_359_4, m + y);
    // Domain edges: ln 0 = -inf, ln inf = inf, negative or NaN gives NaN.
    let r = pick(x == f32::INFINITY, f32::INFINITY, r);
    let r = pick(x == 0.0, f32::NEG_INFINITY, r);
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let invalid = !(x >= 0.0);
    pick(invalid, f32::NAN, r)
}

/// Hyperbolic tangent for `f32`: an odd polynomial below `|x| = 0.625`, `1 - 2/(e^{2|x|} + 1)`
/// above (with the sign of `x`); both are computed and one is selected.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let z = x.abs();
    let s = x * x;
    let small = (-5.704_988_7e-3f32)
        .mul_add(s, 2.063_909e-2)
        .mul_add(s, -5.373_971_6e-2)
        .mul_add(s, 1.333_144_2e-1)
        .mul_add(s, -3.333_328e-1)
        * s;
    let small = small.mul_add(x, x);
    let large = 1.0 - 2.0 / (exp_f32(z + z) + 1.0);
    let large = f32::from_bits(large.to_bits() | (x.to_bits() & 0x8000_0000));
    pick(z < 0.625, small, large)
}

/// `if c { a } else { b }` for `f64`, written so that it compiles to a blend.
#[inline(always)]
fn pick_f64(c: bool, a: f64, b: f64) -> f64 {
    if c {
        a
    } else {
        b
    }
}

/// `e^y` for `0 ≤ y ≤ 40` (all that `tanh_f64` needs): `y = n ln 2 + r`, `|r| ≤ ln 2 / 2`,
/// the Taylor polynomial of degree 13 for `e^r` (truncation below 1e-17 relative), times
/// `2^n` built from the bits.
#[inline(always)]
fn exp_f64_bounded(y: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact (fdlibm's ln2_hi and ln2_lo)
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²: adding it rounds to an integer
    let t = y.mul_add(LOG2E, SHIFT);
    let n = t.to_bits().wrapping_sub(SHIFT.to_bits()); // round(y / ln 2), in [0, 58]
    let nf = t - SHIFT;
    let r = nf.mul_add(-LN2_LO, nf.mul_add(-LN2_HI, y));
    let mut p = INVERSE_FACTORIALS[13];
    for k in (1..13).rev() {
        p = p.mul_add(r, INVERSE_FACTORIALS[k]);
    }
    let p = p.mul_add(r, 1.0);
    p * f64::from_bits(n.wrapping_add(1023) << 52)
}

/// `1/k!` for `k < 17`.
const INVERSE_FACTORIALS: [f64; 17] = {
    let mut v = [1.0; 17];
    let mut k = 1;
    while k < 17 {
        v[k] = v[k - 1] / k as f64;
        k += 1;
    }
    v
};

/// Hyperbolic tangent for `f64`: below `|x| = 0.25`, `m / (m + 2)` with `m = e^{2|x|} − 1`
/// from its Taylor polynomial of degree 16 (no cancellation near 0); above,
/// `1 − 2/(e^{2|x|} + 1)`, with `|x|` clamped to 20 where `tanh` is 1 in `f64`; the sign
/// of `x` is copied on. Both are computed and one is selected.
#[inline(always)]
pub(crate) fn tanh_f64(x: f64) -> f64 {
    let z = x.abs();
    let z = pick_f64(z > 20.0, 20.0, z);
    let y = z + z;
    let mut m = INVERSE_FACTORIALS[16];
    for k in (1..16).rev() {
        m = m.mul_add(y, INVERSE_FACTORIALS[k]);
    }
    let m = m * y;
    let small = m / (m + 2.0);
    let large = 1.0 - 2.0 / (exp_f64_bounded(y) + 1.0);
    let t = pick_f64(z < 0.25, small, large);
    f64::from_bits(t.to_bits() | (x.to_bits() & 0x8000_0000_0000_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tanh_f64` against the C library's `tanh` (correct to within 1 ulp) on a dense sweep,
    /// powers of two, random bit patterns and the special values.
    #[test]
    fn tanh_f64_within_four_ulp_of_libm() {
        let mut xs: Vec<f64> = (0..400_000)
            .map(|i| -25.0 + 50.0 * i as f64 / 400_000.0)
            .collect();
        xs.extend((-1074..1024).map(|e| 2f64.powi(e)));
        xs.extend((-1074..1024).map(|e| -(2f64.powi(e))));
        let mut bits = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            bits = bits
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            xs.push(f64::from_bits(bits));
        }
        let mut worst = (0.0f64, 0.0f64);
        for &x in &xs {
            let (got, want) = (tanh_f64(x), x.tanh());
            if want.is_nan() {
                assert!(got.is_nan(), "tanh({x})");
                continue;
            }
            let spacing = want.abs().max(f64::MIN_POSITIVE) * f64::EPSILON;
            let ulps = ((got - want) / spacing).abs();
            if ulps > worst.0 {
                worst = (ulps, x);
            }
        }
        assert!(worst.0 <= 4.0, "tanh: {} ulp at {}", worst.0, worst.1);
        assert_eq!(tanh_f64(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(tanh_f64(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh_f64(f64::INFINITY), 1.0);
        assert_eq!(tanh_f64(f64::NEG_INFINITY), -1.0);
        assert!(tanh_f64(f64::NAN).is_nan());
    }

    /// Distance in units in the last place between an `f32` and the exact value (in f64).
    fn ulps(got: f32, exact: f64) -> f64 {
        if exact.is_nan() {
            return if got.is_nan() { 0.0 } else { f64::INFINITY };
        }
        let want = exact as f32;
        if got == want {
            return 0.0;
        }
        if want.is_infinite() || got.is_infinite() {
            return f64::INFINITY;
        }
        // the spacing of f32 numbers at the exact value (subnormal spacing at least)
        let spacing = (want.abs().max(f32::MIN_POSITIVE) as f64) * f32::EPSILON as f64;
        let spacing = if want.abs() < f32::MIN_POSITIVE {
            f32::from_bits(1) as f64
        } else {
            spacing
        };
        ((got as f64 - exact) / spacing).abs()
    }

    /// Many points: a dense sweep over the interesting range, every power of two, specials.
    fn points(lo: f32, hi: f32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..400_000)
            .map(|i| lo + (hi - lo) * i as f32 / 400_000.0)
            .collect();
        v.extend((-149..128).map(|e| 2f32.powi(e)));
        v.extend((-149..128).map(|e| -(2f32.powi(e))));
        let mut bits = 0x1234_5678u32;
        for _ in 0..200_000 {
            bits = bits.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            v.push(f32::from_bits(bits));
        }
        v.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        v
    }

    fn worst(f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64, pts: &[f32]) -> (f64, f32) {
        pts.iter()
            .map(|&x| (ulps(f(x), exact(x as f64)), x))
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
    }

    #[test]
    fn exp_within_one_ulp() {
        let (u, x) = worst(exp_f32, f64::exp, &points(-110.0, 95.0));
        assert!(u <= 1.0, "exp: {u} ulp at {x}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn ln_within_one_ulp() {
        let (u, x) = worst(ln_f32, f64::ln, &points(0.0, 10.0));
        assert!(u <= 1.0, "ln: {u} ulp at {x}");
        assert_eq!(ln_f32(1.0), 0.0);
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_within_one_and_a_half_ulp() {
        let (u, x) = worst(tanh_f32, f64::tanh, &points(-12.0, 12.0));
        assert!(u <= 1.5, "tanh: {u} ulp at {x}");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    #[test]
    fn vectorized_loops_agree_with_scalar_calls() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.37 - 150.0).collect();
        let v: Vec<f32> = vectorized(
            #[inline(always)]
            || x.iter().map(|&v| exp_f32(v)).collect(),
        );
        for (a, &b) in v.iter().zip(&x) {
            assert_eq!(a.to_bits(), exp_f32(b).to_bits());
        }
    }
}
