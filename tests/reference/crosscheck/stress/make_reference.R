# Stress cases for the exact engine (issue 12): large outcome offsets, an uncentred calendar
# year with a random slope, predictors on very different scales, units of size 1 next to
# units of size 500, a 3x3 tau.  Simulated here (fixed seeds), written to
# tests/reference/data/stress_*.csv, re-read, and fitted by lme4 at the true optimum
# (nloptwrap then a bobyqa polish, the lower criterion wins: _common.R).
# Run from the repository root:  Rscript tests/reference/crosscheck/stress/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/stress"

record <- function(formula, data, REML, note) {
  t <- fit_lmer_tight(formula, data, REML)
  fit <- t$fit
  vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
  S <- VarCorr(fit)[[1]]
  list(formula = paste(deparse(formula), collapse = " "), method = if (REML) "REML" else "ML",
       note = note,
       fixed_names = names(fixef(fit)), fixed = unname(fixef(fit)),
       se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       sigma2 = sigma(fit)^2, tau = unname(as.matrix(S)[, , drop = FALSE]),
       tau_names = colnames(S),
       criterion = if (REML) REMLcrit(fit) else deviance(fit),
       criterion_kind = if (REML) "REML criterion" else "ML deviance",
       theta = unname(getME(fit, "theta")), optimizer = t$optimizer,
       warnings = t$warnings, singular = t$singular)
}

set.seed(20261205)
# (a) 30 units x 10 rows, random intercept
J <- 30; g <- rep(seq_len(J), each = 10)
ri <- data.frame(g = g, y = 5 + rnorm(J)[g] * 0.85 + rnorm(J * 10))
write_csv_full(ri, "tests/reference/data/stress_ri.csv")
ri <- utils::read.csv("tests/reference/data/stress_ri.csv")

# (b) 50 units x 15-34 rows, calendar year 1990-2019 uncentred, random slope
J <- 50; n <- sample(15:34, J, replace = TRUE); g <- rep(seq_len(J), n)
year <- sample(1990:2019, length(g), replace = TRUE)
u0 <- rnorm(J) * 2; u1 <- rnorm(J) * 0.1
cal <- data.frame(g = g, year = year,
                  y = 3 + u0[g] + (0.2 + u1[g]) * (year - 2005) + rnorm(length(g)))
write_csv_full(cal, "tests/reference/data/stress_calendar.csv")
cal <- utils::read.csv("tests/reference/data/stress_calendar.csv")

# (c) 3x3 tau, a predictor in 1e6 units next to one in 1e-3 units, units of size 1 .. 500
J <- 80; n <- c(rep(1, 20), sample(2:30, 55, replace = TRUE), rep(500, 5)); g <- rep(seq_len(J), n)
N <- length(g); w <- rnorm(J)
x <- rnorm(N); z <- rnorm(N)
u <- cbind(rnorm(J), 0.5 * rnorm(J), 0.3 * rnorm(J))
y <- 1 + 0.5 * w[g] + u[g, 1] + (0.8 + 0.3 * w[g] + u[g, 2]) * x + (0.2 + u[g, 3]) * z + rnorm(N)
big <- data.frame(g = g, w = w[g], x = x * 1e6, z = z * 1e-3, y = y)
write_csv_full(big, "tests/reference/data/stress_scales.csv")
big <- utils::read.csv("tests/reference/data/stress_scales.csv")
# lme4 needs scaled columns to converge; the scaling is an exact reparameterisation, so fit on
# x/1e6, z*1e3 and record the values in those units (the test rescales openhlm's)
big_s <- transform(big, xs = x / 1e6, zs = z * 1e3)

models <- list()
for (REML in c(TRUE, FALSE)) {
  s <- if (REML) "reml" else "ml"
  models[[paste0("ri_", s)]] <- record(y ~ 1 + (1 | g), ri, REML, "stress_ri.csv as is")
  models[[paste0("ri_offset1e7_", s)]] <- record(I(y + 1e7) ~ 1 + (1 | g), ri, REML,
                                                 "stress_ri.csv, outcome + 1e7")
  models[[paste0("calendar_", s)]] <- record(y ~ year + (year | g), cal, REML,
                                             "stress_calendar.csv, year uncentred")
  models[[paste0("calendar_centred_", s)]] <- record(y ~ I(year - 2005) + (I(year - 2005) | g),
                                                     cal, REML, "year - 2005")
  models[[paste0("scales_", s)]] <- record(y ~ w * xs + zs + (xs + zs | g), big_s, REML,
                                           "stress_scales.csv with xs = x / 1e6, zs = z * 1e3")
}
ref <- list(case = "stress", software = software_versions(),
            data = list(files = c("tests/reference/data/stress_ri.csv",
                                  "tests/reference/data/stress_calendar.csv",
                                  "tests/reference/data/stress_scales.csv")),
            models = models)
write_reference_json(ref, file.path(outdir, "reference.json"))
