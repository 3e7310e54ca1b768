//! A small, fast, seedable random number generator (xoshiro256**, seeded by SplitMix64).

/// A seeded pseudo-random generator for tensor initialisation and dropout masks.
/// Same seed, same stream, on every platform.
///
/// ```
/// use retrograd::tensor::Rng;
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let u = a.uniform();
/// assert!((0.0..1.0).contains(&u));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        Rng {
            s: std::array::from_fn(|_| splitmix64(&mut st)),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    ///
    /// ```
    /// let mut r = retrograd::tensor::Rng::new(1);
    /// let m: f64 = (0..10_000).map(|_| r.normal()).sum::<f64>() / 10_000.0;
    /// assert!(m.abs() < 0.05);
    /// ```
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    ///
    /// ```
    /// let mut r = retrograd::tensor::Rng::new(3);
    /// assert!(r.below(10) < 10);
    /// ```
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the bias is below 2^-64 * n, irrelevant here.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A new generator for an independent stream (for a worker or a layer).
    ///
    /// ```
    /// let mut r = retrograd::tensor::Rng::new(3);
    /// let mut child = r.fork();
    /// assert_ne!(child.next_u64(), r.next_u64());
    /// ```
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}
