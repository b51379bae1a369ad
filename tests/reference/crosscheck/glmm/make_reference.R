# Reference values for openhlm's HGLM (two-level GLMM) estimation.
# Run from the repository root:  Rscript tests/reference/crosscheck/glmm/make_reference.R
# R is NOT a dependency of openhlm: this script only (re)generates the committed CSV data and
# reference.json that tests/unit/glmm/test_reference.py reads.
#
# Fits: lme4::glmer (Laplace = nAGQ 1, adaptive Gauss-Hermite nAGQ 10 / 25 for a scalar random
# effect; bobyqa, maxfun 1e5, tight rhoend) and MASS::glmmPQL (as shipped: 10 iterations, its
# 1e-6 relative stopping rule) plus the same glmmPQL code run to a tight fixed point
# ("pql_tight": the stopping constant 1e-6 replaced by 1e-15, 500 iterations).
suppressPackageStartupMessages({
  library(lme4); library(MASS); library(nlme); library(jsonlite)
})
out_dir <- "tests/reference/crosscheck/glmm"

short <- function(x) {
  vapply(x, function(v) {
    for (d in 15:17) { s <- sprintf(paste0("%.", d, "g"), v); if (as.numeric(s) == v) return(s) }
    sprintf("%.17g", v)
  }, "")
}
write_csv_full <- function(df, path) {
  df[] <- lapply(df, function(col) if (is.numeric(col)) short(col) else as.character(col))
  write.csv(df, path, row.names = FALSE, quote = FALSE)
}

# -- data ------------------------------------------------------------------------------------
data(Contraception, package = "mlmRev")
contra <- data.frame(district = as.integer(as.character(Contraception$district)),
                     use = as.integer(Contraception$use == "Y"),
                     age = Contraception$age,
                     urban = as.integer(Contraception$urban == "Y"),
                     children = as.integer(Contraception$livch != "0"))
contra$durban <- ave(contra$urban, contra$district)          # level-2: share urban
contra$rural <- 1L - contra$urban
contra <- contra[order(contra$district), ]
write_csv_full(contra, file.path(out_dir, "contraception.csv"))

data(cbpp, package = "lme4")
cb <- data.frame(herd = as.integer(as.character(cbpp$herd)), incidence = cbpp$incidence,
                 size = cbpp$size, period2 = as.integer(cbpp$period == "2"),
                 period3 = as.integer(cbpp$period == "3"),
                 period4 = as.integer(cbpp$period == "4"))
cb <- cb[order(cb$herd), ]
write_csv_full(cb, file.path(out_dir, "cbpp.csv"))

# MASS::epil in long form with the 8-week baseline as a row: counts with exposure (weeks)
ep1 <- epil[epil$period == 1, ]
base <- data.frame(subject = ep1$subject, y = ep1$base, weeks = 8, post = 0L,
                   trt = as.integer(ep1$trt == "progabide"), lage = ep1$lage)
fol <- data.frame(subject = epil$subject, y = epil$y, weeks = 2, post = 1L,
                  trt = as.integer(epil$trt == "progabide"), lage = epil$lage)
ep <- rbind(base, fol)
ep <- ep[order(ep$subject, ep$post), ]
write_csv_full(ep, file.path(out_dir, "epilepsy.csv"))

# -- fits ------------------------------------------------------------------------------------
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                     tolPwrss = 1e-12)
glmer_record <- function(formula, data, family, nAGQ) {
  fit <- glmer(formula, data = data, family = family, nAGQ = nAGQ, control = ctrl)
  vc <- VarCorr(fit)[[1]]
  list(nAGQ = nAGQ, deviance = -2 * as.numeric(logLik(fit)),
       fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       theta = unname(getME(fit, "theta")),
       tau = unname(lapply(seq_len(nrow(vc)), function(i) unname(vc[i, ]))),
       messages = unlist(fit@optinfo$conv$lme4$messages))
}
pql_tight <- MASS::glmmPQL
body(pql_tight) <- parse(text = gsub("1e-06", "1e-15", deparse(body(MASS::glmmPQL))))[[1]]
pql_record <- function(fun, fixed, random, data, family, niter) {
  fit <- suppressMessages(fun(fixed, random = random, family = family, data = data,
                              niter = niter, verbose = FALSE))
  vc <- getVarCov(fit)
  list(fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(vcov(fit)))),
       tau = unname(lapply(seq_len(nrow(vc)), function(i) unname(vc[i, ]))),
       sigma2 = fit$sigma^2, iterations = length(fit$call) )
}
pql_both <- function(fixed, random, data, family) {
  list(glmmPQL = pql_record(MASS::glmmPQL, fixed, random, data, family, 10),
       pql_tight = pql_record(pql_tight, fixed, random, data, family, 500))
}

models <- list()
f1 <- use ~ age + urban + durban + (1 | district)
models$contra_ri <- list(
  openhlm = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20",
  data = "contraception.csv", id = "district", distribution = "bernoulli",
  laplace = glmer_record(f1, contra, binomial, 1),
  agq10 = glmer_record(f1, contra, binomial, 10),
  agq25 = glmer_record(f1, contra, binomial, 25),
  pql = pql_both(use ~ age + urban + durban, ~ 1 | district, contra, binomial))
f2 <- use ~ age + urban + (urban | district)
models$contra_rs <- list(
  openhlm = "use = B0 + B1*age + B2*urban; B0 = G00 + U0; B1 = G10; B2 = G20 + U2",
  data = "contraception.csv", id = "district", distribution = "bernoulli",
  laplace = glmer_record(f2, contra, binomial, 1),
  pql = pql_both(use ~ age + urban, ~ urban | district, contra, binomial))
# random-only slope (B2 = U2: no fixed urban effect), correlated with the intercept
models$contra_random_only <- list(
  openhlm = "use = B0 + B1*age + B2*urban; B0 = G00 + U0; B1 = G10; B2 = U2",
  data = "contraception.csv", id = "district", distribution = "bernoulli",
  names = list("(Intercept)" = "G00", age = "G10"),
  laplace = glmer_record(use ~ age + (urban | district), contra, binomial, 1))
# equality constraint G10 = G20 (one coefficient for age and urban) and group-mean centred age
contra$age_c <- contra$age - ave(contra$age, contra$district)
models$contra_constrained <- list(
  openhlm = paste("use = B0 + B1*group(age) + B2*urban; B0 = G00 + U0; B1 = G10; B2 = G20;",
                  "G10 = G20"),
  data = "contraception.csv", id = "district", distribution = "bernoulli",
  names = list("(Intercept)" = "G00", "I(age_c + urban)" = "G10"),
  laplace = glmer_record(use ~ I(age_c + urban) + (1 | district), contra, binomial, 1))
# no level-1 intercept: urban and rural intercepts as two dummies, both random
models$contra_no_intercept <- list(
  openhlm = "use = B1*rural + B2*urban; B1 = G10 + U1; B2 = G20 + U2",
  data = "contraception.csv", id = "district", distribution = "bernoulli",
  names = list(rural = "G10", urban = "G20"),
  laplace = glmer_record(use ~ 0 + rural + urban + (0 + rural + urban | district), contra,
                         binomial, 1))
f3 <- cbind(incidence, size - incidence) ~ period2 + period3 + period4 + (1 | herd)
models$cbpp <- list(
  openhlm = paste("incidence = B0 + B1*period2 + B2*period3 + B3*period4;",
                  "B0 = G00 + U0; B1 = G10; B2 = G20; B3 = G30"),
  data = "cbpp.csv", id = "herd", distribution = "binomial", trials = "size",
  laplace = glmer_record(f3, cb, binomial, 1),
  agq25 = glmer_record(f3, cb, binomial, 25),
  pql = pql_both(cbind(incidence, size - incidence) ~ period2 + period3 + period4, ~ 1 | herd,
                 cb, binomial))
f4 <- y ~ post * trt + lage + offset(log(weeks)) + (1 | subject)
models$epil_ri <- list(
  openhlm = paste("y = B0 + B1*post; B0 = G00 + G01*trt + G02*lage + U0;",
                  "B1 = G10 + G11*trt"),
  data = "epilepsy.csv", id = "subject", distribution = "poisson", exposure = "weeks",
  laplace = glmer_record(f4, ep, poisson, 1),
  agq25 = glmer_record(f4, ep, poisson, 25),
  pql = pql_both(y ~ post * trt + lage + offset(log(weeks)), ~ 1 | subject, ep, poisson))
f5 <- y ~ post * trt + lage + offset(log(weeks)) + (post | subject)
models$epil_rs <- list(
  openhlm = paste("y = B0 + B1*post; B0 = G00 + G01*trt + G02*lage + U0;",
                  "B1 = G10 + G11*trt + U1"),
  data = "epilepsy.csv", id = "subject", distribution = "poisson", exposure = "weeks",
  laplace = glmer_record(f5, ep, poisson, 1))

software <- list(R = paste(R.version$major, R.version$minor, sep = "."))
for (p in c("lme4", "MASS", "nlme", "mlmRev", "jsonlite")) software[[p]] <- as.character(packageVersion(p))
write_json(list(case = "glmm", software = software, models = models),
           file.path(out_dir, "reference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, null = "null", na = "null")
cat("written", file.path(out_dir, "reference.json"), "\n")
