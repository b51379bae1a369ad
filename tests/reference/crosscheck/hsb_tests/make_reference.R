# Reference values for openhlm's hypothesis tests on the HS&B data (issue 5):
#   * general linear hypotheses (Wald chi-square) on Model 4's gammas with lme4's model-based
#     vcov and with the CR0 sandwich (clubSandwich), REML and ML;
#   * deviance (likelihood-ratio) tests between nested models (REML: same fixed effects;
#     ML: different fixed effects), checked against lme4's anova().
# Run from the repository root:  Rscript tests/reference/crosscheck/hsb_tests/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/hsb_tests"
d <- read_hsb()

f_m4 <- mathach ~ (sector + meanses) * cses + (cses | id)
f_m4_fixed_slope <- mathach ~ (sector + meanses) * cses + (1 | id)
f_m2 <- mathach ~ meanses + (1 | id)
# lme4's fixed-effect order for f_m4 is (Intercept), sector, meanses, cses, sector:cses,
# meanses:cses = HLM's G00, G01, G02, G10, G11, G12.
gammas <- c("G00", "G01", "G02", "G10", "G11", "G12")

wald_one <- function(g, V, C) {
  est <- as.vector(C %*% g)
  CVC <- C %*% V %*% t(C)
  chi2 <- as.numeric(t(est) %*% solve(CVC, est))
  list(estimate = I(est), se = I(sqrt(diag(CVC))), chi2 = chi2, df = nrow(C),
       p_value = pchisq(chi2, nrow(C), lower.tail = FALSE))
}

hypotheses <- list(
  sector_joint = list(text = c("G01 = 0", "G11 = 0"),
                      C = rbind(c(0, 1, 0, 0, 0, 0), c(0, 0, 0, 0, 1, 0))),
  meanses_equal = list(text = c("G02 = G12"), C = rbind(c(0, 0, 1, 0, 0, -1))),
  slope_joint = list(text = c("G10 = 0", "G11 = 0", "G12 = 0"),
                     C = rbind(c(0, 0, 0, 1, 0, 0), c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1)))
)

fits <- list()
glh <- list()
for (REML in c(TRUE, FALSE)) {
  key <- paste0("model4_", if (REML) "reml" else "ml")
  fit <- fit_lmer_tight(f_m4, d, REML)$fit
  fits[[key]] <- fit
  g <- unname(lme4::fixef(fit))
  V <- unname(as.matrix(vcov(fit)))
  Vr <- unname(as.matrix(clubSandwich::vcovCR(fit, type = "CR0")))
  for (h in names(hypotheses)) {
    C <- hypotheses[[h]]$C
    glh[[length(glh) + 1]] <- list(
      model = key, method = if (REML) "REML" else "ML", hypothesis = h,
      rows = I(hypotheses[[h]]$text), gammas = I(gammas), contrast = C,
      gamma = I(g), model_based = wald_one(g, V, C), robust_cr0 = wald_one(g, Vr, C))
  }
}
fits$model4_fixed_slope_reml <- fit_lmer_tight(f_m4_fixed_slope, d, TRUE)$fit
fits$model4_fixed_slope_ml <- fit_lmer_tight(f_m4_fixed_slope, d, FALSE)$fit
fits$model2_ml <- fit_lmer_tight(f_m2, d, FALSE)$fit

crit <- function(f) if (isREML(f)) REMLcrit(f) else deviance(f)
npar <- function(f) attr(logLik(f), "df")   # fixed + theta + sigma (REML: lme4 counts fixed too)
hlm_npar <- function(f) {
  R <- ncol(lme4::getME(f, "Z")) / lme4::ngrps(f)[[1]]
  base <- 1 + R * (R + 1) / 2
  if (isREML(f)) base else base + length(lme4::fixef(f))
}
dev_test <- function(a, b, note) {
  fa <- fits[[a]]; fb <- fits[[b]]
  chi2 <- abs(crit(fa) - crit(fb)); df <- abs(hlm_npar(fa) - hlm_npar(fb))
  av <- suppressMessages(anova(fa, fb, refit = FALSE))
  list(a = a, b = b, method = if (isREML(fa)) "REML" else "ML",
       deviance_a = crit(fa), deviance_b = crit(fb),
       n_parameters_a = hlm_npar(fa), n_parameters_b = hlm_npar(fb),
       chi2 = chi2, df = df, p_value = pchisq(chi2, df, lower.tail = FALSE),
       anova_chisq = av$Chisq[2], anova_df = av$Df[2], note = note)
}
deviance_tests <- list(
  dev_test("model4_reml", "model4_fixed_slope_reml",
           "REML, same fixed effects: the seed's variance-covariance components test (HLM printed 1.07710, 2 d.f.)"),
  dev_test("model4_ml", "model4_fixed_slope_ml", "ML, same fixed effects"),
  dev_test("model4_ml", "model2_ml", "ML, different fixed and random parts")
)

ref <- list(case = "hsb_tests", software = software_versions(),
            data = list(level1 = "src/openhlm/datasets/hsb/hsb1.csv", level2 = "src/openhlm/datasets/hsb/hsb2.csv",
                        notes = "Model 4: mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; B1 = G10 + G11*sector + G12*meanses + U1 (cses = ses minus the school's sample mean)"),
            glh = glh, deviance_tests = deviance_tests)
write_reference_json(ref, file.path(outdir, "reference.json"))
message("wrote ", file.path(outdir, "reference.json"))
