"""irt_models: item response theory calibration and scoring on sparse long-format data.

Arrays in, result objects out; numpy and scipy only, no I/O. One verb per task, as in
mirt (Chalmers 2012):

- ``calibrate``: marginal maximum likelihood (Bock-Aitkin EM) for Rasch, 2PL, graded and
  mixed item banks, with fixed-item calibration onto an existing scale;
- ``score``: EAP (default) or MAP person scores with standard errors;
- ``link``: Stocking-Lord or mean/sigma linking between two calibrations;
- ``item_fit``: infit/outfit mean squares, S-X2 (on each person's own form) and
  discrimination flags;
- ``summed_score_likelihood``: f(s | theta) by the Lord-Wingersky recursion;
- ``likelihoods`` / ``score_groups``: each person's likelihood on the quadrature nodes, and
  from those the marginal ML latent mean (and spread) of groups of persons, items fixed;
- ``marginal_loglik``: the marginal log-likelihood of data under given parameters;
- ``simulate``: seedable data for tests and benchmarks;
- ``item_information`` / ``test_information``: Fisher information curves;
- ``assign_skill``: which of several skills an item assesses, chosen by the data.
- ``dif``: differential item functioning between groups, Mantel-Haenszel (ETS A/B/C) or a
  likelihood-ratio test against anchored items.
- ``drift``: item parameter drift of anchored items, observed against expected score sums
  per time window.

``Calibration.from_parameters`` rebuilds a calibration from stored parameters.
"""

from .calibrate import ConvergenceWarning, DegenerateGroupsWarning, calibrate
from .data import wide_to_long
from .dif import ALL_OTHERS, DIF, dif
from .drift import Drift, drift
from .fit import ItemFit, item_fit
from .group_scores import GroupScores, Likelihoods, likelihoods, score_groups
from .item_information import item_information, test_information
from .linking import Linking, common_items, link
from .models import MODELS
from .mstep import ItemPrior
from .results import FLAGS, Calibration
from .scoring import Scores, marginal_loglik, marginal_reliability, score
from .simulate import Simulation, simulate, simulate_items
from .skill_assignment import SkillAssignment, assign_skill
from .summed_score import summed_score_likelihood

__all__ = [
    "FLAGS",
    "MODELS",
    "Calibration",
    "ConvergenceWarning",
    "ALL_OTHERS",
    "DIF",
    "DegenerateGroupsWarning",
    "Drift",
    "GroupScores",
    "ItemFit",
    "ItemPrior",
    "Likelihoods",
    "Linking",
    "Scores",
    "Simulation",
    "SkillAssignment",
    "assign_skill",
    "calibrate",
    "common_items",
    "dif",
    "drift",
    "item_fit",
    "item_information",
    "likelihoods",
    "link",
    "marginal_loglik",
    "marginal_reliability",
    "score",
    "score_groups",
    "simulate",
    "simulate_items",
    "summed_score_likelihood",
    "test_information",
    "wide_to_long",
]
