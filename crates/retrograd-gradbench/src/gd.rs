//! The gradient descent solver of the `particle` and `saddle` evals (GradBench's
//! `gd.hpp`), generic over the number type so that an outer derivative can be taken
//! through it.

use num_traits::Float;

fn magnitude<T: Float>(v: &[T]) -> T {
    v.iter().fold(T::zero(), |a, &x| a + x * x).sqrt()
}

fn distance<T: Float>(u: &[T], v: &[T]) -> T {
    u.iter()
        .zip(v)
        .fold(T::zero(), |a, (&x, &y)| a + (x - y) * (x - y))
        .sqrt()
}

/// The argmin of `f` from `x0` by gradient descent with an adaptive step: doubled after
/// ten accepted steps in a row, halved after a rejected one; stops when the gradient or
/// the step is shorter than `1e-5`.
pub fn argmin<T: Float>(f: impl Fn(&[T]) -> T, grad: impl Fn(&[T]) -> Vec<T>, x0: &[T]) -> Vec<T> {
    let tol = T::from(1e-5).unwrap();
    let mut x = x0.to_vec();
    let mut fx = f(&x);
    let mut gx = grad(&x);
    let mut i = 0;
    let mut eta = T::from(1e-5).unwrap();
    loop {
        if magnitude(&gx) <= tol {
            return x;
        } else if i == 10 {
            eta = eta * T::from(2.0).unwrap();
            i = 0;
        } else {
            let x_prime: Vec<T> = x.iter().zip(&gx).map(|(&xj, &gj)| xj - eta * gj).collect();
            if distance(&x, &x_prime) <= tol {
                return x;
            }
            let fx_prime = f(&x_prime);
            if fx_prime < fx {
                x = x_prime;
                fx = fx_prime;
                gx = grad(&x);
                i += 1;
            } else {
                eta = eta / T::from(2.0).unwrap();
                i = 0;
            }
        }
    }
}

/// The argmax of `f` from `x0`: the argmin of `−f`.
pub fn argmax<T: Float>(f: impl Fn(&[T]) -> T, grad: impl Fn(&[T]) -> Vec<T>, x0: &[T]) -> Vec<T> {
    argmin(|x| -f(x), |x| grad(x).into_iter().map(|g| -g).collect(), x0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_a_quadratic_minimum() {
        let f = |x: &[f64]| (x[0] - 1.0).powi(2) + 2.0 * (x[1] + 0.5).powi(2);
        let g = |x: &[f64]| vec![2.0 * (x[0] - 1.0), 4.0 * (x[1] + 0.5)];
        let x = super::argmin(f, g, &[0.0, 0.0]);
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] + 0.5).abs() < 1e-4);
    }
}
