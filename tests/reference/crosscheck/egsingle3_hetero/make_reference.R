# Heterogeneous level-1 variance in three-level models: mlmRev::egsingle (the committed
# tests/reference/data/egsingle.csv), growth model with random intercepts and year slopes at
# both levels, fitted by nlme::lme (full ML) with nested random effects ~ year | schoolid/childid.
#   * varIdent(form = ~ 1 | female): sigma^2_i = sigma^2 delta_female^2, i.e. the log-linear
#     model ln sigma^2 = alpha0 + alpha1 female with alpha0 = ln sigma^2, alpha1 = 2 ln delta;
#   * varExp(form = ~ year): sigma_i = sigma exp(d year), i.e. alpha0 = ln sigma^2,
#     alpha1 = 2 d.
# Run from the repository root:  Rscript tests/reference/crosscheck/egsingle3_hetero/make_reference.R
source("tests/reference/crosscheck/_common.R")
suppressPackageStartupMessages(library(nlme))
outdir <- "tests/reference/crosscheck/egsingle3_hetero"
d <- utils::read.csv("tests/reference/data/egsingle.csv", colClasses = c(childid = "character"))
d$schoolid <- factor(d$schoolid)
d$childid <- factor(d$childid)
ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, tolerance = 1e-12,
                   msTol = 1e-14, msMaxEval = 5000, opt = "nlminb")
equations <- paste("math = P0 + P1*year + E; P0 = B00 + R0; P1 = B10 + R1;",
                   "B00 = G000 + U00; B10 = G100 + U10")
hom <- lme(math ~ year, random = ~ year | schoolid/childid, data = d, method = "ML",
           control = ctrl)

block <- function(fit, level) {
  m <- as.matrix(nlme::pdMatrix(fit$modelStruct$reStruct[[level]])) * fit$sigma^2
  dimnames(m) <- NULL
  m
}

one <- function(weights, predictor, spec) {
  fit <- lme(math ~ year, random = ~ year | schoolid/childid, data = d, method = "ML",
             weights = weights, control = ctrl)
  v <- coef(fit$modelStruct$varStruct, unconstrained = TRUE)[[1]]
  # apVar: covariance of (reStruct..., varStruct, lSigma) on nlme's unconstrained scale
  ap <- fit$apVar
  nm <- rownames(ap)
  idx <- c(which(nm == "lSigma"), grep("^varStruct", nm))
  S <- ap[idx, idx]
  if (predictor == "female") {
    # varIdent: ln delta v of the non-reference stratum (the reference has delta = 1)
    deltas <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
    ref <- names(deltas)[deltas == 1][1]
    if (ref == "0") {
      alpha <- c(2 * log(fit$sigma), 2 * v); J <- rbind(c(2, 0), c(0, 2))
    } else {
      alpha <- c(2 * log(fit$sigma) + 2 * v, -2 * v); J <- rbind(c(2, 2), c(0, -2))
    }
  } else {
    # varExp: sigma_i = sigma exp(d year)
    ref <- NA
    alpha <- c(2 * log(fit$sigma), 2 * v); J <- rbind(c(2, 0), c(0, 2))
  }
  se <- sqrt(diag(J %*% S %*% t(J)))
  list(predictor = predictor, weights = spec, reference_stratum = ref,
       deviance = -2 * as.numeric(logLik(fit)),
       alpha = unname(alpha), alpha_se = unname(se),
       # tau(pi): the childid (innermost) block, tau(beta): the schoolid block
       tau_pi = block(fit, "childid"), tau_beta = block(fit, "schoolid"),
       fixef = unname(fixef(fit)), fixef_se = unname(sqrt(diag(vcov(fit)))))
}

female <- one(varIdent(form = ~ 1 | female), "female", "varIdent(form = ~ 1 | female)")
year <- one(varExp(form = ~ year), "year", "varExp(form = ~ year)")

out <- list(case = "egsingle3_hetero", software = software_versions(c("nlme")),
            data = "tests/reference/data/egsingle.csv", equations = equations,
            homogeneous_deviance = -2 * as.numeric(logLik(hom)),
            models = list(female = female, year = year))
write_reference_json(out, file.path(outdir, "reference.json"))
