// The hand-written gradient: the floor any tape is measured against. Plain double primal and a
// loop computing value and gradient together, timed interleaved.
#include "scalar_common.hpp"

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  {
    auto x = inputs(1000000);
    std::vector<double> g(x.size());
    measure("scalar_f1", "handwritten-C++", quick ? 3 : 15, [&] { sink = f1<double>(x.data(), x.size()); },
            [&] { sink = f1_value_grad(x.data(), x.size(), g.data()); });
  }
  {
    auto x = inputs(100000);
    std::vector<double> g(x.size());
    measure("scalar_f2", "handwritten-C++", quick ? 5 : 201, [&] { sink = f2<double>(x.data(), x.size()); },
            [&] { sink = f2_value_grad(x.data(), x.size(), g.data()); });
  }
}
