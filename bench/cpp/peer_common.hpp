// Shared by adept_scalar.cpp and codi_scalar.cpp: f1, f2, inputs, hand-written gradients and
// check() come from scalar_common.hpp in this folder; this adds
// (c) RK4 Lotka-Volterra as in crates/retrograd/benches/scalar.rs, a measure() that also
// splits the gradient into record and sweep (median of each; ratio uses the median total),
// and the runs of the three functions, given a tool (see peer_main).
#pragma once
#include "scalar_common.hpp"

// (c) u' = a u - b u v, v' = c u v - d v.  One assignment per Rust let-binding.
template <class T> inline void lv_rhs(const T& u, const T& v, const T* p, T& du, T& dv) {
  du = p[0] * u - p[1] * u * v;
  dv = p[2] * u * v - p[3] * v;
}
template <class T> inline void rk4(T& u, T& v, const T* p) {
  const double dt = 0.01, h2 = 0.005, h6 = 0.01 / 6.0, two = 2.0;
  T k1u, k1v, k2u, k2v, k3u, k3v, k4u, k4v;
  lv_rhs(u, v, p, k1u, k1v);
  { T a = u + h2 * k1u, b = v + h2 * k1v; lv_rhs(a, b, p, k2u, k2v); }
  { T a = u + h2 * k2u, b = v + h2 * k2v; lv_rhs(a, b, p, k3u, k3v); }
  { T a = u + dt * k3u, b = v + dt * k3v; lv_rhs(a, b, p, k4u, k4v); }
  // u's new value does not involve v and vice versa: update in place.
  u = u + h6 * (k1u + two * k2u + two * k3u + k4u);
  v = v + h6 * (k1v + two * k2v + two * k3v + k4v);
}
template <class T> inline T lv_loop(const T* x0, const T* p, int steps) {
  T u = x0[0], v = x0[1];
  for (int k = 0; k < steps; ++k) rk4(u, v, p);
  T j = u + v;
  return j;
}
// The values scalar.rs checks (d(u+v)/d(u0, v0, a, b, c, d)), to 1e-9 relative.
inline void check_rk4(const char* what, const double* g) {
  const double e[6] = {1.446770060434e-04, 2.224387121367e-05, 1.065934064998e-04,
                       -1.726945920312e-03, 4.822563878298e-04, -1.826133170128e-02};
  for (int i = 0; i < 6; ++i)
    if (!(std::fabs(g[i] - e[i]) < 1e-9 * std::max(std::fabs(e[i]), 1e-6))) {
      std::fprintf(stderr, "%s: RK4 gradient[%d] = %.15g, expected %.15g\n", what, i, g[i], e[i]);
      std::exit(1);
    }
}

// reps interleaved rounds of primal() and gradient() after two untimed ones; gradient()
// returns the instant its recording ended.
template <class P, class G>
void measure2(const char* bench, const char* impl, int reps, P primal, G gradient, const char* extra) {
  std::vector<double> tp, tg, tr, ts;
  for (int r = 0; r < reps + 2; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    primal();
    auto t1 = std::chrono::steady_clock::now();
    auto rec = gradient();
    auto t2 = std::chrono::steady_clock::now();
    if (r >= 2) {
      tp.push_back(std::chrono::duration<double>(t1 - t0).count());
      tg.push_back(std::chrono::duration<double>(t2 - t1).count());
      tr.push_back(std::chrono::duration<double>(rec - t1).count());
      ts.push_back(std::chrono::duration<double>(t2 - rec).count());
    }
  }
  double p = median(tp), g = median(tg);
  std::printf("PEER bench=%s impl=%s threads=1 value=%.4f unit=ratio primal_ms=%.4f grad_ms=%.4f record_ms=%.4f "
              "sweep_ms=%.4f reps=%d %s\n",
              bench, impl, g / p, p * 1e3, g * 1e3, median(tr) * 1e3, median(ts) * 1e3, reps, extra);
  std::fflush(stdout);
}

// One function's gradient by Tool, timed against the plain function: f takes a pointer to
// the inputs (double or Tool's active type); returns the gradient at x.
template <class Tool, class F>
std::vector<double> peer_run(const char* bench, const char* per, double count, int reps,
                             const std::vector<double>& x, F f) {
  std::vector<typename Tool::Active> ax(x.size());  // constructed once, outside the timing
  std::vector<double> g(x.size());
  auto primal = [&] { sink = f(x.data()); };
  auto gradient = [&] { return Tool::gradient(ax, x, f, g); };
  gradient();
  char extra[400];
  Tool::tape_extra(extra, sizeof extra, per, count);
  measure2(bench, Tool::name, reps, primal, gradient, extra);
  return g;
}

// f1 (n = 10^6), f2 (n = 10^5) and 1,000 RK4 steps by Tool, which provides: Active (its
// active type), name (the PEER line's impl), gradient(ax, x, f, g) (record f at x on the
// inputs ax, seed the output with 1, sweep, read every input's gradient into g; returns the
// instant the recording ended) and tape_extra(buf, len, per, count) (the PEER line's tape
// sizes). `label` names the tool in error messages. `--quick` runs few repetitions.
template <class Tool> int peer_main(int argc, char** argv, const char* label) {
  bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  const size_t n1 = 1000000, n2 = 100000;
  auto x1 = inputs(n1), x2 = inputs(n2);
  check("scalar_f1", x1,
        peer_run<Tool>("scalar_f1", "element", n1, quick ? 3 : 31, x1, [](auto* a) { return f1(a, n1); }),
        f1_value_grad);
  check("scalar_f2", x2,
        peer_run<Tool>("scalar_f2", "element", n2, quick ? 5 : 201, x2, [](auto* a) { return f2(a, n2); }),
        f2_value_grad);
  const int steps = 1000;
  std::vector<double> x0p = {10.0, 5.0, 1.5, 1.0, 3.0, 1.0};  // initial state, then parameters
  auto g = peer_run<Tool>("scalar_rk4", "step", steps, quick ? 5 : 201, x0p,
                          [](auto* a) { return lv_loop(a, a + 2, steps); });
  check_rk4(label, g.data());
  return 0;
}
