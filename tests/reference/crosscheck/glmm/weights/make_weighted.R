# Reference values for openhlm's HGLM with level-2 (design) weights.
# Run from the repository root:
#   Rscript tests/reference/crosscheck/glmm/weights/make_weighted.R
# lme4::glmer takes no level-2 weights, so the references are
#  (1) a direct weighted Laplace pseudo-likelihood, sum_j w_j log L_j, maximised by optim
#      (non-integer weights normalised to sum J, as openhlm/HLM normalise level-2 weights),
#      with its model-based (2 H^-1) and CR0 pseudo-likelihood sandwich SEs, all by
#      finite differences written here;
#  (2) glmer (Laplace) on the data with every district repeated w_j times (integer weights),
#      which the weighted fit with raw (unnormalised) weights must equal.
suppressMessages({library(lme4); library(jsonlite)})
here <- "tests/reference/crosscheck/glmm"
d <- read.csv(file.path(here, "contraception.csv"))
ids <- sort(unique(d$district))
J <- length(ids)
# deterministic weights: non-integer (wt) and integer (freq)
wt_raw <- 0.4 + ((ids * 7) %% 11) / 5
freq <- 1 + (ids %% 3)
write.csv(data.frame(district = ids, wt = wt_raw, freq = freq),
          file.path(here, "weights", "contraception_weights.csv"), row.names = FALSE)
w <- wt_raw * J / sum(wt_raw)

X <- cbind(1, d$durban, d$age, d$urban)      # G00, G01, G10, G20
y <- d$use
unit <- match(d$district, ids)

unit_loglik <- function(par) {
  beta <- par[1:4]; th <- par[5]
  eta0 <- drop(X %*% beta)
  b <- numeric(J)
  for (it in 1:100) {
    eta <- eta0 + th * b[unit]
    mu <- plogis(eta)
    g <- th * tapply(y - mu, unit, sum) - b
    H <- 1 + th^2 * tapply(mu * (1 - mu), unit, sum)
    step <- g / H
    b <- b + step
    if (max(abs(step)) < 1e-13) break
  }
  eta <- eta0 + th * b[unit]
  mu <- plogis(eta)
  H <- 1 + th^2 * tapply(mu * (1 - mu), unit, sum)
  ll <- tapply(y * eta - log1p(exp(eta)), unit, sum) - b^2 / 2 - 0.5 * log(H)
  as.numeric(ll)
}
dev <- function(par) -2 * sum(w * unit_loglik(par))
start <- c(coef(glm(use ~ durban + age + urban, binomial, data = d)), 0.5)
opt <- optim(start, dev, method = "BFGS",
             control = list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-6, 5)))
opt <- optim(opt$par, dev, method = "Nelder-Mead",
             control = list(reltol = 1e-15, maxit = 20000))
opt <- optim(opt$par, dev, method = "BFGS",
             control = list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-6, 5)))
par <- opt$par
hess <- function(f, x, h = 1e-4) {
  n <- length(x); H <- matrix(0, n, n)
  for (i in 1:n) for (k in 1:n) {
    ei <- replace(numeric(n), i, h * max(1, abs(x[i])))
    ek <- replace(numeric(n), k, h * max(1, abs(x[k])))
    H[i, k] <- (f(x + ei + ek) - f(x + ei - ek) - f(x - ei + ek) + f(x - ei - ek)) /
      (4 * ei[i] * ek[k])
  }
  (H + t(H)) / 2
}
H <- hess(dev, par)
se_model <- sqrt(diag(2 * solve(H))[1:4])
# CR0 sandwich (theta held): A = H_bb / 2, meat sum_j (w_j s_j)(w_j s_j)'
S <- matrix(0, J, 4)
for (i in 1:4) {
  e <- replace(numeric(5), i, 1e-5 * max(1, abs(par[i])))
  S[, i] <- (unit_loglik(par + e) - unit_loglik(par - e)) / (2 * e[i])
}
A <- H[1:4, 1:4] / 2
Ai <- solve(A)
robust <- Ai %*% crossprod(S * w) %*% Ai

# (2) integer weights: glmer on the replicated districts
rep_rows <- unlist(lapply(seq_len(nrow(d)), function(i) rep(i, freq[unit[i]])))
copy <- unlist(lapply(seq_len(nrow(d)), function(i) seq_len(freq[unit[i]])))
dr <- d[rep_rows, ]
dr$rep_id <- dr$district * 1000 + copy
g <- glmer(use ~ durban + age + urban + (1 | rep_id), family = binomial, data = dr,
           control = glmerControl(optimizer = "bobyqa",
                                  optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                                  tolPwrss = 1e-12))
# (3) level-1 weights: for a 0/1 outcome glmer's prior weights give the same log-density,
#     d_i [y_i eta_i - log(1 + exp(eta_i))] (log C(d, d y) = 0), the pseudo-likelihood
#     openhlm maximises with raw (unnormalised) level-1 weights.  Integer weights only: for
#     non-integer prior weights glmer's Laplace objective uses the binomial family's aic(),
#     which rounds the weights (dbinom(round(m y), round(m), mu)), so it maximises another
#     function.
d1 <- 1 + ((seq_len(nrow(d)) * 13) %% 7) %/% 3
write.csv(data.frame(row = seq_len(nrow(d)), d1 = d1),
          file.path(here, "weights", "contraception_row_weights.csv"), row.names = FALSE)
d$d1 <- d1
g1 <- glmer(use ~ durban + age + urban + (1 + urban | district),
            family = binomial, data = d, weights = d1,
            control = glmerControl(optimizer = "bobyqa",
                                   optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                                   tolPwrss = 1e-12))
vc1 <- VarCorr(g1)$district

out <- list(
  software = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  model = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20",
  gammas = c("G00", "G01", "G10", "G20"),
  weighted_laplace = list(weight = "wt", normalised_sum = J, deviance = opt$value,
                          gamma = unname(par[1:4]), tau = par[5]^2, se = unname(se_model),
                          robust_se = unname(sqrt(diag(robust))), convergence = opt$convergence),
  replicated_glmer = list(weight = "freq", deviance = -2 * as.numeric(logLik(g)),
                          gamma = unname(fixef(g)), tau = as.numeric(VarCorr(g)$rep_id),
                          se = unname(sqrt(diag(as.matrix(vcov(g)))))),
  level1_glmer = list(weight = "d1", model = paste(
    "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10;",
    "B2 = G20 + U2"), deviance = -2 * as.numeric(logLik(g1)),
    gamma = unname(fixef(g1)), tau = unname(as.vector(vc1[c(1, 2, 4)])),
    se = unname(sqrt(diag(as.matrix(vcov(g1)))))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "weights", "weighted.json"))
