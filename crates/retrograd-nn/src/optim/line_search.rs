//! The line searches of [`super::Lbfgs`]: Armijo backtracking and the strong-Wolfe search
//! of `torch.optim.LBFGS` (Nocedal & Wright, algorithms 3.5 and 3.6).

/// A point of a line search: step, loss, gradient, directional derivative.
#[derive(Clone)]
pub(super) struct Trial {
    pub(super) t: f64,
    pub(super) loss: f64,
    pub(super) grad: Vec<f64>,
    pub(super) slope: f64,
}

/// The minimiser of the cubic through `(a.t, a.loss)` and `(b.t, b.loss)` with slopes
/// `a.slope`, `b.slope`, clamped to `[lo, hi]`; the midpoint when the cubic has none (or
/// the values are not finite).
fn cubic_minimum(a: &Trial, b: &Trial, lo: f64, hi: f64) -> f64 {
    let d1 = a.slope + b.slope - 3.0 * (a.loss - b.loss) / (a.t - b.t);
    let d2_square = d1 * d1 - a.slope * b.slope;
    if d2_square.is_nan() || d2_square < 0.0 {
        return 0.5 * (lo + hi);
    }
    let d2 = d2_square.sqrt();
    let t = if a.t <= b.t {
        b.t - (b.t - a.t) * ((b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2))
    } else {
        a.t - (a.t - b.t) * ((a.slope + d2 - d1) / (a.slope - b.slope + 2.0 * d2))
    };
    if t.is_finite() {
        t.clamp(lo, hi)
    } else {
        0.5 * (lo + hi)
    }
}

/// Halves the step from `t` until the Armijo condition holds (at most 50 halvings).
pub(super) fn backtrack(start: &Trial, mut t: f64, eval: &mut impl FnMut(f64) -> Trial) -> Trial {
    let mut trial = eval(t);
    for _ in 0..50 {
        if trial.loss <= start.loss + 1e-4 * t * start.slope {
            break;
        }
        t *= 0.5;
        trial = eval(t);
    }
    trial
}

/// The strong-Wolfe line search of `torch.optim.LBFGS` (Nocedal & Wright, algorithms 3.5
/// and 3.6): grow the step until a bracket holds an acceptable one, then shrink the bracket
/// by cubic interpolation. Returns the best point found. A trial with a non-finite loss
/// fails the sufficient-decrease test, so the search retreats from it.
pub(super) fn strong_wolfe(
    start: &Trial,
    t: f64,
    d_max: f64,
    tolerance_change: f64,
    eval: &mut impl FnMut(f64) -> Trial,
) -> Trial {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_TRIALS: usize = 25;
    let armijo_fails = |p: &Trial| p.loss.is_nan() || p.loss > start.loss + C1 * p.t * start.slope;
    let curvature_holds = |p: &Trial| p.slope.abs() <= -C2 * start.slope;

    let mut prev = start.clone();
    let mut cur = eval(t);
    let mut trials = 1;
    // Bracketing phase: [low, high] with low the better end.
    let mut bracket: [Trial; 2];
    loop {
        if armijo_fails(&cur) || (trials > 1 && cur.loss >= prev.loss) {
            bracket = [prev, cur];
            break;
        }
        if curvature_holds(&cur) {
            return cur;
        }
        if cur.slope >= 0.0 {
            bracket = [prev, cur];
            break;
        }
        if trials == MAX_TRIALS {
            return cur;
        }
        let (lo, hi) = (cur.t + 0.01 * (cur.t - prev.t), cur.t * 10.0);
        let next_t = cubic_minimum(&prev, &cur, lo, hi);
        prev = cur;
        cur = eval(next_t);
        trials += 1;
    }
    // Zoom phase.
    let better = |b: &[Trial; 2]| {
        if b[0].loss <= b[1].loss || b[1].loss.is_nan() {
            0
        } else {
            1
        }
    };
    let mut low = better(&bracket);
    let mut insufficient_progress = false;
    while trials < MAX_TRIALS {
        let (a, b) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (b - a) * d_max < tolerance_change {
            break;
        }
        let mut t = cubic_minimum(&bracket[0], &bracket[1], a, b);
        // Keep the trial away from the bracket's ends, or it may shrink too slowly.
        let eps = 0.1 * (b - a);
        if (b - t).min(t - a) < eps {
            if insufficient_progress || t >= b || t <= a {
                t = if (t - b).abs() < (t - a).abs() {
                    b - eps
                } else {
                    a + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let p = eval(t);
        trials += 1;
        let high = 1 - low;
        if armijo_fails(&p) || p.loss >= bracket[low].loss {
            bracket[high] = p;
            low = better(&bracket);
        } else {
            if curvature_holds(&p) {
                return p;
            }
            if p.slope * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = p;
        }
    }
    let [a, b] = bracket;
    if low == 0 {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(t: f64, f: impl Fn(f64) -> (f64, f64)) -> Trial {
        let (loss, slope) = f(t);
        Trial {
            t,
            loss,
            grad: vec![slope],
            slope,
        }
    }

    /// Two points of a quadratic or a cubic determine it: the interpolant's minimiser is
    /// the function's.
    #[test]
    fn cubic_minimum_is_exact_on_cubics() {
        let quadratic = |t: f64| ((t - 1.0).powi(2), 2.0 * (t - 1.0));
        let m = cubic_minimum(&trial(0.0, quadratic), &trial(3.0, quadratic), 0.0, 3.0);
        assert!((m - 1.0).abs() < 1e-12, "{m}");
        // t³ − 3t has its local minimum at 1
        let cubic = |t: f64| (t.powi(3) - 3.0 * t, 3.0 * t * t - 3.0);
        let m = cubic_minimum(&trial(2.0, cubic), &trial(0.5, cubic), 0.5, 2.0);
        assert!((m - 1.0).abs() < 1e-12, "{m}");
        // no minimum inside: clamped; not finite: the midpoint
        let m = cubic_minimum(&trial(0.0, quadratic), &trial(0.5, quadratic), 0.0, 0.5);
        assert_eq!(m, 0.5);
        let nan = Trial {
            loss: f64::NAN,
            ..trial(1.0, quadratic)
        };
        assert_eq!(cubic_minimum(&trial(0.0, quadratic), &nan, 0.0, 1.0), 0.5);
    }

    /// The accepted step satisfies both strong Wolfe conditions, from too short and from
    /// too long a first step.
    #[test]
    fn strong_wolfe_conditions_hold() {
        // along the direction d = 1 from 0: φ(t) = (t − 2)² + sin(3t)
        let phi = |t: f64| {
            (
                (t - 2.0).powi(2) + (3.0 * t).sin(),
                2.0 * (t - 2.0) + 3.0 * (3.0 * t).cos(),
            )
        };
        let start = trial(0.0, phi);
        assert!(start.slope < 0.0);
        for t0 in [1e-3, 1.0, 50.0] {
            let mut evals = 0;
            let p = strong_wolfe(&start, t0, 1.0, 1e-12, &mut |t| {
                evals += 1;
                trial(t, phi)
            });
            assert!(
                p.loss <= start.loss + 1e-4 * p.t * start.slope,
                "t0 = {t0}: {}",
                p.t
            );
            assert!(p.slope.abs() <= -0.9 * start.slope, "t0 = {t0}: {}", p.t);
            assert!(evals <= 25);
        }
        // Armijo backtracking from a step that is far too long
        let p = backtrack(&start, 50.0, &mut |t| trial(t, phi));
        assert!(p.t < 50.0 && p.loss <= start.loss + 1e-4 * p.t * start.slope);
    }
}
