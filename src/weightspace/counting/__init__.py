"""Exact counts: symmetry-induced critical sets (Simsek et al. 2021, Brea et al. 2019) and components of
deep-linear minima (Zhao et al. 2025), with their brute-force twins (path search and cells live in `continuous`)."""

from ..plots.counting import plot_ratio
from ._brute_force import (
    G_brute_force,
    T_brute_force,
    disjoint_pairs_brute_force,
    permutation_group_order_brute_force,
    permutation_points_brute_force,
    stirling2_brute_force,
)
from ._closed_form import (
    CROSSOVER_H_MAX,
    CROSSOVER_R_STAR_MAX,
    POWER_BITS_MAX,
    TOTAL_POWER_BITS_MAX,
    G,
    T,
    crossover,
    disjoint_pair_count,
    permutation_group_order,
    permutation_point_count,
    permutation_point_factor,
    ratio,
    stirling2,
)
from ._components import ComponentCount, count_components
from ._report import (
    JSON_INT_MAX_DIGITS,
    CountRow,
    count_table,
    decimal_string,
    json_count,
    json_rational,
    leading_digits,
)

__all__ = [
    "ComponentCount",
    "count_components",
    "CROSSOVER_H_MAX",
    "CROSSOVER_R_STAR_MAX",
    "JSON_INT_MAX_DIGITS",
    "POWER_BITS_MAX",
    "TOTAL_POWER_BITS_MAX",
    "CountRow",
    "G",
    "G_brute_force",
    "T",
    "T_brute_force",
    "count_table",
    "crossover",
    "decimal_string",
    "disjoint_pair_count",
    "disjoint_pairs_brute_force",
    "json_count",
    "json_rational",
    "leading_digits",
    "permutation_group_order",
    "permutation_group_order_brute_force",
    "permutation_point_count",
    "permutation_point_factor",
    "permutation_points_brute_force",
    "plot_ratio",
    "ratio",
    "stirling2",
    "stirling2_brute_force",
]
