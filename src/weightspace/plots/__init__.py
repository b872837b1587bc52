"""Every figure weightspace draws, one module per family; each function returns a `matplotlib.figure.Figure`.

matplotlib is imported inside the drawing functions and never through pyplot, so importing weightspace
selects no backend and creates no global figure state. Saving is the caller's: `save_figure(fig, path)`
writes a PNG atomically.

Example:
  >>> from weightspace.plots import plot_series, save_figure
  >>> fig = plot_series([1, 2, 4], {"barrier": [0.3, 0.2, 0.1]}, xlabel="width")
  >>> len(fig.axes)
  1
"""

from ._figure import new_figure, save_figure
from .continuous import plot_component_counts, plot_curvature_bound, plot_orbit, plot_paths, plot_rescaling
from .counting import plot_ratio
from .critical import plot_band, plot_chain, plot_spectrum, plot_split_family
from .flatness import plot_local_energy
from .paths import plot_path_curves, plot_series

__all__ = [
    "new_figure",
    "plot_band",
    "plot_chain",
    "plot_component_counts",
    "plot_curvature_bound",
    "plot_local_energy",
    "plot_orbit",
    "plot_path_curves",
    "plot_paths",
    "plot_ratio",
    "plot_rescaling",
    "plot_series",
    "plot_spectrum",
    "plot_split_family",
    "save_figure",
]
