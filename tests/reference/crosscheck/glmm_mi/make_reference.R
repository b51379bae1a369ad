# Reference values for HGLMs fitted to multiply imputed data and plausible values:
# lme4::glmer (Laplace) on each completed data set, pooled by Rubin's rules with Barnard-Rubin
# d.f. computed here by hand (docs/statistics.md section 14; the formulas of mitml's
# testEstimates, which could not be installed offline: see PROVENANCE.md).
# Run from the repository root:  Rscript tests/reference/crosscheck/glmm_mi/make_reference.R
# R is NOT a dependency of openhlm: this script only (re)generates the committed CSV data and
# reference.json that tests/unit/glmm/test_imputed.py reads.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
source("tests/reference/crosscheck/_common.R")
out_dir <- "tests/reference/crosscheck/glmm_mi"
src_dir <- "tests/reference/crosscheck/glmm"
M <- 5

# -- imputation helpers (proper: parameters drawn from their approximate posterior) -----------
draw_normal <- function(fit) {
  X <- model.matrix(fit); k <- ncol(X); n <- nrow(X)
  s2 <- sum(residuals(fit)^2) / rchisq(1, n - k)
  b <- coef(fit) + t(chol(s2 * solve(crossprod(X)))) %*% rnorm(k)
  list(beta = drop(b), sigma = sqrt(s2))
}
draw_logit <- function(fit) {
  drop(coef(fit) + t(chol(vcov(fit))) %*% rnorm(length(coef(fit))))
}

# -- 1. Contraception: 25% of age missing (MCAR), imputed M times by normal regression --------
contra <- read.csv(file.path(src_dir, "contraception.csv"))
set.seed(20261)
miss <- sort(sample.int(nrow(contra), round(0.25 * nrow(contra))))
obs <- contra[-miss, ]
fit_age <- lm(age ~ use + urban + children + durban, data = obs)
Xmiss <- model.matrix(~ use + urban + children + durban, data = contra[miss, ])
mi <- do.call(rbind, lapply(seq_len(M), function(m) {
  d <- draw_normal(fit_age)
  x <- contra
  x$age[miss] <- drop(Xmiss %*% d$beta) + rnorm(length(miss), 0, d$sigma)
  data.frame(imp = m, x[, c("district", "use", "age", "urban", "children", "durban")],
             age_imputed = as.integer(seq_len(nrow(x)) %in% miss))
}))
write_csv_full(mi, file.path(out_dir, "contraception_mi.csv"))
mi <- read.csv(file.path(out_dir, "contraception_mi.csv"))    # fit exactly what was exported

# -- 2. Contraception: plausible values of the outcome (15% of use missing, logistic draws) ---
set.seed(20262)
miss_y <- sort(sample.int(nrow(contra), round(0.15 * nrow(contra))))
fit_use <- glm(use ~ age + urban + children + durban, family = binomial,
               data = contra[-miss_y, ])
Xy <- model.matrix(~ age + urban + children + durban, data = contra[miss_y, ])
pv <- contra[, c("district", "age", "urban", "children", "durban")]
for (m in seq_len(M)) {
  b <- draw_logit(fit_use)
  y <- contra$use
  y[miss_y] <- rbinom(length(miss_y), 1, plogis(drop(Xy %*% b)))
  pv[[paste0("pv", m)]] <- y
}
write_csv_full(pv, file.path(out_dir, "contraception_pv.csv"))
pv <- read.csv(file.path(out_dir, "contraception_pv.csv"))

# -- 3. Epilepsy counts: 20% of the subjects' lage (a level-2 variable) missing ----------------
ep <- read.csv(file.path(src_dir, "epilepsy.csv"))
subj <- ep[!duplicated(ep$subject), c("subject", "trt", "lage")]
subj$total <- tapply(ep$y, ep$subject, sum)[as.character(subj$subject)]
set.seed(20263)
miss_s <- sort(sample.int(nrow(subj), round(0.2 * nrow(subj))))
fit_lage <- lm(lage ~ trt + log(total + 1), data = subj[-miss_s, ])
Xs <- model.matrix(~ trt + log(total + 1), data = subj[miss_s, ])
ep_mi <- do.call(rbind, lapply(seq_len(M), function(m) {
  d <- draw_normal(fit_lage)
  s <- subj
  s$lage[miss_s] <- drop(Xs %*% d$beta) + rnorm(length(miss_s), 0, d$sigma)
  x <- ep
  x$lage <- s$lage[match(x$subject, s$subject)]
  data.frame(imp = m, x[, c("subject", "y", "weeks", "post", "trt", "lage")])
}))
write_csv_full(ep_mi, file.path(out_dir, "epilepsy_mi.csv"))
ep_mi <- read.csv(file.path(out_dir, "epilepsy_mi.csv"))

# -- fits and pooling -------------------------------------------------------------------------
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                     tolPwrss = 1e-12)
fit_one <- function(formula, data, family) {
  fit <- glmer(formula, data = data, family = family, nAGQ = 1, control = ctrl)
  restarts <- 0
  while (length(fit@optinfo$conv$lme4$messages) > 0 && restarts < 3) {
    # a convergence warning: restart from where bobyqa stopped (Nelder-Mead, then bobyqa)
    restarts <- restarts + 1
    start <- list(theta = getME(fit, "theta"), fixef = fixef(fit))
    opt <- if (restarts == 1) "Nelder_Mead" else "bobyqa"
    again <- glmer(formula, data = data, family = family, nAGQ = 1, start = start,
                   control = glmerControl(optimizer = opt, tolPwrss = 1e-12,
                                          optCtrl = list(maxfun = 1e5)))
    if (-2 * logLik(again) <= -2 * logLik(fit)) fit <- again
  }
  vc <- VarCorr(fit)[[1]]
  list(fixef = unname(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       tau = unname(as.matrix(vc)[, , drop = FALSE]), deviance = -2 * as.numeric(logLik(fit)),
       messages = unlist(fit@optinfo$conv$lme4$messages), restarts = restarts)
}
rubin <- function(q, u, df_com) {   # q, u: M x F
  M <- nrow(q)
  qbar <- colMeans(q); ubar <- colMeans(u); B <- apply(q, 2, var)
  Tt <- ubar + (1 + 1 / M) * B
  r <- (1 + 1 / M) * B / ubar
  nu_r <- ifelse(B > 0, (M - 1) * (1 + 1 / r)^2, Inf)
  lam <- (1 + 1 / M) * B / Tt
  nu_obs <- (df_com + 1) / (df_com + 3) * df_com * (1 - lam)
  nu <- 1 / (1 / nu_r + 1 / nu_obs)
  se <- sqrt(Tt); t <- qbar / se; crit <- qt(0.975, nu)
  list(estimate = I(qbar), se = I(se), df = I(nu), t = I(t), p_value = I(2 * pt(-abs(t), nu)),
       riv = I(r), fmi = I((r + 2 / (nu + 3)) / (r + 1)), within = I(ubar), between = I(B),
       ratio = I(exp(qbar)), ci_low = I(exp(qbar - crit * se)),
       ci_high = I(exp(qbar + crit * se)))
}
case <- function(openhlm, formula, data_sets, family, gammas, df_com, description) {
  fits <- lapply(data_sets, function(d) fit_one(formula, d, family))
  q <- t(sapply(fits, `[[`, "fixef")); u <- t(sapply(fits, function(f) f$se^2))
  list(openhlm = openhlm, glmer = paste(deparse(formula), collapse = " "),
       description = description, gammas = I(gammas), df_com = I(df_com),
       per_dataset = lapply(fits, function(f) list(fixef = I(f$fixef), se = I(f$se),
                                                 tau = f$tau, deviance = f$deviance,
                                                 restarts = f$restarts,
                                                 messages = I(as.character(f$messages)))),
       pooled = rubin(q, u, df_com),
       average_tau = Reduce(`+`, lapply(fits, `[[`, "tau")) / length(fits),
       average_deviance = mean(sapply(fits, `[[`, "deviance")))
}
J <- length(unique(contra$district)); N <- nrow(contra)
by_imp <- function(x) lapply(seq_len(M), function(m) x[x$imp == m, ])
models <- list()
# HLM's d.f.: J - F_q for the gammas of a random coefficient, N - F (F all gammas) otherwise
models$contra_ri_age <- case(
  "use = B0 + B1*age + B2*urban + B3*children; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20; B3 = G30",
  use ~ durban + age + urban + children + (1 | district), by_imp(mi), binomial,
  c("G00", "G01", "G10", "G20", "G30"), c(J - 2, J - 2, N - 5, N - 5, N - 5),
  "random intercept, age imputed (25% MCAR)")
models$contra_rs_age <- case(
  "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20 + U2",
  use ~ durban + age + urban + (urban | district), by_imp(mi), binomial,
  c("G00", "G01", "G10", "G20"), c(J - 2, J - 2, N - 4, J - 1),
  "random intercept and urban slope, age imputed (25% MCAR)")
pv_sets <- lapply(seq_len(M), function(m) { d <- pv; d$y <- d[[paste0("pv", m)]]; d })
models$contra_pv <- case(
  "pv1 = B0 + B1*age + B2*urban + B3*children; B0 = G00 + U0; B1 = G10; B2 = G20; B3 = G30",
  y ~ age + urban + children + (1 | district), pv_sets, binomial,
  c("G00", "G10", "G20", "G30"), c(J - 1, N - 4, N - 4, N - 4),
  "plausible values pv1..pv5 of the outcome (15% of use imputed by logistic draws)")
Je <- length(unique(ep$subject)); Ne <- nrow(ep)
models$epil_lage <- case(
  "y = B0 + B1*post; B0 = G00 + G01*trt + G02*lage + U0; B1 = G10 + G11*trt",
  y ~ trt + lage + post + post:trt + offset(log(weeks)) + (1 | subject), by_imp(ep_mi), poisson,
  c("G00", "G01", "G02", "G10", "G11"), c(Je - 3, Je - 3, Je - 3, Ne - 5, Ne - 5),
  "Poisson with exposure weeks, level-2 lage imputed for 20% of the subjects")

ref <- list(case = "glmm_mi", software = software_versions(),
            m = M, files = list(contraception_mi = "contraception_mi.csv",
                                contraception_pv = "contraception_pv.csv",
                                epilepsy_mi = "epilepsy_mi.csv"),
            models = models)
write_reference_json(ref, file.path(out_dir, "reference.json"))
for (k in names(models)) {
  cat(k, "\n"); print(round(rbind(estimate = models[[k]]$pooled$estimate,
                                   se = models[[k]]$pooled$se, df = models[[k]]$pooled$df,
                                   fmi = models[[k]]$pooled$fmi), 5))
}
