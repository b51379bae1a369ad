# Shared helpers for the cross-software reference scripts (sourced by every
# tests/reference/crosscheck/<case>/make_reference.R; run from the repository root).
#
# R is NOT a dependency of openhlm: these scripts only (re)generate the committed
# reference.json / CSV files that the Python tests read.
#
# What lives here:
#   * fit_lmer_tight(): lme4 fit at the true optimum (nloptwrap with tight tolerances,
#     polished by bobyqa from the nloptwrap optimum; the lower criterion wins); records
#     warnings, singularity and the optimizer that won.
#   * hlm_design(): builds HLM's level-1 design X, the level-2 designs W_q and the
#     mixed-form fixed design A (one column per gamma, in HLM order G00, G01, ..., G10, ...).
#   * hlm_stats(): HLM's reliability (docs/statistics.md sec. 5) and the chi-square test of
#     tau_qq = 0 (sec. 4), coded independently of lme4 from the estimates only.
#   * homogeneity_H() (sec. 9), unit_ols() (sec. 7).
#   * robust_cr0_manual(): HLM's CR0 sandwich coded by hand, used to cross-check clubSandwich.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(clubSandwich)
})

software_versions <- function(extra = character()) {
  pk <- unique(c("lme4", "Matrix", "nloptr", "minqa", "clubSandwich", "jsonlite", extra))
  out <- list(R = paste(R.version$major, R.version$minor, sep = "."))
  for (p in pk) out[[p]] <- as.character(utils::packageVersion(p))
  out
}

write_reference_json <- function(x, path) {
  jsonlite::write_json(x, path, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                       na = "null")
}

write_csv_full <- function(df, path) {
  # 17 significant digits so doubles round-trip exactly
  # shortest of %.15g/%.16g/%.17g that round-trips exactly, so doubles are preserved bit for bit
  short <- function(x) {
    out <- sprintf("%.15g", x)
    for (dg in 16:17) {
      bad <- !is.na(x) & suppressWarnings(as.numeric(out)) != x
      if (!any(bad)) break
      out[bad] <- sprintf(paste0("%.", dg, "g"), x[bad])
    }
    out[is.na(x)] <- "NA"
    out
  }
  for (nm in names(df)) if (is.double(df[[nm]])) df[[nm]] <- short(df[[nm]])
  utils::write.csv(df, path, row.names = FALSE, quote = FALSE)
}

# ---------------------------------------------------------------------------------------------
# HS&B data as HLM sees it
# ---------------------------------------------------------------------------------------------
read_hsb <- function() {
  l1 <- utils::read.csv("src/openhlm/datasets/hsb/hsb1.csv")
  l2 <- utils::read.csv("src/openhlm/datasets/hsb/hsb2.csv")
  l1$.row <- seq_len(nrow(l1))
  d <- merge(l1, l2, by = "id", sort = FALSE)
  d <- d[order(d$.row), ]
  rownames(d) <- NULL
  stopifnot(nrow(d) == 7185, identical(d$.row, seq_len(7185)))
  # HLM group-mean centring: the school's SAMPLE mean over its rows
  d$cses <- d$ses - stats::ave(d$ses, d$id)
  d$male <- 1 - d$female
  d$.row <- NULL
  d
}

# ---------------------------------------------------------------------------------------------
# Fitting at the true optimum
# ---------------------------------------------------------------------------------------------
ctrl_nlopt <- function() {
  lmerControl(optimizer = "nloptwrap",
              optCtrl = list(xtol_abs = 1e-10, ftol_abs = 1e-12, xtol_rel = 0, ftol_rel = 0,
                             maxeval = 1e5),
              check.conv.singular = .makeCC(action = "ignore", tol = 1e-4))
}
ctrl_bobyqa <- function() {
  lmerControl(optimizer = "bobyqa",
              optCtrl = list(rhobeg = 2e-3, rhoend = 1e-10, maxfun = 1e5),
              check.conv.singular = .makeCC(action = "ignore", tol = 1e-4))
}

capture_warnings <- function(expr) {
  w <- character()
  val <- withCallingHandlers(expr, warning = function(cond) {
    w <<- c(w, conditionMessage(cond))
    invokeRestart("muffleWarning")
  })
  list(value = val, warnings = w)
}

fit_lmer_tight <- function(formula, data, REML) {
  a <- capture_warnings(lmer(formula, data = data, REML = REML, control = ctrl_nlopt()))
  crit <- function(f) if (REML) REMLcrit(f) else deviance(f)
  # polish from the nloptwrap optimum with bobyqa (small initial trust region)
  b <- capture_warnings(lmer(formula, data = data, REML = REML, control = ctrl_bobyqa(),
                             start = list(theta = getME(a$value, "theta"))))
  ca <- crit(a$value); cb <- crit(b$value)
  best <- if (cb < ca) b else a
  fit <- best$value
  msgs <- unique(c(fit@optinfo$conv$lme4$messages, best$warnings))
  list(fit = fit,
       optimizer = if (cb < ca) "bobyqa (polish of nloptwrap)" else "nloptwrap",
       criterion_nloptwrap = ca, criterion_bobyqa_polish = cb,
       warnings = if (length(msgs)) msgs else character(),
       singular = isSingular(fit, tol = 1e-4),
       max_abs_gradient = if (!is.null(fit@optinfo$derivs)) max(abs(fit@optinfo$derivs$gradient)) else NA)
}

# ---------------------------------------------------------------------------------------------
# HLM design: spec = list(outcome, id, level1 = list(<LABEL> = list(x, random, level2, w_labels,
#                 lme4_ranef)), constraints = list(c("G02","G12"), ...))
#   x        : name of the level-1 column, or NULL for the level-1 intercept (INTRCPT1)
#   random   : TRUE if the coefficient has a random effect u_qj
#   level2   : character vector of level-2 columns; "1" = INTRCPT2.  character() = no fixed part
#   lme4_ranef : the lme4 random-effect column name ("(Intercept)", "cses", ...) if random
# ---------------------------------------------------------------------------------------------
hlm_design <- function(spec, data) {
  ids <- data[[spec$id]]
  X <- NULL; A <- NULL; glab <- character(); geq <- integer(); W <- list()
  labs <- names(spec$level1)
  for (q in seq_along(labs)) {
    cf <- spec$level1[[q]]
    xq <- if (is.null(cf$x)) rep(1, nrow(data)) else data[[cf$x]]
    X <- cbind(X, xq)
    qq <- if (isTRUE(spec$no_level1_intercept)) q else q - 1
    for (s in seq_along(cf$level2)) {
      w <- if (cf$level2[s] == "1") rep(1, nrow(data)) else data[[cf$level2[s]]]
      A <- cbind(A, xq * w)
      glab <- c(glab, sprintf("G%d%d", qq, s - 1))
      geq <- c(geq, q)
    }
  }
  colnames(X) <- labs
  colnames(A) <- glab
  list(X = X, A = A, gamma_labels = glab, gamma_eq = geq, ids = ids)
}

# level-2 matrix W_q (J x F_q) for unit-level values, in the order of `units`
level2_matrix <- function(spec, data, q, units) {
  cf <- spec$level1[[q]]
  first <- match(units, data[[spec$id]])
  if (length(cf$level2) == 0) return(matrix(0, length(units), 0))
  do.call(cbind, lapply(cf$level2, function(v) if (v == "1") rep(1, length(units)) else data[[v]][first]))
}

# Map every HLM gamma (or constrained group) to the lme4 fixed-effect column with the same values.
map_gammas_to_lme4 <- function(des, Xlme4, constraints = list()) {
  groups <- lapply(des$gamma_labels, identity)
  # merge constrained gammas into one group (first label is the printed one)
  for (cg in constraints) {
    keep <- vapply(groups, function(g) !any(g %in% cg), logical(1))
    groups <- c(groups[keep], list(cg))
    ord <- vapply(groups, function(g) match(g[1], des$gamma_labels), integer(1))
    groups <- groups[order(ord)]
  }
  nm <- character(length(groups))
  for (k in seq_along(groups)) {
    col <- rowSums(des$A[, groups[[k]], drop = FALSE])
    d <- apply(Xlme4, 2, function(z) max(abs(z - col)))
    if (min(d) > 1e-9) stop("no lme4 column matches gamma group ", paste(groups[[k]], collapse = "="))
    nm[k] <- colnames(Xlme4)[which.min(d)]
  }
  stopifnot(!anyDuplicated(nm), length(nm) == ncol(Xlme4))
  list(groups = groups, lme4_names = nm, printed = vapply(groups, `[`, "", 1))
}

# ---------------------------------------------------------------------------------------------
# HLM statistics (docs/statistics.md sections 4, 5): chi-square of tau_qq = 0 and reliability
#   gamma_full: named vector over ALL gamma labels (constrained ones repeated)
# ---------------------------------------------------------------------------------------------
hlm_stats <- function(spec, data, des, gamma_full, sigma2, Tmat) {
  labs <- names(spec$level1)
  rnd <- which(vapply(spec$level1, function(cf) isTRUE(cf$random), logical(1)))
  fixq <- setdiff(seq_along(labs), rnd)
  ids <- des$ids
  units <- unique(ids)
  y <- data[[spec$outcome]]
  # fixed part contributed by fixed / non-randomly varying coefficients at gamma_hat
  fixed_part <- rep(0, length(y))
  for (q in fixq) {
    g <- des$gamma_eq == q
    if (any(g)) fixed_part <- fixed_part + des$A[, g, drop = FALSE] %*% gamma_full[des$gamma_labels[g]]
  }
  yadj <- y - as.vector(fixed_part)
  XR <- des$X[, rnd, drop = FALSE]
  QR <- length(rnd)
  Wq <- lapply(rnd, function(q) level2_matrix(spec, data, q, units))
  gq <- lapply(rnd, function(q) gamma_full[des$gamma_labels[des$gamma_eq == q]])
  chi <- numeric(QR); rel <- numeric(QR); used <- 0L
  per_unit <- vector("list", length(units))
  for (jj in seq_along(units)) {
    r <- which(ids == units[jj])
    Xj <- XR[r, , drop = FALSE]
    nj <- length(r)
    if (nj <= QR) next
    qrj <- qr(Xj)
    if (qrj$rank < QR) next
    XtXi <- chol2inv(qr.R(qrj))[order(qrj$pivot), order(qrj$pivot), drop = FALSE]
    bj <- as.vector(XtXi %*% crossprod(Xj, yadj[r]))
    used <- used + 1L
    for (k in seq_len(QR)) {
      fit_k <- if (length(gq[[k]])) sum(Wq[[k]][jj, ] * gq[[k]]) else 0
      v <- sigma2 * XtXi[k, k]
      chi[k] <- chi[k] + (bj[k] - fit_k)^2 / v
      rel[k] <- rel[k] + Tmat[k, k] / (Tmat[k, k] + v)
    }
  }
  Fq <- vapply(rnd, function(q) sum(des$gamma_eq == q), integer(1))
  rl <- labs[rnd]
  list(
    reliability = setNames(as.list(rel / used), rl),
    chi2 = setNames(lapply(seq_len(QR), function(k)
      list(stat = chi[k], df = used - Fq[k], p_value = pchisq(chi[k], used - Fq[k], lower.tail = FALSE))), rl),
    units_used = used
  )
}

# Unit OLS on the full level-1 design (sec. 7 and sec. 9).  Sufficient data: full column rank
# and n_j > p (so that a residual d.f. exists).
unit_ols <- function(y, X, ids) {
  units <- unique(ids)
  p <- ncol(X)
  res <- lapply(units, function(u) {
    r <- which(ids == u)
    Xj <- X[r, , drop = FALSE]
    nj <- length(r)
    q <- qr(Xj)
    ok <- nj > p && q$rank == p
    if (!ok) return(list(id = u, n = nj, ok = FALSE, coef = rep(NA_real_, p), sse = NA_real_))
    b <- qr.coef(q, y[r])
    list(id = u, n = nj, ok = TRUE, coef = as.vector(b), sse = sum(qr.resid(q, y[r])^2))
  })
  res
}

homogeneity_H <- function(ols, p) {
  f <- vapply(ols, function(o) if (o$ok) o$n - p else NA_real_, 0)
  s2 <- vapply(ols, function(o) if (o$ok) o$sse / (o$n - p) else NA_real_, 0)
  use <- !is.na(f) & f >= 1 & s2 > 0
  f <- f[use]; ls2 <- log(s2[use])
  Lbar <- sum(f * ls2) / sum(f)
  d <- (ls2 - Lbar) / sqrt(2 / f)
  H <- sum(d^2)
  list(H = H, df = sum(use) - 1L, units_used = sum(use),
       p_value = pchisq(H, sum(use) - 1L, lower.tail = FALSE),
       rule = "unit OLS on the full level-1 design; units with full column rank, f_j = n_j - p >= 1 and s_j^2 > 0")
}

level1_ols_block <- function(ols, labels, first = 10) {
  head_units <- ols[seq_len(min(first, length(ols)))]
  ok <- vapply(ols, `[[`, TRUE, "ok")
  avg <- colMeans(do.call(rbind, lapply(ols[ok], `[[`, "coef")))
  list(
    labels = I(labels),
    first_units = lapply(head_units, function(o) list(id = o$id, n = o$n, sufficient = o$ok,
                                                      coef = if (o$ok) I(o$coef) else NULL)),
    average = setNames(as.list(avg), labels),
    units_with_sufficient_data = sum(ok),
    rule = "first 10 units in file order; OLS of Y on the full level-1 design; a unit is skipped (sufficient = false) unless its design has full column rank and n_j > p; average = simple mean over all sufficient units"
  )
}

# HLM's CR0 sandwich (sec. 3) coded by hand from an lme4 fit: returns list(model, robust)
robust_cr0_manual <- function(fit) {
  X <- getME(fit, "X"); Z <- getME(fit, "Z"); y <- getME(fit, "y")
  s2 <- sigma(fit)^2
  Lambda <- getME(fit, "Lambda")
  G <- s2 * tcrossprod(Lambda)          # covariance of all random effects
  grp <- getME(fit, "flist")[[1]]
  e <- as.vector(y - X %*% fixef(fit))
  Fp <- ncol(X)
  M <- matrix(0, Fp, Fp); meat <- matrix(0, Fp, Fp)
  for (g in levels(grp)) {
    r <- which(grp == g)
    cz <- which(rep(levels(grp), each = ncol(Z) / nlevels(grp)) == g)
    Zj <- as.matrix(Z[r, cz, drop = FALSE])
    Vj <- Zj %*% as.matrix(G[cz, cz]) %*% t(Zj) + diag(s2, length(r))
    Vi <- solve(Vj)
    Xj <- X[r, , drop = FALSE]
    M <- M + t(Xj) %*% Vi %*% Xj
    s <- t(Xj) %*% Vi %*% e[r]
    meat <- meat + s %*% t(s)
  }
  Mi <- solve(M)
  list(model = Mi, robust = Mi %*% meat %*% Mi)
}

# ---------------------------------------------------------------------------------------------
# One complete reference record for an lme4 fit of an HLM spec
# ---------------------------------------------------------------------------------------------
hlm_equations_text <- function(spec) {
  labs <- names(spec$level1)
  nm <- function(cf) if (is.null(cf$x)) "INTRCPT" else toupper(cf$hlm_name %||% cf$x)
  qoff <- if (isTRUE(spec$no_level1_intercept)) 0 else -1
  l1 <- paste0("Y = ", paste(vapply(seq_along(labs), function(q) {
    cf <- spec$level1[[q]]
    if (is.null(cf$x)) sprintf("B%d", q + qoff) else sprintf("B%d*(%s)", q + qoff, toupper(cf$hlm_name %||% cf$x))
  }, ""), collapse = " + "), " + R")
  l2 <- vapply(seq_along(labs), function(q) {
    cf <- spec$level1[[q]]
    terms <- character()
    for (s in seq_along(cf$level2)) {
      terms <- c(terms, if (cf$level2[s] == "1") sprintf("G%d%d", q + qoff, s - 1)
                 else sprintf("G%d%d*(%s)", q + qoff, s - 1, toupper(cf$level2[s])))
    }
    if (isTRUE(cf$random)) terms <- c(terms, sprintf("U%d", q + qoff))
    sprintf("B%d = %s", q + qoff, paste(terms, collapse = " + "))
  }, "")
  cons <- vapply(spec$constraints %||% list(), function(cg) paste(cg, collapse = " = "), "")
  paste(c(l1, l2, if (length(cons)) paste("Constraint:", cons)), collapse = "\n")
}
`%||%` <- function(a, b) if (is.null(a)) b else a

reference_record <- function(key, spec, data, formula, REML, description, outdir,
                             first_ols = 10, null_model = FALSE, hlm_printed = NULL) {
  t0 <- proc.time()[["elapsed"]]
  ft <- fit_lmer_tight(formula, data, REML)
  fit <- ft$fit
  des <- hlm_design(spec, data)
  Xl <- getME(fit, "X")
  mp <- map_gammas_to_lme4(des, Xl, spec$constraints %||% list())
  beta <- fixef(fit)[mp$lme4_names]
  V <- as.matrix(vcov(fit))[mp$lme4_names, mp$lme4_names, drop = FALSE]
  Vr <- as.matrix(clubSandwich::vcovCR(fit, type = "CR0"))
  dimnames(Vr) <- list(colnames(Xl), colnames(Xl))
  Vr <- Vr[mp$lme4_names, mp$lme4_names, drop = FALSE]
  # independent check of clubSandwich and vcov against the hand-coded sandwich
  man <- robust_cr0_manual(fit)
  dimnames(man$model) <- dimnames(man$robust) <- list(colnames(Xl), colnames(Xl))
  stopifnot(max(abs(man$robust[mp$lme4_names, mp$lme4_names, drop = FALSE] - Vr)) < 1e-8 * max(abs(Vr)),
            max(abs(man$model[mp$lme4_names, mp$lme4_names, drop = FALSE] - V)) < 1e-8 * max(abs(V)))
  # full gamma vector (constrained gammas repeated)
  gamma_full <- setNames(numeric(length(des$gamma_labels)), des$gamma_labels)
  for (k in seq_along(mp$groups)) gamma_full[mp$groups[[k]]] <- beta[k]
  s2 <- sigma(fit)^2
  vc <- VarCorr(fit)[[1]]
  rnd <- which(vapply(spec$level1, function(cf) isTRUE(cf$random), logical(1)))
  rl <- names(spec$level1)[rnd]
  lme4_re <- vapply(spec$level1[rnd], `[[`, "", "lme4_ranef")
  Tm <- as.matrix(vc)[lme4_re, lme4_re, drop = FALSE]
  st <- hlm_stats(spec, data, des, gamma_full, s2, Tm)
  y <- data[[spec$outcome]]
  ols <- unit_ols(y, des$X, des$ids)
  Hs <- homogeneity_H(ols, ncol(des$X))
  # HLM approximate d.f.: J - F_q for gammas of random coefficients, N - F otherwise
  J <- length(unique(des$ids)); N <- nrow(data); Ftot <- length(mp$groups)
  printed_eq <- des$gamma_eq[match(mp$printed, des$gamma_labels)]
  # (F_q counts the printed, i.e. free, gammas of equation q: a constrained gamma is printed once,
  #  in the equation of its first label -- HLM 6.08 prints d.f. 158 for G10, G11 when G02 = G12)
  approx_df <- vapply(seq_along(mp$printed), function(k) {
    q <- printed_eq[k]
    if (isTRUE(spec$level1[[q]]$random)) J - sum(printed_eq == q) else N - Ftot
  }, 0)
  Fq_n <- length(rnd) * (length(rnd) + 1) / 2
  npar <- 1 + Fq_n + if (REML) 0 else Ftot
  # random effects file
  re <- ranef(fit, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")
  units <- unique(des$ids)
  ix <- match(as.character(units), rownames(re))
  rdf <- data.frame(id = units)
  for (k in seq_along(rl)) rdf[[rl[k]]] <- re[ix, lme4_re[k]]
  cn <- colnames(re)
  for (a in seq_along(rl)) for (b in a:length(rl)) {
    ia <- match(lme4_re[a], cn); ib <- match(lme4_re[b], cn)
    nm <- if (a == b) paste0("condvar_", rl[a]) else paste0("condcov_", rl[a], "_", rl[b])
    rdf[[nm]] <- pv[ia, ib, ix]
  }
  ranef_csv <- paste0(key, "_ranef.csv"); fitted_csv <- paste0(key, "_fitted.csv")
  write_csv_full(rdf, file.path(outdir, ranef_csv))
  write_csv_full(data.frame(id = des$ids, fitted = as.vector(fitted(fit))), file.path(outdir, fitted_csv))
  rec <- list(
    description = description,
    hlm_equations = hlm_equations_text(spec),
    method = if (REML) "REML" else "ML",
    lme4_formula = paste(deparse(formula, width.cutoff = 500), collapse = " "),
    n_level1 = N, n_level2 = J,
    fixed = list(hlm_labels = I(mp$printed), lme4_names = I(mp$lme4_names),
                 estimate = I(unname(beta)), se = I(unname(sqrt(diag(V)))),
                 robust_se_cr0 = I(unname(sqrt(diag(Vr)))),
                 t_ratio = I(unname(beta / sqrt(diag(V)))),
                 approx_df_hlm = I(approx_df),
                 vcov = unname(V), vcov_cr0 = unname(Vr)),
    sigma2 = s2,
    tau = list(labels = I(rl), matrix = unname(Tm)),
    deviance = if (REML) REMLcrit(fit) else deviance(fit),
    deviance_kind = if (REML) "REML criterion (-2 REML log-likelihood, lme4 REMLcrit)" else "ML deviance (-2 log-likelihood)",
    loglik = as.numeric(logLik(fit)),
    n_parameters = npar,
    reliability = st$reliability,
    chi2 = st$chi2,
    units_used = st$units_used,
    homogeneity = Hs,
    level1_ols = level1_ols_block(ols, colnames(des$X), first_ols),
    ranef_csv = ranef_csv, fitted_csv = fitted_csv,
    fit_info = list(optimizer = ft$optimizer,
                    criterion_nloptwrap = ft$criterion_nloptwrap,
                    criterion_bobyqa_polish = ft$criterion_bobyqa_polish,
                    singular = ft$singular, warnings = as.list(ft$warnings),
                    theta = I(unname(getME(fit, "theta"))))
  )
  if (length(spec$constraints)) {
    rec$fixed$constraints <- lapply(spec$constraints, identity)
    rec$fixed$gamma_full <- list(labels = I(names(gamma_full)), estimate = I(unname(gamma_full)))
  }
  if (null_model) rec$icc <- Tm[1, 1] / (Tm[1, 1] + s2)
  if (!is.null(hlm_printed)) rec$hlm_printed <- hlm_printed
  message(sprintf("%-28s %-4s dev=%.6f  sigma2=%.6f  J'=%d  (%.1fs)%s", key, rec$method, rec$deviance,
                  s2, st$units_used, proc.time()[["elapsed"]] - t0,
                  if (ft$singular || length(ft$warnings)) "  [singular/warnings]" else ""))
  rec
}

# Wald chi-square of a general linear hypothesis "these gammas = 0 jointly" (docs/statistics.md sec. 8.1)
# with the model-based and the CR0 covariance of a reference_record().
wald <- function(rec, labels) {
  k <- match(labels, rec$fixed$hlm_labels)
  g <- rec$fixed$estimate[k]
  one <- function(V) {
    Vk <- V[k, k, drop = FALSE]
    stat <- as.numeric(t(g) %*% solve(Vk, g))
    list(stat = stat, df = length(k), p_value = pchisq(stat, length(k), lower.tail = FALSE))
  }
  list(hypothesis = paste(paste(labels, "= 0"), collapse = " and "),
       contrast_matrix = unname(diag(length(rec$fixed$hlm_labels))[k, , drop = FALSE]),
       contrast_estimate = I(g),
       model_based = c(one(rec$fixed$vcov), list(contrast_se = I(sqrt(diag(rec$fixed$vcov)[k])))),
       robust_cr0 = c(one(rec$fixed$vcov_cr0), list(contrast_se = I(sqrt(diag(rec$fixed$vcov_cr0)[k])))))
}

