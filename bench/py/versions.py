"""Prints one line naming the version of a peer (for the table of bench/compare.sh)."""
import sys

what = sys.argv[1]
if what == "numpy":
    import numpy
    from threadpoolctl import threadpool_info

    numpy.ones(2) @ numpy.ones(2)
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')} kernel)"
            for i in threadpool_info() if i["user_api"] == "blas"]
    print(numpy.__version__, "with", ", ".join(blas) or "no BLAS found")
elif what == "torch":
    import torch

    extras = [n for n, ok in (("MKL", torch.backends.mkl.is_available()),
                              ("oneDNN", torch.backends.mkldnn.is_available())) if ok]
    print(f"{torch.__version__} (PyPI wheel, CPU kernels: {', '.join(extras) or 'plain'}; threads: OpenMP)")
elif what == "jax":
    import jax
    import jaxlib

    print(f"{jax.__version__} / jaxlib {jaxlib.__version__}")
