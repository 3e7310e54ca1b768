//! The Black–Scholes price of a European option, and its Greeks by automatic
//! differentiation of the pricing formula.
//!
//! [`price`] is written once against [`Real`]. [`BlackScholes::greeks`] records it on an
//! `f64` tape and sweeps once for price, delta, vega, rho and theta, then records it on
//! `Dual` numbers (forward-over-reverse) for gamma, vanna and volga.
//! [`BlackScholes::closed_form`] gives the textbook formulas for the same eight numbers.

use super::check_input;
use crate::{Dual, Error, Real, Tape, Var};

/// A call (the right to buy at the strike) or a put (the right to sell).
///
/// ```
/// use retrograd::finance::black_scholes::OptionKind;
/// assert_ne!(OptionKind::Call, OptionKind::Put);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// Pays `max(S_T − K, 0)` at maturity.
    Call,
    /// Pays `max(K − S_T, 0)` at maturity.
    Put,
}

/// The standard normal cumulative distribution, `Φ(x) = erfc(−x/√2)/2` (accurate in both
/// tails).
///
/// ```
/// let p = retrograd::finance::black_scholes::normal_cdf(0.0_f64);
/// assert_eq!(p, 0.5);
/// ```
pub fn normal_cdf<T: Real>(x: T) -> T {
    T::from_f64(0.5) * (-x / T::SQRT_2()).erfc()
}

/// The Black–Scholes price of a European option on a non-dividend-paying asset, for any
/// [`Real`] type: `f64` for a number, [`Var`] or [`Dual`] for derivatives.
///
/// `vol` is the annual volatility σ, `rate` the continuously compounded rate r and
/// `maturity` the time to expiry T in years. The caller keeps the inputs in the formula's
/// domain (positive spot, strike, volatility and maturity); [`BlackScholes::new`] checks it.
///
/// ```
/// use retrograd::finance::black_scholes::{price, OptionKind};
/// let call = price(OptionKind::Call, 100.0, 100.0, 0.05, 0.2, 1.0);
/// let put = price(OptionKind::Put, 100.0, 100.0, 0.05, 0.2, 1.0);
/// // Put–call parity: C − P = S − K e^(−rT).
/// assert!((call - put - (100.0 - 100.0 * (-0.05_f64).exp())).abs() < 1e-12);
/// ```
pub fn price<T: Real>(kind: OptionKind, spot: T, strike: T, rate: T, vol: T, maturity: T) -> T {
    let sqrt_t = maturity.sqrt();
    let d1 =
        ((spot / strike).ln() + (rate + T::from_f64(0.5) * vol * vol) * maturity) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    let discounted_strike = strike * (-rate * maturity).exp();
    match kind {
        OptionKind::Call => spot * normal_cdf(d1) - discounted_strike * normal_cdf(d2),
        OptionKind::Put => discounted_strike * normal_cdf(-d2) - spot * normal_cdf(-d1),
    }
}

/// A European option under Black–Scholes, with its inputs checked.
///
/// ```
/// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
/// assert!(BlackScholes::new(OptionKind::Put, 100.0, 90.0, 0.01, 0.0, 1.0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlackScholes {
    /// Call or put.
    pub kind: OptionKind,
    /// Price of the underlying today, S.
    pub spot: f64,
    /// Strike, K.
    pub strike: f64,
    /// Continuously compounded interest rate, r.
    pub rate: f64,
    /// Annual volatility, σ.
    pub vol: f64,
    /// Time to expiry in years, T.
    pub maturity: f64,
}

/// The price and eight sensitivities of an option.
///
/// ```
/// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
/// let g = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.0, 0.2, 1.0).unwrap().greeks();
/// assert!(g.gamma > 0.0 && g.vega > 0.0 && g.theta < 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Greeks {
    /// The option's value.
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂V/∂σ.
    pub vega: f64,
    /// ∂V/∂r.
    pub rho: f64,
    /// Sensitivity to calendar time, −∂V/∂T (per year).
    pub theta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂²V/∂S∂σ.
    pub vanna: f64,
    /// ∂²V/∂σ².
    pub volga: f64,
}

impl Greeks {
    /// The eight numbers with their names, in the order price, delta, vega, rho, theta,
    /// gamma, vanna, volga.
    ///
    /// ```
    /// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
    /// let g = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.0, 0.2, 1.0).unwrap().greeks();
    /// assert_eq!(g.named()[1], ("delta", g.delta));
    /// ```
    pub fn named(&self) -> [(&'static str, f64); 8] {
        [
            ("price", self.price),
            ("delta", self.delta),
            ("vega", self.vega),
            ("rho", self.rho),
            ("theta", self.theta),
            ("gamma", self.gamma),
            ("vanna", self.vanna),
            ("volga", self.volga),
        ]
    }
}

impl BlackScholes {
    /// An option; fails unless spot, strike, volatility and maturity are finite and
    /// positive and the rate is finite.
    ///
    /// ```
    /// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
    /// let err = BlackScholes::new(OptionKind::Call, f64::NAN, 100.0, 0.0, 0.2, 1.0).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid input: spot is NaN; expected a finite positive number");
    /// ```
    pub fn new(
        kind: OptionKind,
        spot: f64,
        strike: f64,
        rate: f64,
        vol: f64,
        maturity: f64,
    ) -> Result<Self, Error> {
        check_input("spot", spot, true)?;
        check_input("strike", strike, true)?;
        check_input("rate", rate, false)?;
        check_input("vol", vol, true)?;
        check_input("maturity", maturity, true)?;
        Ok(BlackScholes {
            kind,
            spot,
            strike,
            rate,
            vol,
            maturity,
        })
    }

    /// The price alone, in `f64`.
    ///
    /// ```
    /// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
    /// let o = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.05, 0.2, 1.0).unwrap();
    /// assert!((o.price() - 10.450583572185565).abs() < 1e-12);
    /// ```
    pub fn price(&self) -> f64 {
        price(
            self.kind,
            self.spot,
            self.strike,
            self.rate,
            self.vol,
            self.maturity,
        )
    }

    /// The inputs differentiated, in the order (spot, rate, vol, maturity).
    fn inputs(&self) -> [f64; 4] {
        [self.spot, self.rate, self.vol, self.maturity]
    }

    /// The Greeks by automatic differentiation of [`price`]: one recording and one reverse
    /// sweep on an `f64` tape give price, delta, vega, rho and theta; two recordings on
    /// `Dual` numbers swept in reverse (forward-over-reverse, each a Hessian-vector
    /// product) give the spot row (gamma, vanna) and the volatility row (volga) of the
    /// Hessian.
    ///
    /// ```
    /// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
    /// let o = BlackScholes::new(OptionKind::Put, 95.0, 100.0, 0.03, 0.25, 0.5).unwrap();
    /// let (ad, exact) = (o.greeks(), o.closed_form());
    /// for ((name, a), (_, b)) in ad.named().into_iter().zip(exact.named()) {
    ///     assert!((a - b).abs() <= 1e-12 * b.abs(), "{name}: {a} vs {b}");
    /// }
    /// ```
    pub fn greeks(&self) -> Greeks {
        let (kind, strike) = (self.kind, self.strike);
        let mut tape = Tape::new();
        let (xs, value) = tape.record(|rec| {
            let xs = rec.inputs(&self.inputs());
            let value = price(kind, xs[0], Var::constant(strike), xs[1], xs[2], xs[3]);
            (xs, value)
        });
        let first = tape.gradient(value).wrt_all(&xs);
        // Row `direction` of the Hessian: the tangents of the adjoints when the inputs carry
        // a unit tangent along `direction`.
        let hessian_row = |direction: usize| -> Vec<f64> {
            let mut tape: Tape<Dual> = Tape::new();
            let seeded = self
                .inputs()
                .iter()
                .enumerate()
                .map(|(i, &x)| Dual::new(x, [f64::from(i == direction)]))
                .collect::<Vec<_>>();
            let (xs, value) = tape.record(|rec| {
                let xs = rec.inputs(&seeded);
                let value = price(
                    kind,
                    xs[0],
                    Var::constant(Dual::constant(strike)),
                    xs[1],
                    xs[2],
                    xs[3],
                );
                (xs, value)
            });
            let adjoints = tape.gradient(value);
            xs.iter().map(|&x| adjoints.wrt(x).tangent[0]).collect()
        };
        let spot_row = hessian_row(0);
        let vol_row = hessian_row(2);
        Greeks {
            price: value.value(),
            delta: first[0],
            rho: first[1],
            vega: first[2],
            theta: -first[3],
            gamma: spot_row[0],
            vanna: spot_row[2],
            volga: vol_row[2],
        }
    }

    /// The Greeks from the textbook closed forms (Hull, *Options, Futures and Other
    /// Derivatives*), with `d₁ = (ln(S/K) + (r + σ²/2)T)/(σ√T)`, `d₂ = d₁ − σ√T`:
    /// gamma `φ(d₁)/(Sσ√T)`, vega `Sφ(d₁)√T`, vanna `−φ(d₁)d₂/σ`, volga `Sφ(d₁)√T·d₁d₂/σ`
    /// for both kinds; delta, rho and theta differ between call and put.
    ///
    /// ```
    /// use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
    /// let call = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.05, 0.2, 1.0).unwrap();
    /// let put = BlackScholes { kind: OptionKind::Put, ..call };
    /// // Put–call parity differentiated in S: Δ_call − Δ_put = 1.
    /// assert!((call.closed_form().delta - put.closed_form().delta - 1.0).abs() < 1e-15);
    /// ```
    pub fn closed_form(&self) -> Greeks {
        let (s, k, r, sigma, t) = (self.spot, self.strike, self.rate, self.vol, self.maturity);
        let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let sqrt_t = t.sqrt();
        let d1 = ((s / k).ln() + (r + 0.5 * sigma * sigma) * t) / (sigma * sqrt_t);
        let d2 = d1 - sigma * sqrt_t;
        let discount = (-r * t).exp();
        let density = pdf(d1);
        let decay = -s * density * sigma / (2.0 * sqrt_t);
        let (delta, rho, theta) = match self.kind {
            OptionKind::Call => (
                normal_cdf(d1),
                k * t * discount * normal_cdf(d2),
                decay - r * k * discount * normal_cdf(d2),
            ),
            OptionKind::Put => (
                -normal_cdf(-d1),
                -k * t * discount * normal_cdf(-d2),
                decay + r * k * discount * normal_cdf(-d2),
            ),
        };
        let vega = s * density * sqrt_t;
        Greeks {
            price: self.price(),
            delta,
            vega,
            rho,
            theta,
            gamma: density / (s * sigma * sqrt_t),
            vanna: -density * d2 / sigma,
            volga: vega * d1 * d2 / sigma,
        }
    }
}
