# Three-level features against lme4 on mlmRev::egsingle (tests/reference/data/egsingle.csv):
#  * an equality constraint on gammas, G001 = G101 (lowinc's effect on the intercept equals its
#    effect on the year slope): lme4 with the two constrained columns summed into one;
#  * level-1 precision weights (Var(e) = sigma^2 / pw): lmer's weights= (prior weights);
#  * level-1 design weights normalised within level-2 units (dw / mean of dw in the child):
#    lmer's weights= with the normalised weights gives the same estimates (the deviances differ
#    by sum(log(dw_normalised)), reported here).
# Nested random effects (year | schoolid:childid) + (year | schoolid), REML and ML, at the
# tight optimum (fit_lmer_tight of _common.R).
# Run from the repository root:  Rscript tests/reference/crosscheck/egsingle3_features/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/egsingle3_features"
d <- utils::read.csv("tests/reference/data/egsingle.csv", colClasses = c(childid = "character"))
d$pw <- 0.5 + 0.25 * d$grade                    # precision weights (positive)
d$dw <- 1 + d$retained + 0.1 * d$grade          # level-1 design weights
d$dwn <- d$dw / ave(d$dw, d$childid, FUN = mean) # normalised within child: sum = n_j
d$lowinc_c <- d$lowinc + d$year * d$lowinc      # G001 = G101: the two columns summed

vc_block <- function(fit, grp) {
  v <- VarCorr(fit)[[grp]]
  m <- unclass(v); attr(m, "stddev") <- NULL; attr(m, "correlation") <- NULL
  dimnames(m) <- NULL
  m
}

growth <- paste("math = P0 + P1*year + E; P0 = B00 + R0; P1 = B10 + R1;",
                "B00 = G000 + U00; B10 = G100 + U10")
cases <- list(
  constraint = list(
    formula = math ~ year * black + lowinc_c + (year | schoolid:childid) + (year | schoolid),
    equations = paste("math = P0 + P1*year + E; P0 = B00 + B01*black + R0;",
                      "P1 = B10 + B11*black + R1; B00 = G000 + G001*lowinc + U00;",
                      "B10 = G100 + G101*lowinc + U10"),
    constraints = "G001 = G101", weights = NULL),
  precision = list(formula = math ~ year + (year | schoolid:childid) + (year | schoolid),
                   equations = growth, weights = "pw"),
  level1_design = list(formula = math ~ year + (year | schoolid:childid) + (year | schoolid),
                       equations = growth, weights = "dwn")
)

fit_weighted <- function(formula, data, REML, w) {
  if (is.null(w)) return(fit_lmer_tight(formula, data, REML))
  data$.w <- data[[w]]
  environment(formula) <- environment()
  a <- capture_warnings(lmer(formula, data = data, REML = REML, weights = .w,
                             control = ctrl_nlopt()))
  b <- capture_warnings(lmer(formula, data = data, REML = REML, weights = .w,
                             control = ctrl_bobyqa(), start = list(theta = getME(a$value, "theta"))))
  crit <- function(f) if (REML) REMLcrit(f) else deviance(f)
  best <- if (crit(b$value) < crit(a$value)) b else a
  list(fit = best$value, warnings = best$warnings,
       optimizer = if (identical(best, b)) "bobyqa (polish of nloptwrap)" else "nloptwrap",
       singular = isSingular(best$value, tol = 1e-4))
}

out <- list()
for (name in names(cases)) {
  for (REML in c(TRUE, FALSE)) {
    key <- paste0(name, if (REML) "_reml" else "_ml")
    cs <- cases[[name]]
    t <- fit_weighted(cs$formula, d, REML, cs$weights)
    fit <- t$fit
    fe <- fixef(fit)
    out[[key]] <- list(
      equations = cs$equations, constraints = if (is.null(cs$constraints)) "" else cs$constraints,
      weights = if (is.null(cs$weights)) "" else cs$weights,
      lme4_formula = paste(deparse(cs$formula), collapse = " "),
      method = if (REML) "REML" else "ML",
      deviance = if (REML) REMLcrit(fit) else deviance(fit),
      sum_log_weights = if (is.null(cs$weights)) 0 else sum(log(d[[cs$weights]])),
      sigma2 = sigma(fit)^2,
      tau_pi = vc_block(fit, "schoolid:childid"), tau_beta = vc_block(fit, "schoolid"),
      fixef_names = names(fe), fixef = unname(fe),
      fixef_se = unname(sqrt(diag(as.matrix(vcov(fit))))),
      optimizer = t$optimizer, singular = t$singular, warnings = t$warnings)
  }
}
ref <- list(case = "egsingle3_features", software = software_versions("mlmRev"),
            data = list(file = "tests/reference/data/egsingle.csv",
                        derived = list(pw = "0.5 + 0.25 * grade", dw = "1 + retained + 0.1 * grade",
                                       dwn = "dw / mean(dw) within childid",
                                       lowinc_c = "lowinc + year * lowinc")),
            models = out)
write_reference_json(ref, file.path(outdir, "reference.json"))
