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
      optimizer = t$optimizer, singular = t$singular, warnings = t$warnings)
  }
}
ref <- list(case = "egsingle3", software = software_versions("mlmRev"),
            data = list(file = "tests/reference/data/egsingle.csv",
                        notes = "mlmRev::egsingle (7230 occasions, 1721 children, 60 schools); factors as 0/1 (female = 1 for Female); childid as text"),
            models = out)
write_reference_json(ref, file.path(outdir, "reference.json"))
