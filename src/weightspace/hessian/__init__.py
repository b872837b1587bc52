"""The Hessian of a loss L(θ) in weight space: HVPs, the dense Hessian, Lanczos, traces, spectra.

Every function takes `loss_fn(params) -> scalar` and a point `params` (a dict of tensors),
differentiated with respect to `keys` (default: every floating tensor; `loss_of` builds both from
a module and a batch and leaves buffers out). Vectors over weight space are flat, ordered as
`flatten(params, keys)`.

Extreme eigenpairs: `lanczos(..., method=)` runs ARPACK's implicitly restarted Lanczos ("arpack": a float64
basis of ncv ≥ max(2k + 1, 20) vectors) or two-pass Lanczos ("two-pass": 2 + k vectors in the params'
dtype, Cullum–Willoughby's test for spurious Ritz values, 2m − 1 HVPs for m steps, m without eigenvectors);
"auto" picks two-pass once ARPACK's basis would exceed 256 MiB. `power_iteration` is
PyHessian's method, kept as a baseline. `trace_estimate` is Hutchinson's estimator, batched to about 2**23
elements of probe vectors at a time by default.
"""

from ._dense import dense_hessian
from ._functional import LossFn, flatten, gradient, hvp, loss_of, select_keys, unflatten
from ._lanczos import lanczos, power_iteration
from ._spectrum import Spectrum, classify, default_threshold, spectrum
from ._subspace import null_space_overlap, orthonormal_basis
from ._trace import TraceEstimate, trace_estimate

__all__ = [
    "LossFn", "Spectrum", "TraceEstimate", "classify", "default_threshold", "dense_hessian", "flatten",
    "gradient", "hvp", "lanczos", "loss_of", "null_space_overlap", "orthonormal_basis", "power_iteration",
    "select_keys", "spectrum", "trace_estimate", "unflatten",
]
