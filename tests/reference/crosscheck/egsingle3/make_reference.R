# mlmRev::egsingle (Chicago growth data of the HLM manual's HLM3 chapter): occasions in children
# in schools.  Three-level models fitted with lme4 as nested random effects
# (x | schoolid:childid) + (x | schoolid), REML and ML, at the tight optimum.
# Run from the repository root:  Rscript tests/reference/crosscheck/egsingle3/make_reference.R
source("tests/reference/crosscheck/_common.R")
suppressPackageStartupMessages(library(mlmRev))
outdir <- "tests/reference/crosscheck/egsingle3"
data("egsingle", package = "mlmRev")
e <- egsingle
d <- data.frame(schoolid = as.integer(as.character(e$schoolid)),
                childid = as.character(e$childid),
                year = e$year, grade = e$grade, math = e$math,
                retained = as.integer(as.character(e$retained)),
                female = as.integer(e$female == "Female"),
                black = as.integer(as.character(e$black)),
                hispanic = as.integer(as.character(e$hispanic)),
                size = e$size, lowinc = e$lowinc, mobility = e$mobility)
write_csv_full(d, "tests/reference/data/egsingle.csv")
d <- utils::read.csv("tests/reference/data/egsingle.csv", colClasses = c(childid = "character"))

models <- list(
  null = list(formula = math ~ 1 + (1 | schoolid:childid) + (1 | schoolid),
              equations = "math = P0 + E; P0 = B00 + R0; B00 = G000 + U00"),
  growth = list(formula = math ~ year + (year | schoolid:childid) + (year | schoolid),
                equations = paste("math = P0 + P1*year + E; P0 = B00 + R0; P1 = B10 + R1;",
                                  "B00 = G000 + U00; B10 = G100 + U10")),
  predictors = list(
    formula = math ~ year * (black + hispanic + lowinc) + (year | schoolid:childid) + (year | schoolid),
    equations = paste("math = P0 + P1*year + E; P0 = B00 + B01*black + B02*hispanic + R0;",
                      "P1 = B10 + B11*black + B12*hispanic + R1;",
                      "B00 = G000 + G001*lowinc + U00; B10 = G100 + G101*lowinc + U10"))
)

vc_block <- function(fit, grp) {
  v <- VarCorr(fit)[[grp]]
  m <- unclass(v); attr(m, "stddev") <- NULL; attr(m, "correlation") <- NULL
  dimnames(m) <- NULL
  m
}

# HLM3's reliabilities and chi-square tests of the variance components, coded from the formulas
# (Raudenbush & Bryk 2002, ch. 8; docs/three-level.md) at lme4's estimates, independently of
# openhlm: level 2 from each child's OLS on the random level-1 design Z2, level 3 from each
# school's GLS given level 2; the level-2 chi-square takes lme4's school BLUPs (ranef) as the
# level-3 part of the fitted values.
hlm3_stats <- function(fit, d, z2cols, z3cols, n_betas_pi, n_gammas_beta) {
  s2 <- sigma(fit)^2
  T2 <- vc_block(fit, "schoolid:childid"); T3 <- vc_block(fit, "schoolid")
  X <- model.matrix(fit); y <- d$math
  r <- as.vector(y - X %*% fixef(fit))
  Z2 <- as.matrix(cbind(1, d$year)[, seq_len(z2cols), drop = FALSE])
  Z3 <- as.matrix(cbind(1, d$year)[, seq_len(z3cols), drop = FALSE])
  u3 <- as.matrix(ranef(fit)$schoolid)
  schools <- unique(d$schoolid)
  rel3 <- matrix(NA, length(schools), z3cols); chi3 <- matrix(NA, length(schools), z3cols)
  rel2 <- list(); chi2 <- list()
  for (ks in seq_along(schools)) {
    rows_k <- which(d$schoolid == schools[ks])
    W <- matrix(0, z3cols, z3cols); s <- rep(0, z3cols)
    for (child in unique(d$childid[rows_k])) {
      rows <- rows_k[d$childid[rows_k] == child]
      z2 <- Z2[rows, , drop = FALSE]; z3 <- Z3[rows, , drop = FALSE]
      Vb <- s2 * diag(length(rows)) + z2 %*% T2 %*% t(z2)
      Vbi <- solve(Vb)
      W <- W + t(z3) %*% Vbi %*% z3; s <- s + t(z3) %*% Vbi %*% r[rows]
      ztz <- crossprod(z2)
      if (kappa(ztz, exact = TRUE) < 1e12) {
        v <- s2 * diag(solve(ztz))
        rel2[[length(rel2) + 1]] <- diag(T2) / (diag(T2) + v)
        if (length(rows) > z2cols) {
          d2 <- solve(ztz, t(z2) %*% (r[rows] - z3 %*% u3[as.character(schools[ks]), ]))
          chi2[[length(chi2) + 1]] <- as.vector(d2)^2 / v
        }
      }
    }
    Vk <- solve(W)
    rel3[ks, ] <- diag(T3) / (diag(T3) + diag(Vk))
    chi3[ks, ] <- as.vector(solve(W, s))^2 / diag(Vk)
  }
  rel2 <- do.call(rbind, rel2); chi2 <- do.call(rbind, chi2)
  list(reliability_level2 = colMeans(rel2), reliability_level3 = colMeans(rel3),
       chi2_level2 = colSums(chi2), df_level2 = nrow(chi2) - n_betas_pi,
       chi2_level3 = colSums(chi3), df_level3 = length(schools) - n_gammas_beta)
}
hlm3_args <- list(null = list(1, 1, 1, 1), growth = list(2, 2, c(1, 1), c(1, 1)),
                  predictors = list(2, 2, c(3, 3), c(2, 2)))

out <- list()
for (name in names(models)) {
  for (REML in c(TRUE, FALSE)) {
    key <- paste0(name, if (REML) "_reml" else "_ml")
    t <- fit_lmer_tight(models[[name]]$formula, d, REML)
    fit <- t$fit
    fe <- fixef(fit)
    out[[key]] <- list(
      equations = models[[name]]$equations,
      lme4_formula = paste(deparse(models[[name]]$formula), collapse = " "),
      method = if (REML) "REML" else "ML",
      deviance = if (REML) REMLcrit(fit) else deviance(fit),
      sigma2 = sigma(fit)^2,
      tau_pi = vc_block(fit, "schoolid:childid"),
      tau_beta = vc_block(fit, "schoolid"),
      fixef_names = names(fe), fixef = unname(fe),
      fixef_se = unname(sqrt(diag(as.matrix(vcov(fit))))),
      n_parameters = length(fe) * (!REML) + length(getME(fit, "theta")) + 1,
      optimizer = t$optimizer, singular = t$singular, warnings = t$warnings,
      hlm3 = do.call(hlm3_stats, c(list(fit, d), hlm3_args[[name]])))
  }
}
ref <- list(case = "egsingle3", software = software_versions("mlmRev"),
            data = list(file = "tests/reference/data/egsingle.csv",
                        notes = "mlmRev::egsingle (7230 occasions, 1721 children, 60 schools); factors as 0/1 (female = 1 for Female); childid as text"),
            models = out)
write_reference_json(ref, file.path(outdir, "reference.json"))
