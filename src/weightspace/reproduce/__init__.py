"""Every paper claim by one command: the claims registry, the runner and the static HTML report.

`claims()` collects the claim records of the modules in `CLAIM_MODULES`; `run_claims` runs a selection at a
budget into a folder (results.json, one sub-folder per claim); `write_report` renders report.html from it.
Verdicts come from `verdict(value, threshold, direction)`, never from the claims themselves.
"""

from ._registry import BUDGETS, CLAIM_MODULES, COVERAGE, PAPERS, claims, select
from ._report import REPORT, render_report, write_report
from ._runner import RESULTS, environment, load_results, run_claims
from ._verdict import FAILS, HOLDS, INCONCLUSIVE, VERDICTS, verdict

__all__ = ["BUDGETS", "CLAIM_MODULES", "COVERAGE", "FAILS", "HOLDS", "INCONCLUSIVE", "PAPERS", "REPORT", "RESULTS",
           "VERDICTS", "claims", "environment", "load_results", "render_report", "run_claims", "select", "verdict",
           "write_report"]
