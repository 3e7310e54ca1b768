// ADOL-C (Debian libadolc-dev) on the scalar-tape test functions.
//  adolc-retape: every repetition records the tape (trace_on/trace_off) and runs the gradient
//                driver on it, as an operator-overloading user does when inputs change.
//  adolc-reuse:  the tape recorded once; each repetition is the gradient() driver alone
//                (zero-order forward + first-order reverse sweep over the stored tape).
// Run from a directory holding an .adolcrc with large buffers, so tapes stay in memory
// (bench/compare.sh writes one).
#include "scalar_common.hpp"

#include <adolc/adolc.h>

template <class F, class Ref>
void run(const char* bench, short tag, size_t n, int reps, F f, Ref ref) {
  auto x = inputs(n);
  std::vector<double> g(n);
  auto primal = [&] { sink = f(x.data(), n, (double*)nullptr); };
  auto record = [&] {
    trace_on(tag);
    {
      std::vector<adouble> ax(n);
      for (size_t i = 0; i < n; ++i) ax[i] <<= x[i];
      adouble y = f(ax.data(), n, (adouble*)nullptr);
      double yv;
      y >>= yv;
      sink = yv;
    }
    trace_off();
  };
  auto retape = [&] {
    record();
    gradient(tag, (int)n, x.data(), g.data());
  };
  size_t c[STAT_SIZE];
  retape();
  tapestats(tag, c);
  char extra[300];
  std::snprintf(extra, sizeof extra,
                "ops_per_input=%.2f locations_per_input=%.2f values_per_input=%.2f taylors_per_input=%.2f "
                "tape_in_files=%d",
                (double)c[NUM_OPERATIONS] / n, (double)c[NUM_LOCATIONS] / n, (double)c[NUM_VALUES] / n,
                (double)c[TAY_STACK_SIZE] / n, (int)(c[OP_FILE_ACCESS] || c[LOC_FILE_ACCESS] || c[VAL_FILE_ACCESS]));
  measure(bench, "adolc-retape", reps, primal, retape, extra);
  check("ADOL-C retape", x, g, ref);
  measure(bench, "adolc-reuse", reps, primal, [&] { gradient(tag, (int)n, x.data(), g.data()); });
  check("ADOL-C reuse", x, g, ref);
}

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  run("scalar_f1", 1, 1000000, quick ? 3 : 7, [](auto* x, size_t n, auto*) { return f1(x, n); }, f1_value_grad);
  run("scalar_f2", 2, 100000, quick ? 5 : 51, [](auto* x, size_t n, auto*) { return f2(x, n); }, f2_value_grad);
}
