# Reference values for openhlm's exploratory analysis of potential level-2 predictors
# (openhlm.exploratory): R's lm(u ~ W) of lme4's conditional modes of Model 4 (REML and ML,
# committed in ../hsb/model4_{reml,ml}_ranef.csv by ../hsb/make_reference.R) on the level-2
# variables that are not in Model 4 (hsb2.csv).  No refit: only stats::lm.
# Run from the repository root:
#   Rscript tests/reference/crosscheck/hsb_exploratory/make_reference.R
library(jsonlite)
outdir <- "tests/reference/crosscheck/hsb_exploratory"
schools <- read.csv("src/openhlm/datasets/hsb/hsb2.csv")
candidates <- c("pracad", "disclim", "himinty", "size")
coefficients <- c("INTRCPT1", "SES")

one_model <- function(key) {
  ranef <- read.csv(file.path("tests/reference/crosscheck/hsb", paste0(key, "_ranef.csv")))
  d <- merge(ranef, schools, by = "id", sort = FALSE)
  stopifnot(nrow(d) == 160)
  rows <- list()
  for (q in coefficients) for (w in candidates) {
    fit <- lm(reformulate(w, response = q), data = d)
    s <- summary(fit)$coefficients
    rows[[length(rows) + 1]] <- list(
      coefficient = q, candidate = w,
      estimate = s[w, "Estimate"], se = s[w, "Std. Error"], t = s[w, "t value"],
      p = s[w, "Pr(>|t|)"], intercept = s["(Intercept)", "Estimate"],
      df = fit$df.residual, n_units = nrow(d))
  }
  list(ranef_csv = paste0("../hsb/", key, "_ranef.csv"), rows = rows)
}

out <- list(
  case = "hsb_exploratory",
  description = paste("lm(EB residual ~ W) over the 160 schools: lme4 conditional modes of",
                      "Model 4 (mathach ~ (sector + meanses) * cses + (cses | id)) regressed",
                      "on each level-2 variable not in the model"),
  software = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  models = list(model4_reml = one_model("model4_reml"), model4_ml = one_model("model4_ml")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(outdir, "reference.json"))
