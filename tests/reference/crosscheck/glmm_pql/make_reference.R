# Reference values for openhlm's PQL with the level-1 scale fixed at 1 (HLM's HGLM default, no
# over-dispersion), the linearised model fitted by full ML ("full PQL") and by REML
# ("restricted PQL", HLM2's default).
# Run from the repository root:  Rscript tests/reference/crosscheck/glmm_pql/make_reference.R
# R is NOT a dependency of openhlm: this script only (re)generates reference.json, which
# tests/unit/glmm/test_pql_hlm.py reads.  The data are the committed CSV files of
# tests/reference/crosscheck/glmm (written by that folder's script).
#
# MASS::glmmPQL fits the linearised model with nlme::lme(method = "ML") and estimates the
# residual scale.  Here its own code is run with two changes made by text substitution on its
# body: the lme method ("ML" or "REML"), and the stopping constant 1e-06 -> 1e-15 (500
# iterations), so that it runs to its fixed point; control = lmeControl(sigma = 1) fixes the
# scale at 1 (nlme >= 3.1-123), so Var(e_ij) = 1 / w_ij exactly as in HLM's PQL.
# "restricted_pql_scaled" estimates the scale (sigma = 0: nlme's default), as glmmPQL does.
#
# Caveat (found while making these values): nlme's REML with the scale *fixed* does not
# maximise the textbook restricted likelihood of the linearised model (on the same working
# data its optimum differs from a dense unit-by-unit evaluation of
# log|V| + r'V^-1 r + log|X'V^-1 X|, e.g. Contraception tau 0.18348 vs 0.18037), so
# "restricted_pql" is recorded but the tests check restricted PQL against the scaled REML fit
# and against a dense computation instead (tests/unit/glmm/test_pql_hlm.py).
suppressPackageStartupMessages({
  library(MASS); library(nlme); library(jsonlite)
})
in_dir <- "tests/reference/crosscheck/glmm"
out_dir <- "tests/reference/crosscheck/glmm_pql"

pql_variant <- function(method) {
  f <- MASS::glmmPQL
  text <- deparse(body(MASS::glmmPQL))
  text <- gsub("1e-06", "1e-15", text, fixed = TRUE)
  text <- gsub('mcall$method <- "ML"', sprintf('mcall$method <- "%s"', method), text,
               fixed = TRUE)
  stopifnot(any(grepl(sprintf('mcall$method <- "%s"', method), text, fixed = TRUE)))
  body(f) <- parse(text = text)[[1]]
  f
}
record <- function(fun, fixed, random, data, family, sigma = 1) {
  # do.call puts the evaluated control list into the call (glmmPQL hands its call on to lme
  # unevaluated, where a variable of this function would not be found)
  ctl <- nlme::lmeControl(sigma = sigma, maxIter = 500, msMaxIter = 500, tolerance = 1e-10,
                          msTol = 1e-12, niterEM = 50)
  fit <- suppressMessages(do.call(fun, list(fixed, random = random, family = family,
                                            data = data, niter = 500, verbose = FALSE,
                                            control = ctl)))
  vc <- getVarCov(fit)
  list(fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(vcov(fit)))),
       tau = unname(lapply(seq_len(nrow(vc)), function(i) unname(vc[i, ]))),
       sigma = fit$sigma)
}
both <- function(fixed, random, data, family) {
  list(full_pql = record(pql_variant("ML"), fixed, random, data, family),
       restricted_pql = record(pql_variant("REML"), fixed, random, data, family),
       restricted_pql_scaled = record(pql_variant("REML"), fixed, random, data, family,
                                      sigma = 0))
}

contra <- read.csv(file.path(in_dir, "contraception.csv"))
cb <- read.csv(file.path(in_dir, "cbpp.csv"))
ep <- read.csv(file.path(in_dir, "epilepsy.csv"))

models <- list(
  contra_ri = both(use ~ age + urban + durban, ~ 1 | district, contra, binomial),
  contra_rs = both(use ~ age + urban, ~ urban | district, contra, binomial),
  cbpp = both(cbind(incidence, size - incidence) ~ period2 + period3 + period4, ~ 1 | herd,
              cb, binomial),
  epil_ri = both(y ~ post * trt + lage + offset(log(weeks)), ~ 1 | subject, ep, poisson))

software <- list(R = paste(R.version$major, R.version$minor, sep = "."))
for (p in c("MASS", "nlme", "jsonlite")) software[[p]] <- as.character(packageVersion(p))
write_json(list(case = "glmm_pql", software = software, models = models),
           file.path(out_dir, "reference.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
