// The two scalar-tape test functions, their inputs and hand-written gradients, and the timing
// and output helpers of bench/cpp. Same definitions as crates/retrograd/benches/peer_scalar.rs.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

// f1(x) = sum_i sin(x_i) x_i^2 + exp(-x_i)
template <class T> T f1(const T* x, size_t n) {
  using std::exp;
  using std::sin;
  T s = 0.0;
  for (size_t i = 0; i < n; ++i) s += sin(x[i]) * x[i] * x[i] + exp(-x[i]);
  return s;
}

// Extended Rosenbrock, paired: f2(x) = sum_j 100 (x_{2j+1} - x_{2j}^2)^2 + (1 - x_{2j})^2
template <class T> T f2(const T* x, size_t n) {
  T s = 0.0;
  for (size_t j = 0; j + 1 < n; j += 2) {
    T t = x[j + 1] - x[j] * x[j];
    T u = 1.0 - x[j];
    s += 100.0 * t * t + u * u;
  }
  return s;
}

inline double f1_value_grad(const double* x, size_t n, double* g) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    double xi = x[i], si = std::sin(xi), ci = std::cos(xi), e = std::exp(-xi);
    s += si * xi * xi + e;
    g[i] = ci * xi * xi + 2.0 * xi * si - e;
  }
  return s;
}

inline double f2_value_grad(const double* x, size_t n, double* g) {
  double s = 0;
  for (size_t j = 0; j + 1 < n; j += 2) {
    double a = x[j], b = x[j + 1], t = b - a * a, u = 1.0 - a;
    s += 100.0 * t * t + u * u;
    g[j] = -400.0 * t * a - 2.0 * u;
    g[j + 1] = 200.0 * t;
  }
  return s;
}

inline std::vector<double> inputs(size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = 0.5 + 0.4 * std::sin(0.001 * (double)i);
  return x;
}

static volatile double sink;

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `reps` interleaved rounds of primal() and gradient() after two untimed ones, and
// prints the PEER line of bench/report.py.
template <class P, class G>
void measure(const char* bench, const char* impl, int reps, P primal, G gradient, const char* extra = "") {
  std::vector<double> tp, tg;
  for (int r = 0; r < reps + 2; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    primal();
    double p = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    gradient();
    double g = seconds_since(t1);
    if (r >= 2) {
      tp.push_back(p);
      tg.push_back(g);
    }
  }
  double p = median(tp), g = median(tg);
  std::printf("PEER bench=%s impl=%s threads=1 value=%.4f unit=ratio primal_ms=%.4f grad_ms=%.4f%s%s\n", bench, impl,
              g / p, p * 1e3, g * 1e3, *extra ? " " : "", extra);
  std::fflush(stdout);
}

// Largest relative difference to the hand-written gradient; aborts above 1e-9.
template <class Ref> void check(const char* what, const std::vector<double>& x, const std::vector<double>& g, Ref ref) {
  std::vector<double> h(x.size());
  ref(x.data(), x.size(), h.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(g[i] - h[i]) / (1.0 + std::fabs(h[i])));
  if (worst > 1e-9) {
    std::fprintf(stderr, "%s: gradient differs from the hand-written one by %g\n", what, worst);
    std::exit(1);
  }
}
