# Multiply imputed HS&B data: M = 5 completed data sets, Model 4 (REML, lme4) on each, pooled with
# mitml::testEstimates (Rubin's rules; Barnard-Rubin d.f. with df.com = 157).
# Run from the repository root:  Rscript tests/reference/crosscheck/mitml/make_reference.R
source("tests/reference/crosscheck/_common.R")
suppressPackageStartupMessages(library(mitml))
outdir <- "tests/reference/crosscheck/mitml"
M <- 5
d <- read_hsb()

# 1. delete 15% of ses completely at random (reproducible)
set.seed(1)
miss <- sort(sample.int(nrow(d), round(0.15 * nrow(d))))
d$ses_obs <- d$ses
d$ses_obs[miss] <- NA

# 2. impute with a joint two-level normal model (pan): ses and mathach as targets, SECTOR and
#    MEANSES (level-2 file value) as fixed predictors, random school intercepts
imp <- panImpute(d[, c("id", "ses_obs", "mathach", "sector", "meanses")],
                 formula = ses_obs + mathach ~ 1 + sector + meanses + (1 | id),
                 n.burn = 2000, n.iter = 200, m = M, seed = 12345, silent = TRUE)
cl <- mitmlComplete(imp, print = "all")
stopifnot(length(cl) == M)

# 3. completed data file (one file, .imp = 1..M, hsb1 row order within each imputation)
mi <- do.call(rbind, lapply(seq_len(M), function(m) {
  x <- cl[[m]]
  stopifnot(identical(x$id, d$id), identical(x$mathach, d$mathach))
  data.frame(.imp = m, id = d$id, mathach = d$mathach, ses = x$ses_obs,
             ses_imputed = as.integer(is.na(d$ses_obs)), female = d$female, minority = d$minority)
}))
write_csv_full(mi, "tests/reference/data/hsb_mi.csv")
mi <- utils::read.csv("tests/reference/data/hsb_mi.csv")    # fit exactly what was exported
l2 <- utils::read.csv("src/openhlm/datasets/hsb/hsb2.csv")

# 4. Model 4 on each completed data set, in two variants:
#    model4_cses : SES group-mean centred within each completed data set (the HS&B Model 4)
#    model4_ses_fixed_slope : SES uncentred with a non-randomly varying slope, so the intercept-equation
#                             gammas also depend on the imputations (with uncentred SES and a random slope
#                             the REML fits are singular, which makes a poor reference)
L2 <- c("1", "sector", "meanses")
variants <- list(
  model4_cses = list(x = "cses", random_slope = TRUE, formula = mathach ~ (sector + meanses) * cses + (cses | id)),
  model4_ses_fixed_slope = list(x = "ses", random_slope = FALSE, formula = mathach ~ (sector + meanses) * ses + (1 | id)))
pool_tab <- function(te, nm, lab) {
  e <- te$estimates[nm, , drop = FALSE]
  list(hlm_labels = I(lab), lme4_names = I(nm),
       estimate = I(unname(e[, "Estimate"])), se = I(unname(e[, "Std.Error"])),
       t = I(unname(e[, "t.value"])), df = I(unname(e[, "df"])), p_value = I(unname(e[, "P(>|t|)"])),
       riv = I(unname(e[, "RIV"])), fmi = I(unname(e[, "FMI"])))
}
results <- list()
for (vn in names(variants)) {
  v <- variants[[vn]]
  spec <- list(outcome = "mathach", id = "id",
               level1 = list(INTRCPT1 = list(x = NULL, random = TRUE, level2 = L2, lme4_ranef = "(Intercept)"),
                             SES = list(x = v$x, hlm_name = "SES", random = v$random_slope, level2 = L2, lme4_ranef = v$x)))
  fits <- list(); per <- list()
  for (m in seq_len(M)) {
    dm <- mi[mi$.imp == m, ]
    dm <- cbind(dm, l2[match(dm$id, l2$id), c("sector", "meanses")])
    dm$cses <- dm$ses - stats::ave(dm$ses, dm$id)
    key <- sprintf("imp%d", m)
    rec <- reference_record(paste(vn, key), spec, dm, v$formula, TRUE,
                            sprintf("%s (REML) on completed data set %d", vn, m), tempdir())
    fits[[m]] <- fit_lmer_tight(v$formula, dm, TRUE)$fit
    stopifnot(max(abs(fixef(fits[[m]])[rec$fixed$lme4_names] - rec$fixed$estimate)) < 1e-10)
    rec$ranef_csv <- NULL; rec$fitted_csv <- NULL; rec$level1_ols <- NULL
    rec$fixed$vcov <- NULL
    per[[key]] <- rec
  }
  lab <- per[[1]]$fixed$hlm_labels; nm <- per[[1]]$fixed$lme4_names
  df_com <- per[[1]]$fixed$approx_df_hlm   # HLM's approx. d.f. per gamma (157 or N - F = 7179)

  # 5. pooling
  te_br <- testEstimates(fits, df.com = df_com)
  te_rubin <- testEstimates(fits)
  qhat <- sapply(per, function(r) r$fixed$estimate); rownames(qhat) <- nm
  u_rob <- sapply(per, function(r) r$fixed$robust_se_cr0^2); rownames(u_rob) <- nm
  te_rob <- testEstimates(qhat = qhat, uhat = u_rob, df.com = df_com)

  # hand-coded Rubin / Barnard-Rubin check (docs/statistics.md section 14)
  u <- sapply(per, function(r) r$fixed$se^2)
  qbar <- rowMeans(qhat); ubar <- rowMeans(u); B <- apply(qhat, 1, var)
  Tt <- ubar + (1 + 1 / M) * B
  r <- (1 + 1 / M) * B / ubar
  nu_r <- (M - 1) * (1 + 1 / r)^2
  lam <- (1 + 1 / M) * B / Tt
  nu_obs <- (df_com + 1) / (df_com + 3) * df_com * (1 - lam)
  nu_br <- 1 / (1 / nu_r + 1 / nu_obs)
  pb <- pool_tab(te_br, nm, lab)
  stopifnot(max(abs(pb$estimate - qbar)) < 1e-12, max(abs(pb$se - sqrt(Tt))) < 1e-12,
            max(abs(pb$df / nu_br - 1)) < 1e-10, max(abs(pool_tab(te_rubin, nm, lab)$df / nu_r - 1)) < 1e-10)
  rob <- pool_tab(te_rob, nm, lab)

  avg <- function(f) Reduce(`+`, lapply(per, f)) / M
  results[[vn]] <- list(
    hlm_equations = per[[1]]$hlm_equations, lme4_formula = per[[1]]$lme4_formula, method = "REML",
    df_com = I(df_com),
    pooled = list(
      model_based_barnard_rubin = pb,
      model_based_rubin1987 = pool_tab(te_rubin, nm, lab),
      robust_cr0_barnard_rubin = rob,
      between_variance = I(unname(B)), within_variance = I(unname(ubar)), total_variance = I(unname(Tt)),
      average_sigma2 = avg(function(r) r$sigma2),
      average_tau = avg(function(r) r$tau$matrix),
      average_deviance = avg(function(r) r$deviance),
      average_reliability = sapply(names(per[[1]]$reliability), function(q) avg(function(r) r$reliability[[q]]), simplify = FALSE),
      average_chi2 = sapply(names(per[[1]]$chi2), function(q) avg(function(r) r$chi2[[q]]$stat), simplify = FALSE)
    ),
    per_imputation = per)
  print(te_br)
}

ref <- list(
  case = "mitml", software = software_versions(c("mitml", "pan")),
  data = list(file = "tests/reference/data/hsb_mi.csv",
              level2 = "src/openhlm/datasets/hsb/hsb2.csv",
              notes = "M = 5 completed HS&B data sets stacked with .imp = 1..5 (hsb1 row order within each); ses_imputed = 1 where ses was deleted (15% MCAR, set.seed(1)) and imputed by mitml::panImpute; cses = ses group-mean centred within each completed data set; sector and meanses from hsb2 (file values)"),
  imputation = list(method = "mitml::panImpute", formula = "ses_obs + mathach ~ 1 + sector + meanses + (1 | id)",
                    n_burn = 2000, n_iter = 200, m = M, seed = 12345, deletion_seed = 1,
                    n_deleted = length(miss)),
  models = results
)
write_reference_json(ref, file.path(outdir, "reference.json"))
