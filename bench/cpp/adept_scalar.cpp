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

// The tool for peer_main: the gradient as described at the top of this file.
struct Adept {
  using Active = adouble;
  static constexpr const char* name = "adept2";
  template <class F>
  static std::chrono::steady_clock::time_point gradient(std::vector<adouble>& ax, const std::vector<double>& x,
                                                        F f, std::vector<double>& g) {
    stack.new_recording();
    for (size_t i = 0; i < x.size(); ++i) ax[i].set_value(x[i]);
    adouble y = f(ax.data());
    auto rec = std::chrono::steady_clock::now();
    y.set_gradient(1.0);
    stack.reverse();
    for (size_t i = 0; i < x.size(); ++i) g[i] = ax[i].get_gradient();
    return rec;
  }
  static void tape_extra(char* buf, size_t len, const char* per, double count) { ::tape_extra(buf, len, per, count); }
};

int main(int argc, char** argv) { return peer_main<Adept>(argc, argv, "Adept-2"); }
