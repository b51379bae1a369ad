# HS&B reference values (lme4 at the exact optimum + HLM statistics coded independently).
# Run from the repository root:  Rscript tests/reference/crosscheck/hsb/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/hsb"
d <- read_hsb()
# constraint G02 = G12: one column meanses + meanses*cses
d$meanses_x_1pcses <- d$meanses * (1 + d$cses)

I1 <- function(level2 = "1", random = TRUE) list(x = NULL, random = random, level2 = level2, lme4_ranef = "(Intercept)")
SES <- function(level2 = "1", random = TRUE) list(x = "cses", hlm_name = "SES", random = random, level2 = level2, lme4_ranef = "cses")
L2 <- c("1", "sector", "meanses")
base <- list(outcome = "mathach", id = "id")
mk <- function(level1, ...) c(base, list(level1 = level1), list(...))

# HLM 6.08 output printed in the seminar seed (HLM stopped early on models 2-4: NOT the exact optimum;
# HLM's deviance = standard -2logLik - log(2*pi) except for Model 1).
seed <- list(
  model1_reml = list(sigma2 = 39.14831, tau = 8.61431, G00 = 12.636972, se_G00 = 0.244412, robust_se_G00 = 0.243628,
                     reliability_INTRCPT1 = 0.901, chi2_INTRCPT1 = 1660.23259, chi2_df = 159, deviance = 47116.793477, iterations = 4),
  model2_reml = list(sigma2 = 39.15708, tau = 2.63870, gamma = c(12.649436, 5.863538), se = c(0.149280, 0.361457),
                     robust_se = c(0.148377, 0.320211), reliability_INTRCPT1 = 0.740, chi2_INTRCPT1 = 633.51744, chi2_df = 158,
                     deviance = 46959.446959, iterations = 6),
  model3_reml = list(sigma2 = 36.70356, tau = list(c(8.68087, 0.04701), c(0.04701, 0.68038)),
                     gamma = c(12.636197, 2.193157), se = c(0.244503, 0.127879), robust_se = c(0.243738, 0.127846),
                     reliability = c(0.908, 0.260), chi2 = c(1770.85120, 213.43769), chi2_df = 159,
                     deviance = 46712.398925, iterations = 18),
  model4_reml = list(sigma2 = 36.70313, tau = list(c(2.37996, 0.19058), c(0.19058, 0.14892)),
                     gamma = c(12.096006, 1.226384, 5.333056, 2.937981, -1.640954, 1.034427),
                     se = c(0.198734, 0.306272, 0.369161, 0.157135, 0.242905, 0.302566),
                     robust_se = c(0.173699, 0.308484, 0.334600, 0.147620, 0.237401, 0.332785),
                     reliability = c(0.733, 0.073), chi2 = c(605.29503, 162.30867), chi2_df = 157,
                     deviance = 46501.875643, iterations = 61, homogeneity_H = 245.76576, homogeneity_df = 159,
                     glh_sector_chi2 = 60.596880, glh_note = "G01 = G11 = 0 jointly, 2 d.f., at HLM's printed estimates"),
  model4_fixed_slope_reml = list(sigma2 = 36.76611, tau = 2.37524,
                     gamma = c(12.096251, 1.224401, 5.336698, 2.935860, -1.642102, 1.044120),
                     se = c(0.198643, 0.306117, 0.368978, 0.150705, 0.233097, 0.291042),
                     robust_se = c(0.173691, 0.308507, 0.334617, 0.147580, 0.237223, 0.332897),
                     approx_df = c(157, 157, 157, 7179, 7179, 7179),
                     reliability_INTRCPT1 = 0.732, chi2_INTRCPT1 = 604.29893, chi2_df = 157,
                     deviance = 46502.952734, n_parameters = 2, deviance_test_vs_model4 = 1.07710, iterations = 6),
  constraint_ml = list(sigma2 = 36.75129, tau = list(c(3.38650, -0.42733), c(-0.42733, 0.36901)),
                     gamma = c(11.741607, 2.016592, 2.654259, 3.159636, -2.096300),
                     se = c(0.222122, 0.335380, 0.237376, 0.163404, 0.249567),
                     robust_se = c(0.208945, 0.331788, 0.253568, 0.158565, 0.240992),
                     approx_df = c(157, 157, 157, 158, 158), reliability = c(0.795, 0.162),
                     chi2 = c(787.30255, 192.72983), chi2_df = c(157, 157), deviance = 46567.491225,
                     n_parameters = 9, iterations = 19),
  female_random_only_ml = list(sigma2 = 36.32580,
                     tau = list(c(3.56382, -2.00755, 0.33526), c(-2.00755, 2.32409, -0.23060), c(0.33526, -0.23060, 0.10378)),
                     gamma = c(11.933404, 1.180992, 5.281064, 2.875972, -1.615421, 1.033760),
                     se = c(0.187148, 0.293859, 0.353685, 0.155149, 0.239356, 0.298472),
                     robust_se = c(0.173443, 0.302841, 0.330903, 0.146171, 0.236022, 0.328717),
                     reliability = c(0.643, 0.384, 0.052), chi2 = c(326.18770, 187.64867, 122.76674),
                     chi2_df = c(120, 123, 120), units_used = 123, deviance = 46473.216028, n_parameters = 13,
                     iterations = 289,
                     level1_ols_first = list(list(id = 1224, coef = c(10.94364, -2.06161, 2.64284)),
                                             list(id = 1288, coef = c(13.01384, 1.12946, 3.35269)),
                                             list(id = 1296, coef = c(8.51189, -1.35628, 1.00858)),
                                             list(id = 1358, coef = c(11.32162, -0.31470, 4.98310)),
                                             list(id = 1374, coef = c(10.94983, -2.63062, 3.85439)),
                                             list(id = 1436, coef = c(19.48721, -4.03507, 2.58733)),
                                             list(id = 1461, coef = c(17.50503, -1.15047, 6.28572))))
)
for (k in names(seed)) seed[[k]]$source <- "HLM 6.08 output printed in the seminar seed document (early-stopped EM; compare loosely)"

models <- list()
add <- function(key, spec, formula, REML, description, ...) {
  models[[key]] <<- reference_record(key, spec, d, formula, REML, description, outdir,
                                     hlm_printed = seed[[key]], ...)
}

for (REML in c(TRUE, FALSE)) {
  sfx <- if (REML) "_reml" else "_ml"
  add(paste0("model1", sfx), mk(list(INTRCPT1 = I1())), mathach ~ 1 + (1 | id), REML,
      "Model 1: one-way random-effects ANOVA (unconditional means model)", null_model = TRUE)
  add(paste0("model2", sfx), mk(list(INTRCPT1 = I1(c("1", "meanses")))), mathach ~ meanses + (1 | id), REML,
      "Model 2: means-as-outcomes, MEANSES (level-2 file value, uncentred) on the intercept")
  add(paste0("model3", sfx), mk(list(INTRCPT1 = I1(), SES = SES())), mathach ~ cses + (cses | id), REML,
      "Model 3: random-coefficients model, SES group-mean centred (sample school mean), both coefficients random")
  add(paste0("model4", sfx), mk(list(INTRCPT1 = I1(L2), SES = SES(L2))),
      mathach ~ (sector + meanses) * cses + (cses | id), REML,
      "Model 4: intercepts- and slopes-as-outcomes; SECTOR and MEANSES (uncentred) on both; SES group-mean centred; both random")
  add(paste0("model4_fixed_slope", sfx), mk(list(INTRCPT1 = I1(L2), SES = SES(L2, random = FALSE))),
      mathach ~ (sector + meanses) * cses + (1 | id), REML,
      "Model 4 with the SES slope non-randomly varying (B1 = G10 + G11*SECTOR + G12*MEANSES, no U1)")
}

add("constraint_ml", mk(list(INTRCPT1 = I1(L2), SES = SES(L2)), constraints = list(c("G02", "G12"))),
    mathach ~ sector + cses + sector:cses + meanses_x_1pcses + (cses | id), FALSE,
    "Model 4 under ML with the constraint G02 = G12 (one fixed column MEANSES + MEANSES*SES); printed gammas G00, G01, G02(=G12), G10, G11")

add("female_random_only_ml",
    mk(list(INTRCPT1 = I1(L2),
            FEMALE = list(x = "female", random = TRUE, level2 = character(), lme4_ranef = "female"),
            SES = SES(L2))),
    mathach ~ sector + meanses + cses + sector:cses + meanses:cses + (1 + female + cses | id), FALSE,
    "FEMALE as a random effect with no fixed part (B1 = U1); SES group-mean centred; ML")

add("no_intercept_reml",
    mk(list(FEMALE = list(x = "female", random = TRUE, level2 = "1", lme4_ranef = "female"),
            MALE = list(x = "male", random = TRUE, level2 = "1", lme4_ranef = "male")),
       no_level1_intercept = TRUE),
    mathach ~ 0 + female + male + (0 + female + male | id), TRUE,
    "No level-1 intercept: Y = B1*(FEMALE) + B2*(MALE) + R, MALE = 1 - FEMALE, both random with G10, G20; single-sex schools have rank-deficient X_Rj (J' < J)")

add("model4_minority_fixed_reml",
    mk(list(INTRCPT1 = I1(L2), SES = SES(L2),
            MINORITY = list(x = "minority", random = FALSE, level2 = "1"))),
    mathach ~ (sector + meanses) * cses + minority + (cses | id), TRUE,
    "Model 4 plus MINORITY (uncentred) as a fixed level-1 slope (B2 = G20, no U2)")

# general linear hypothesis of the seed: SECTOR on both coefficients, G01 = G11 = 0 (2 d.f.)
for (k in c("model4_reml", "model4_ml")) models[[k]]$glh <- list(wald(models[[k]], c("G01", "G11")))
# The same test by GLS at HLM's PRINTED variance components (sigma2 36.70313, tau of the seed's Model 4):
# this shows which covariance HLM 6.08 used for its printed 60.596880.
gls_wald_at <- function(s2, Tm, k = c(2, 5)) {
  A <- cbind(1, d$sector, d$meanses, d$cses, d$sector * d$cses, d$meanses * d$cses)
  idx <- split(seq_len(nrow(d)), d$id)
  Vis <- lapply(idx, function(r) { Z <- cbind(1, d$cses[r]); solve(Z %*% Tm %*% t(Z) + diag(s2, length(r))) })
  M <- Reduce(`+`, Map(function(r, Vi) t(A[r, ]) %*% Vi %*% A[r, ], idx, Vis))
  b <- Reduce(`+`, Map(function(r, Vi) t(A[r, ]) %*% Vi %*% d$mathach[r], idx, Vis))
  Mi <- solve(M); gam <- as.vector(Mi %*% b)
  meat <- Reduce(`+`, Map(function(r, Vi) { s <- t(A[r, ]) %*% Vi %*% (d$mathach[r] - A[r, ] %*% gam); s %*% t(s) }, idx, Vis))
  R <- Mi %*% meat %*% Mi
  w <- function(V) as.numeric(t(gam[k]) %*% solve(V[k, k], gam[k]))
  list(sigma2 = s2, tau = unname(Tm), gamma = I(gam), se = I(sqrt(diag(Mi))), robust_se_cr0 = I(sqrt(diag(R))),
       wald_model_based = w(Mi), wald_robust_cr0 = w(R))
}
models$model4_reml$glh[[1]]$hlm_printed <- list(
  chi2 = 60.596880, df = 2, source = "seminar seed, HLM 6.08, Model 4 REML (estimates at HLM's early stop)")
models$model4_reml$glh[[1]]$at_hlm_printed_variance_components <-
  gls_wald_at(36.70313, matrix(c(2.37996, 0.19058, 0.19058, 0.14892), 2))
models$model4_reml$glh[[1]]$finding <- paste(
  "At HLM's printed sigma2/tau the robust (CR0) Wald statistic is 60.5973 and the model-based one 66.148;",
  "HLM printed 60.596880, so HLM 6.08's general linear hypothesis test uses the robust covariance.")

ref <- list(
  case = "hsb",
  software = software_versions(),
  data = list(level1 = "src/openhlm/datasets/hsb/hsb1.csv", level2 = "src/openhlm/datasets/hsb/hsb2.csv",
              notes = "merged on id in hsb1 row order; meanses = level-2 file value; SES (cses) = ses minus the school's sample mean of ses; MALE = 1 - FEMALE"),
  models = models
)
write_reference_json(ref, file.path(outdir, "reference.json"))
message("wrote ", file.path(outdir, "reference.json"))
