"""score_groups(): the latent mean (and spread) of groups of persons, items fixed.

A group's mean ability is estimated from all its persons' response patterns at once, by
marginal maximum likelihood with the item parameters fixed: each person ``p`` of group ``g``
contributes ``log sum_q L_p(theta_q) w_q(mu_g, sigma_g)``, with ``L_p`` the likelihood of the
person's responses on the quadrature nodes and ``w`` the normal density N(mu_g, sigma_g^2)
renormalised on the nodes (as the calibration's latent density is). This is how large-scale
assessments estimate group statistics (Mislevy 1984; the "latent regression" of NAEP with
group indicators only; mirt ``multipleGroup`` with the items fixed). Unlike an average of the
persons' EAP scores it uses every response pattern, short ones included, at its true weight,
and it is not shrunk towards the population mean by amounts that depend on test length.

``likelihoods`` computes ``log L_p`` on the nodes once (the same pass EAP scoring makes), so
that several partitions of the same persons (companies, industries, countries) and the
persons' posteriors cost one pass over the responses.

Two SEs answer two questions. ``se``: how far the estimate may be from the latent mean of
the population the group's persons come from. ``se_sample``: how far it may be from the mean
ability of exactly the group's persons (a finite population, the target of a company
benchmark); that adds the persons' measurement error, the uncertainty of the group's mean
and spread, and, given the items' SEs (``likelihoods(..., item_se=)``), the error of the
calibrated item parameters, which a large group does not average away.

References
----------
Mislevy, R. J. (1984). Estimating latent distributions. Psychometrika, 49, 359-381.
Cheng, Y., & Yuan, K.-H. (2010). The impact of fallible item parameter estimates on latent
trait recovery. Psychometrika, 75, 280-291.
Mislevy, R. J. (1991). Randomization-based inference about latent variables from complex
samples. Psychometrika, 56, 177-196.
Bock, R. D., & Zimowski, M. F. (1997). Multiple group IRT. In W. J. van der Linden &
R. K. Hambleton (Eds.), Handbook of modern item response theory (pp. 433-448). Springer.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from . import group_likelihoods
from .calibrate import ConvergenceWarning
from .data import as_labels, label_codes
from .group_likelihoods import CHUNK, ItemError, Likelihoods, item_variance  # noqa: F401

# The pass over the responses lives in group_likelihoods; exported from here as before.
likelihoods = group_likelihoods.likelihoods

# Bounds on log(sigma): a group's spread stays between 0.05 and 5 theta units.
LOG_SD_BOUNDS = (np.log(0.05), np.log(5.0))
# Bounds on the mean: a group whose every answer is right (or wrong) has no finite maximum;
# its mean stops here, well inside the quadrature grid, with a large SE.
MEAN_BOUNDS = (-4.0, 4.0)
# A person's posterior normaliser below this in linear space (likelihood and group prior barely
# overlap on the nodes) is recomputed in log space, where nothing underflows.
LINEAR_FLOOR = 1e-200
# Newton steps shorter than this (in mu and log sigma) are taken without a line search.
SHORT_STEP = 1e-3


class GroupScores(NamedTuple):
    """Group latent means, one row per group in sorted label order.

    Attributes
    ----------
    groups : ndarray of shape (n_groups,)
    mean, se : ndarray of shape (n_groups,)
        Maximum likelihood latent mean and its standard error from the observed information
        (with the spread estimated, its uncertainty is included), plus ``se_items``. NaN
        for a group without a person with responses.
    se_sample : ndarray of shape (n_groups,)
        Standard error of ``mean`` as an estimate of the mean ability of the group's own
        persons (a finite population) rather than of the latent mean. ``mean`` is the mean of
        the persons' posterior means under the group's prior (the likelihood equation of
        ``mu``), and ``se_sample^2`` the posterior variance of the persons' mean: the
        measurement part ``sum_p Var(theta_p | y_p) / n^2``, the hyperparameter part
        ``g' V g`` (``V`` the inverse observed information of mu and log sigma, ``g`` the
        derivatives of the mean posterior mean over them: the mean posterior over prior
        variance, and sigma times the mean posterior Cov(u, u^2); Mislevy 1991), and
        ``se_items^2``. Smaller than ``se``: the persons' own sampling from the latent
        population is no error for their mean.
    se_items : ndarray of shape (n_groups,)
        The part of both SEs due to the error of the item parameters (delta method with
        the items' SEs, independent across items; Cheng & Yuan 2010): 0 without
        ``likelihoods(..., item_se=)``.
    sd, sd_se : ndarray of shape (n_groups,)
        Latent standard deviation (estimated or the fixed one) and its SE (NaN when fixed).
    n_persons : ndarray of shape (n_groups,) of int
        Persons whose responses entered the estimate (at least one usable response).
    converged : ndarray of shape (n_groups,) of bool
    """

    groups: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    se_sample: np.ndarray
    se_items: np.ndarray
    sd: np.ndarray
    sd_se: np.ndarray
    n_persons: np.ndarray
    converged: np.ndarray


def score_groups(
    likelihoods: Likelihoods,
    groups,
    *,
    spread: float | None = None,
    spread_prior: tuple[float, float] = (1.0, 0.5),
    tol: float = 1e-6,
    max_iter: int = 100,
) -> GroupScores:
    """Marginal maximum likelihood latent mean of each group of persons, items fixed.

    Maximises, per group, ``sum_p log sum_q L_p(theta_q) w_q(mu, sigma)`` over ``mu`` (and
    ``sigma``) by Newton steps with the analytic gradient and Hessian (Louis 1982), all
    groups at once; the SE is from the observed information at the maximum.

    Parameters
    ----------
    likelihoods : Likelihoods
        From ``likelihoods(calibration, persons, items, responses)``.
    groups : array-like of shape (n_persons,)
        Group label of each person, aligned with ``likelihoods.persons``.
    spread : float, optional
        A fixed latent SD for every group. None (default): estimated per group, with a weak
        log-normal prior ``spread_prior`` = (median, SD of log) that keeps the spread of a
        group of a few persons finite (its mode, not its mean, is then the estimate).
    tol : float
        Stop when no parameter moves by more than this.
    max_iter : int

    Returns
    -------
    GroupScores
    """
    g_labels, code, ll, used = _check_groups(likelihoods, groups, spread, spread_prior)
    n_groups = len(g_labels)
    fit = _Fit(likelihoods.nodes, ll, code[used], n_groups, spread, spread_prior)
    converged = fit.run(tol, max_iter)
    n_persons = np.bincount(code[used], minlength=n_groups).astype(np.int64)
    if not converged.all():
        warnings.warn(
            f"score_groups: {int(np.sum(~converged))} group(s) did not converge in "
            f"{max_iter} iterations",
            ConvergenceWarning,
            stacklevel=2,
        )
    mean, se, se_sample, sd, sd_se = fit.estimates()
    se_items = np.zeros(n_groups)
    if likelihoods.item_error is not None:
        fit_row = np.where(used, np.cumsum(used) - 1, -1)
        se_items = np.sqrt(item_variance(fit, likelihoods.item_error, fit_row))
        se, se_sample = np.hypot(se, se_items), np.hypot(se_sample, se_items)
    empty = n_persons == 0
    for a in (mean, se, se_sample, se_items, sd, sd_se):
        a[empty] = np.nan
    return GroupScores(
        g_labels, mean, se, se_sample, se_items, sd, sd_se, n_persons, converged | empty
    )


def _check_groups(likelihoods, groups, spread, spread_prior):
    if not isinstance(likelihoods, Likelihoods):
        raise ValueError(f"likelihoods: expected a Likelihoods, got {type(likelihoods).__name__}")
    g = as_labels(groups, "groups")
    if len(g) != len(likelihoods.persons):
        raise ValueError(
            f"groups: expected one label per person ({len(likelihoods.persons)}), got {len(g)}"
        )
    if spread is not None and not (np.isfinite(spread) and spread > 0):
        raise ValueError(f"spread: expected a positive number or None, got {spread!r}")
    if not (spread_prior[0] > 0 and spread_prior[1] > 0):
        raise ValueError(f"spread_prior: expected two positive numbers, got {spread_prior!r}")
    labels, code = label_codes(g)
    used = np.asarray(likelihoods.n_items) > 0
    return labels, code.astype(np.int64), np.asarray(likelihoods.loglik)[used], used


class _Fit:
    """Newton iterations on (mu, log sigma) of every group, vectorised over groups."""

    def __init__(self, nodes, ll, code, n_groups, spread, spread_prior):
        self.nodes, self.ll, self.code, self.G = nodes, ll, code, n_groups
        self.free = spread is None
        self.prior_t, self.prior_var = np.log(spread_prior[0]), spread_prior[1] ** 2
        self.n = np.bincount(code, minlength=n_groups).astype(float)
        # Each person's likelihood in linear space, scaled so that its largest node is 1, and
        # the nodes' powers: a pass is then a product with the groups' prior weights and one
        # matrix product for the posterior moments, with no exp per person and node.
        self.ll_max = ll.max(axis=1) if ll.shape[1] else np.zeros(len(ll))
        self.lik = np.exp(ll - self.ll_max[:, None])
        self.powers = np.stack([nodes**k for k in (1, 2, 3, 4)], axis=1)
        self.mu = np.zeros(n_groups)
        self.t = np.full(n_groups, self.prior_t if self.free else np.log(spread))
        self.grad = self.hess = None

    def pass_(self, mu, t, derivatives, rows, groups=None):
        """Objective per group over the persons ``rows`` (the other groups' entries are
        meaningless); with ``derivatives`` also the gradient and Hessian at (mu, t), stored
        for the groups of the mask ``groups`` (default: all), whose persons ``rows`` must
        cover; the other groups keep theirs."""
        sig = np.exp(t)
        u0 = (self.nodes[None, :] - mu[:, None]) / sig[:, None]
        z0 = -0.5 * u0 * u0
        m0 = z0.max(axis=1)
        w0 = np.exp(z0 - m0[:, None])
        s0 = w0.sum(axis=1, keepdims=True)
        obj = np.zeros(self.G)
        acc = np.zeros((5, self.G))  # sums of E[u], Var u, E[u^2], Cov(u, u^2), Var u^2
        for lo in range(0, len(rows), CHUNK):
            r = rows[lo : lo + CHUNK]
            c = self.code[r]
            joint = self.lik[r] * w0[c]
            s = joint.sum(axis=1)
            linear = s > LINEAR_FLOOR
            if not linear.all():
                self._log_space(r[~linear], mu, sig, derivatives, obj, acc)
                r, c, joint, s = r[linear], c[linear], joint[linear], s[linear]
            obj += np.bincount(c, np.log(s) + self.ll_max[r] + m0[c], self.G)
            if derivatives:
                raw = (joint @ self.powers) / s[:, None]
                for k, v in enumerate(_moments_from_raw(raw, mu[c], sig[c])):
                    acc[k] += np.bincount(c, v, self.G)
        obj -= self.n * (np.log(s0[:, 0]) + m0)
        if self.free:
            obj -= 0.5 * (t - self.prior_t) ** 2 / self.prior_var
        if derivatives:
            prior = np.array(_moments(w0 / s0, u0)) * self.n
            self._derivatives(acc, prior, sig, t, groups)
        return obj

    def _log_space(self, r, mu, sig, derivatives, obj, acc):
        """The persons ``r`` whose likelihood and group prior barely overlap on the nodes
        (their linear-space sum would underflow), passed in log space; adds to obj, acc."""
        c = self.code[r]
        u = (self.nodes[None, :] - mu[c][:, None]) / sig[c][:, None]
        z = self.ll[r] - 0.5 * u * u
        m = z.max(axis=1, keepdims=True)
        w = np.exp(z - m)
        s = w.sum(axis=1, keepdims=True)
        obj += np.bincount(c, np.log(s[:, 0]) + m[:, 0], self.G)
        if derivatives:
            w /= s
            for k, v in enumerate(_moments(w, u)):
                acc[k] += np.bincount(c, v, self.G)

    def _derivatives(self, acc, prior, sig, t, groups):
        # Summed posterior minus prior moments; Louis's identity for the Hessian.
        eu, varu, eu2, cov, varu2 = acc - prior
        grad = np.stack([eu / sig, eu2])
        h_mm = varu / sig**2
        h_mt = (cov - 2 * eu) / sig
        h_tt = varu2 - 2 * eu2
        if self.free:
            grad[1] -= (t - self.prior_t) / self.prior_var
            h_tt = h_tt - 1.0 / self.prior_var
        hess = np.stack([h_mm, h_mt, h_tt])
        if groups is None or self.grad is None:
            self.grad, self.hess, self.eu2 = grad, hess, eu2
            self.post_var_u = acc[1].copy()  # sum over persons of Var(u_p | y_p)
            self.post_cov_u_u2 = acc[3].copy()  # sum over persons of Cov(u_p, u_p^2 | y_p)
            return
        self.grad[:, groups], self.hess[:, groups] = grad[:, groups], hess[:, groups]
        self.eu2[groups] = eu2[groups]
        self.post_var_u[groups], self.post_cov_u_u2[groups] = acc[1][groups], acc[3][groups]

    def step(self):
        g, (a, b, c) = self.grad, self.hess
        if not self.free:
            ok = a < 0
            em_mu = np.exp(2 * self.t) * g[0] / np.maximum(self.n, 1.0)
            d_mu = np.where(ok, -g[0] / np.where(ok, a, -1.0), em_mu)
            return d_mu, np.zeros(self.G)
        det = a * c - b * b
        ok = (a < 0) & (det > 0)
        safe = np.where(ok, det, 1.0)
        # Where the Hessian is not negative definite, an EM step (Bock & Aitkin 1981): the
        # mean of the posterior means, the log of the root mean posterior second moment.
        n = np.maximum(self.n, 1.0)
        sig = np.exp(self.t)
        em_mu = sig**2 * g[0] / n
        em_t = 0.5 * np.log(np.maximum(1.0 + self.eu2 / n, 1e-4))
        d_mu = np.where(ok, -(c * g[0] - b * g[1]) / safe, em_mu)
        d_t = np.where(ok, -(a * g[1] - b * g[0]) / safe, em_t)
        return d_mu, d_t

    def run(self, tol, max_iter):
        rows = np.arange(len(self.code))
        obj = self.pass_(self.mu, self.t, True, rows)
        converged = np.zeros(self.G, dtype=bool)
        for _ in range(max_iter):
            d_mu, d_t = self.step()
            # a mean at its bound moving outwards stays there; its spread alone moves on
            out = ((self.mu >= MEAN_BOUNDS[1]) & (d_mu > 0)) | (
                (self.mu <= MEAN_BOUNDS[0]) & (d_mu < 0)
            )
            c = self.hess[2]
            d_mu[out] = 0.0
            d_t[out] = np.where(
                c[out] < 0, -self.grad[1][out] / np.where(c[out] < 0, c[out], -1.0), 0.0
            )
            # at most 1 in either parameter, shortened together so the direction stays
            factor = 1.0 / np.maximum(1.0, np.maximum(np.abs(d_mu), np.abs(d_t)))
            d_mu, d_t = d_mu * factor, d_t * factor
            d_mu[converged], d_t[converged] = 0.0, 0.0
            scale = np.ones(self.G)
            # A Newton step this short, taken where the Hessian is negative definite, is in the
            # quadratic zone: it is taken without evaluating the objective (a pass saved).
            check = (np.maximum(np.abs(d_mu), np.abs(d_t)) >= SHORT_STEP) & ~converged
            # The pass that tests a step also gives the derivatives at it: a group whose step
            # is taken needs no second pass before its next step.
            evaluated = np.zeros(self.G, dtype=bool)
            worse = np.zeros(self.G, dtype=bool)
            for _ in range(12):  # halve the steps that do not increase the objective
                mu = np.clip(self.mu + scale * d_mu, *MEAN_BOUNDS)
                t = np.clip(self.t + scale * d_t, *LOG_SD_BOUNDS)
                if not check.any():
                    break
                new = self.pass_(mu, t, True, np.flatnonzero(check[self.code]), check)
                worse = (new < obj - 1e-10 * (1.0 + np.abs(obj))) & check
                taken = check & ~worse
                obj[taken], evaluated[taken] = new[taken], True
                if not worse.any():
                    break
                scale[worse] *= 0.5
                check = worse
            moved = np.maximum(np.abs(mu - self.mu), np.abs(t - self.t))
            keep = ~worse & ~converged
            self.mu[keep], self.t[keep] = mu[keep], t[keep]
            converged |= (moved < tol) | worse
            if converged.all():
                break
            # Groups still moving whose short step was taken untested: derivatives at their
            # new estimates from their persons alone. The last pass (derivatives at the
            # estimates) covers every person.
            stale = ~converged & ~evaluated
            if stale.any():
                new = self.pass_(self.mu, self.t, True, np.flatnonzero(stale[self.code]), stale)
                obj[stale] = new[stale]
        self.pass_(self.mu, self.t, True, np.arange(len(self.code)))
        return converged

    def estimates(self):
        a, b, c = -self.hess
        sig = np.exp(self.t)
        n = np.maximum(self.n, 1.0)
        # Gradient of the mean of the persons' posterior means over (mu, log sigma): the mean
        # posterior over prior variance, and sigma times the mean posterior Cov(u, u^2).
        r_mu, r_t = self.post_var_u / n, sig * self.post_cov_u_u2 / n
        if not self.free:
            var_mu = 1.0 / np.where(a > 0, a, np.nan)
            se, sd_se = np.sqrt(var_mu), np.full(self.G, np.nan)
            hyper = r_mu**2 * var_mu
        else:
            det = np.where(a * c - b * b > 0, a * c - b * b, np.nan)
            # the inverse of the observed information [[a, b], [b, c]]
            var_mu, cov_mt, var_t = c / det, -b / det, a / det
            se, sd_se = np.sqrt(var_mu), sig * np.sqrt(var_t)
            hyper = r_mu**2 * var_mu + 2 * r_mu * r_t * cov_mt + r_t**2 * var_t
        se_sample = np.sqrt(sig**2 * self.post_var_u / n**2 + np.maximum(hyper, 0.0))
        return self.mu.copy(), se, se_sample, sig, sd_se


def _moments_from_raw(raw, mu, sig):
    """Per row: E[u], Var u, E[u^2], Cov(u, u^2), Var u^2 of u = (theta - mu) / sig from the
    raw moments E[theta^k], k = 1..4 (columns of ``raw``), by the binomial expansion."""
    m1, m2, m3, m4 = raw.T
    mu2 = mu * mu
    e1 = (m1 - mu) / sig
    e2 = (m2 - 2 * mu * m1 + mu2) / sig**2
    e3 = (m3 - 3 * mu * m2 + 3 * mu2 * m1 - mu2 * mu) / sig**3
    e4 = (m4 - 4 * mu * m3 + 6 * mu2 * m2 - 4 * mu2 * mu * m1 + mu2 * mu2) / sig**4
    return e1, e2 - e1 * e1, e2, e3 - e1 * e2, e4 - e2 * e2


def _moments(w, u):
    """Per row: E[u], Var u, E[u^2], Cov(u, u^2), Var u^2 under the row weights ``w``."""
    u2 = u * u
    e1 = (w * u).sum(axis=1)
    e2 = (w * u2).sum(axis=1)
    e3 = (w * u2 * u).sum(axis=1)
    e4 = (w * u2 * u2).sum(axis=1)
    return e1, e2 - e1 * e1, e2, e3 - e1 * e2, e4 - e2 * e2
