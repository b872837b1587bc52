"""weightspace: loss landscapes modulo weight-space symmetry."""
__version__ = "0.1.0"
