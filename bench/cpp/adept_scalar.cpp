// Adept-2 (adept::adouble, one global Stack) on f1, f2 and RK4 Lotka-Volterra.
// Gradient = stack.new_recording() (clears statements and gradients), set the input values
// (Adept registers an active variable's gradient index when it is constructed: the input
// vector is constructed once, outside the timing), record f, y.set_gradient(1),
// stack.reverse(), read every input's gradient.
#include <adept.h>
#include "peer_common.hpp"

using adept::adouble;
static adept::Stack stack;

// Tape bytes = statements (2 uIndex) + operations (Real multiplier + uIndex), as Stack::memory()
// counts them without its gradient vector.
static void tape_extra(char* buf, size_t len, const char* per, double count) {
  double bytes = stack.n_statements() * 2.0 * sizeof(adept::uIndex) +
                 stack.n_operations() * (double)(sizeof(adept::Real) + sizeof(adept::uIndex));
  std::snprintf(buf, len, "tape_bytes_per_%s=%.2f statements_per_%s=%.3f operations_per_%s=%.3f memory_incl_gradients_per_%s=%.2f",
                per, bytes / count, per, stack.n_statements() / count, per, stack.n_operations() / count, per,
                stack.memory() / count);
}

template <class F, class Ref> void run(const char* bench, size_t n, int reps, F f, Ref ref) {
  auto x = inputs(n);
  std::vector<double> g(n);
  std::vector<adouble> ax(n);
  auto primal = [&] { sink = f(x.data(), n); };
  auto gradient = [&] {
    stack.new_recording();
    for (size_t i = 0; i < n; ++i) ax[i].set_value(x[i]);
    adouble y = f(ax.data(), n);
    auto rec = std::chrono::steady_clock::now();
    y.set_gradient(1.0);
    stack.reverse();
    for (size_t i = 0; i < n; ++i) g[i] = ax[i].get_gradient();
    return rec;
  };
  gradient();
  char extra[400];
  tape_extra(extra, sizeof extra, "element", (double)n);
  measure2(bench, "adept2", reps, primal, gradient, extra);
  check(bench, x, g, ref);
}

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  run("scalar_f1", 1000000, quick ? 3 : 31, [](auto* x, size_t n) { return f1(x, n); }, f1_value_grad);
  run("scalar_f2", 100000, quick ? 5 : 201, [](auto* x, size_t n) { return f2(x, n); }, f2_value_grad);
  {
    const int steps = 1000;
    std::vector<double> x0 = {10.0, 5.0}, p = {1.5, 1.0, 3.0, 1.0};
    std::vector<adouble> ax(6);
    double g[6];
    auto primal = [&] { sink = lv_loop(x0.data(), p.data(), steps); };
    auto gradient = [&] {
      stack.new_recording();
      for (int i = 0; i < 2; ++i) ax[i].set_value(x0[i]);
      for (int i = 0; i < 4; ++i) ax[2 + i].set_value(p[i]);
      adouble y = lv_loop(ax.data(), ax.data() + 2, steps);
      auto rec = std::chrono::steady_clock::now();
      y.set_gradient(1.0);
      stack.reverse();
      for (int i = 0; i < 6; ++i) g[i] = ax[i].get_gradient();
      return rec;
    };
    gradient();
    char extra[400];
    tape_extra(extra, sizeof extra, "step", (double)steps);
    measure2("scalar_rk4", "adept2", quick ? 5 : 201, primal, gradient, extra);
    check_rk4("Adept-2", g);
  }
}
