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

// The tool for peer_main: the gradient as described at the top of this file.
struct CoDi {
  using Active = R;
  static constexpr const char* name = "codipack";
  template <class F>
  static std::chrono::steady_clock::time_point gradient(std::vector<R>& ax, const std::vector<double>& x, F f,
                                                        std::vector<double>& g) {
    auto& tape = R::getTape();
    tape.reset();
    tape.setActive();
    for (size_t i = 0; i < x.size(); ++i) {
      ax[i] = x[i];
      tape.registerInput(ax[i]);
    }
    R y = f(ax.data());
    tape.registerOutput(y);
    tape.setPassive();
    auto rec = std::chrono::steady_clock::now();
    y.gradient() = 1.0;
    tape.evaluate();
    for (size_t i = 0; i < x.size(); ++i) g[i] = ax[i].getGradient();
    return rec;
  }
  static void tape_extra(char* buf, size_t len, const char* per, double count) { ::tape_extra(buf, len, per, count); }
};

int main(int argc, char** argv) { return peer_main<CoDi>(argc, argv, "CoDiPack"); }
