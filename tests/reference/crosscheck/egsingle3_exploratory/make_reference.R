# Reference values for HLM3's exploratory analysis (openhlm.inference.exploratory3): R's
# lm(EB residual ~ candidate) of lme4's conditional modes of the egsingle growth model,
#   math ~ year + (year | schoolid:childid) + (year | schoolid)     (REML and ML),
# level-2 candidates (female, black, hispanic) against each child's r (ranef of
# schoolid:childid) over the 1,721 children, level-3 candidates (lowinc, mobility, size) against
# each school's u (ranef of schoolid) over the 60 schools.  Independent of openhlm.
# Run from the repository root:
#   Rscript tests/reference/crosscheck/egsingle3_exploratory/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/egsingle3_exploratory"
d <- utils::read.csv("tests/reference/data/egsingle.csv", colClasses = c(childid = "character"))
children <- unique(d[, c("schoolid", "childid", "female", "black", "hispanic")])
schools <- unique(d[, c("schoolid", "lowinc", "mobility", "size")])
stopifnot(nrow(children) == 1721, nrow(schools) == 60)
children$key <- paste(children$schoolid, children$childid, sep = ":")

regress <- function(frame, effects, candidates) {
  rows <- list()
  for (q in effects) for (w in candidates) {
    fit <- lm(reformulate(w, response = q), data = frame)
    s <- summary(fit)$coefficients
    rows[[length(rows) + 1]] <- list(
      effect = q, candidate = w, estimate = s[w, "Estimate"], se = s[w, "Std. Error"],
      t = s[w, "t value"], intercept = s["(Intercept)", "Estimate"],
      df = fit$df.residual, n_units = nrow(frame))
  }
  rows
}

one_model <- function(REML) {
  f <- fit_lmer_tight(math ~ year + (year | schoolid:childid) + (year | schoolid), d, REML)
  re <- ranef(f$fit)
  r <- re[["schoolid:childid"]]; names(r) <- c("R0", "R1"); r$key <- rownames(r)
  u <- re[["schoolid"]]; names(u) <- c("U00", "U10"); u$schoolid <- as.integer(rownames(u))
  l2 <- merge(r, children, by = "key"); l3 <- merge(u, schools, by = "schoolid")
  stopifnot(nrow(l2) == 1721, nrow(l3) == 60)
  list(criterion = if (REML) REMLcrit(f$fit) else deviance(f$fit),
       optimizer = f$optimizer, singular = f$singular, warnings = f$warnings,
       level2 = regress(l2, c("R0", "R1"), c("female", "black", "hispanic")),
       level3 = regress(l3, c("U00", "U10"), c("lowinc", "mobility", "size")))
}

out <- list(
  case = "egsingle3_exploratory",
  description = paste("lm(EB residual ~ W): lme4 conditional modes of the egsingle growth",
                      "model regressed on level-2 (children) and level-3 (schools) variables",
                      "not in the model"),
  equations = paste("math = P0 + P1*year + E; P0 = B00 + R0; P1 = B10 + R1;",
                    "B00 = G000 + U00; B10 = G100 + U10"),
  software = software_versions(),
  models = list(reml = one_model(TRUE), ml = one_model(FALSE)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(outdir, "reference.json"))
