//! Learning-rate schedules: a factor applied to every group's configured learning rate.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::{NnError, Result};

/// A learning-rate schedule, as a factor of the configured rate for optimizer step `t`
/// (counted from 0) of a run of `total` steps.
///
/// ```
/// use retrograd_nn::optim::LrSchedule;
/// let s: LrSchedule = "warmup:10,cosine".parse().unwrap();
/// assert_eq!(s.factor(0, 110), 0.1);  // linear warm-up from lr/10 ...
/// assert_eq!(s.factor(10, 110), 1.0); // ... then cosine decay to 0
/// assert!(s.factor(109, 110) < 0.001);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum LrSchedule {
    /// Always 1.
    Constant,
    /// Multiplied by `gamma` every `step_size` steps.
    Step {
        /// Steps between decays.
        step_size: usize,
        /// Factor of each decay.
        gamma: f64,
    },
    /// Half a cosine from 1 down to `min_factor` over the run.
    Cosine {
        /// The factor reached at the end.
        min_factor: f64,
    },
    /// Linear warm-up from `1/steps` to 1 over `steps` steps, then `then` over the rest.
    Warmup {
        /// Length of the warm-up.
        steps: usize,
        /// The schedule after the warm-up (its step 0 is the first step after it).
        then: Box<LrSchedule>,
    },
    /// Smith's one-cycle policy: cosine from `1/div` up to 1 over the first `pct_start` of
    /// the run, then cosine down to `1/(div·final_div)`. The configured rate is the peak.
    OneCycle {
        /// Fraction of the run spent increasing.
        pct_start: f64,
        /// Initial rate = peak / div.
        div: f64,
        /// Final rate = initial / final_div.
        final_div: f64,
    },
}

impl LrSchedule {
    /// One-cycle with PyTorch's defaults (30% up, div 25, final div 10⁴).
    ///
    /// ```
    /// let s = retrograd_nn::optim::LrSchedule::one_cycle();
    /// assert!((s.factor(0, 100) - 0.04).abs() < 1e-12);
    /// assert!((s.factor(30, 100) - 1.0).abs() < 1e-12);
    /// ```
    pub fn one_cycle() -> Self {
        LrSchedule::OneCycle {
            pct_start: 0.3,
            div: 25.0,
            final_div: 1e4,
        }
    }

    /// The factor for step `t` of `total`.
    ///
    /// ```
    /// use retrograd_nn::optim::LrSchedule;
    /// let s = LrSchedule::Step { step_size: 10, gamma: 0.5 };
    /// assert_eq!((s.factor(9, 100), s.factor(10, 100), s.factor(25, 100)), (1.0, 0.5, 0.25));
    /// ```
    pub fn factor(&self, t: usize, total: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Step { step_size, gamma } => gamma.powi((t / (*step_size).max(1)) as i32),
            LrSchedule::Cosine { min_factor } => {
                let p = (t as f64 / total.max(1) as f64).min(1.0);
                min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (PI * p).cos())
            }
            LrSchedule::Warmup { steps, then } => {
                if t < *steps {
                    (t + 1) as f64 / *steps as f64
                } else {
                    then.factor(t - steps, total.saturating_sub(*steps))
                }
            }
            LrSchedule::OneCycle {
                pct_start,
                div,
                final_div,
            } => {
                let cos_between =
                    |from: f64, to: f64, p: f64| to + (from - to) * 0.5 * (1.0 + (PI * p).cos());
                let up = ((pct_start * total as f64).round() as usize).max(1);
                let start = 1.0 / div;
                if t < up {
                    cos_between(start, 1.0, t as f64 / up as f64)
                } else {
                    let down = total.saturating_sub(up).max(1);
                    let p = ((t - up) as f64 / down as f64).min(1.0);
                    cos_between(1.0, start / final_div, p)
                }
            }
        }
    }
}

impl FromStr for LrSchedule {
    type Err = NnError;

    /// `constant`, `step:SIZE:GAMMA`, `cosine`, `cosine:MIN`, `onecycle`, or
    /// `warmup:STEPS,<schedule>`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            NnError::invalid(format!(
                "unknown learning-rate schedule `{s}`: expected constant, step:SIZE:GAMMA, cosine[:MIN], onecycle or warmup:STEPS,<schedule>"
            ))
        };
        if let Some(rest) = s.strip_prefix("warmup:") {
            let (steps, then) = rest.split_once(',').unwrap_or((rest, "constant"));
            return Ok(LrSchedule::Warmup {
                steps: steps.parse().map_err(|_| bad())?,
                then: Box::new(then.parse()?),
            });
        }
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["constant"] => Ok(LrSchedule::Constant),
            ["cosine"] => Ok(LrSchedule::Cosine { min_factor: 0.0 }),
            ["cosine", m] => Ok(LrSchedule::Cosine {
                min_factor: m.parse().map_err(|_| bad())?,
            }),
            ["onecycle"] => Ok(LrSchedule::one_cycle()),
            ["step", size, gamma] => Ok(LrSchedule::Step {
                step_size: size.parse().map_err(|_| bad())?,
                gamma: gamma.parse().map_err(|_| bad())?,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LrSchedule::Constant => f.write_str("constant"),
            LrSchedule::Step { step_size, gamma } => write!(f, "step:{step_size}:{gamma}"),
            LrSchedule::Cosine { min_factor } => write!(f, "cosine:{min_factor}"),
            LrSchedule::Warmup { steps, then } => write!(f, "warmup:{steps},{then}"),
            LrSchedule::OneCycle { .. } => f.write_str("onecycle"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_endpoints_and_midpoint() {
        let s = LrSchedule::Cosine { min_factor: 0.1 };
        assert_eq!(s.factor(0, 100), 1.0);
        assert!((s.factor(50, 100) - 0.55).abs() < 1e-12);
        assert!((s.factor(100, 100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn one_cycle_ends_near_zero_and_peaks_once() {
        let s = LrSchedule::one_cycle();
        let f: Vec<f64> = (0..=100).map(|t| s.factor(t, 100)).collect();
        let peak = f.iter().cloned().fold(0.0, f64::max);
        assert_eq!(peak, 1.0);
        assert!((f[100] - 0.04 / 1e4).abs() < 1e-12);
        assert!(f.windows(2).take(30).all(|w| w[1] >= w[0]));
        assert!(f.windows(2).skip(30).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn parse_round_trips() {
        for s in ["constant", "step:5:0.5", "cosine:0.1", "warmup:3,cosine:0"] {
            assert_eq!(s.parse::<LrSchedule>().unwrap().to_string(), s);
        }
        assert!("linear".parse::<LrSchedule>().is_err());
    }
}
