// CoDiPack codi::RealReverse (Jacobian tape, linear index management) on f1, f2 and RK4
// Lotka-Volterra. Gradient = tape.reset() (clears the tape and the adjoints), setActive,
// registerInput for every input, record f, registerOutput, setPassive, y.gradient() = 1,
// tape.evaluate(), read every input's gradient.
#include <codi.hpp>
#include "peer_common.hpp"

using R = codi::RealReverse;

// Tape bytes = Jacobian entries (Real + Identifier) + statement entries (ArgumentSize; the linear
// index manager stores no left-hand-side index), from TapeParameters.
static void tape_extra(char* buf, size_t len, const char* per, double count) {
  auto& tape = R::getTape();
  double jac = (double)tape.getParameter(codi::TapeParameters::JacobianSize);
  double stmt = (double)tape.getParameter(codi::TapeParameters::StatementSize);
  double bytes = jac * (sizeof(double) + sizeof(int)) + stmt * sizeof(codi::Config::ArgumentSize);
  std::snprintf(buf, len, "tape_bytes_per_%s=%.2f statements_per_%s=%.3f jacobians_per_%s=%.3f", per, bytes / count,
                per, stmt / count, per, jac / count);
}

template <class F, class Ref> void run(const char* bench, size_t n, int reps, F f, Ref ref) {
  auto& tape = R::getTape();
  auto x = inputs(n);
  std::vector<double> g(n);
  std::vector<R> ax(n);
  auto primal = [&] { sink = f(x.data(), n); };
  auto gradient = [&] {
    tape.reset();
    tape.setActive();
    for (size_t i = 0; i < n; ++i) {
      ax[i] = x[i];
      tape.registerInput(ax[i]);
    }
    R y = f(ax.data(), n);
    tape.registerOutput(y);
    tape.setPassive();
    auto rec = std::chrono::steady_clock::now();
    y.gradient() = 1.0;
    tape.evaluate();
    for (size_t i = 0; i < n; ++i) g[i] = ax[i].getGradient();
    return rec;
  };
  gradient();
  char extra[400];
  tape_extra(extra, sizeof extra, "element", (double)n);
  measure2(bench, "codipack", reps, primal, gradient, extra);
  check(bench, x, g, ref);
}

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  run("scalar_f1", 1000000, quick ? 3 : 31, [](auto* x, size_t n) { return f1(x, n); }, f1_value_grad);
  run("scalar_f2", 100000, quick ? 5 : 201, [](auto* x, size_t n) { return f2(x, n); }, f2_value_grad);
  {
    auto& tape = R::getTape();
    const int steps = 1000;
    std::vector<double> x0 = {10.0, 5.0}, p = {1.5, 1.0, 3.0, 1.0};
    std::vector<R> ax(6);
    double g[6];
    auto primal = [&] { sink = lv_loop(x0.data(), p.data(), steps); };
    auto gradient = [&] {
      tape.reset();
      tape.setActive();
      for (int i = 0; i < 2; ++i) { ax[i] = x0[i]; tape.registerInput(ax[i]); }
      for (int i = 0; i < 4; ++i) { ax[2 + i] = p[i]; tape.registerInput(ax[2 + i]); }
      R y = lv_loop(ax.data(), ax.data() + 2, steps);
      tape.registerOutput(y);
      tape.setPassive();
      auto rec = std::chrono::steady_clock::now();
      y.gradient() = 1.0;
      tape.evaluate();
      for (int i = 0; i < 6; ++i) g[i] = ax[i].getGradient();
      return rec;
    };
    gradient();
    char extra[400];
    tape_extra(extra, sizeof extra, "step", (double)steps);
    measure2("scalar_rk4", "codipack", quick ? 5 : 201, primal, gradient, extra);
    check_rk4("CoDiPack", g);
  }
}
