"""One entry per claim of the founding papers, and the README's demo."""
