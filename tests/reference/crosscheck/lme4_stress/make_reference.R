# Stress cross-check: lme4 at a tight optimum on public data sets openhlm had not used and on
# simulated stress cases (tests/reference/crosscheck/lme4_stress/make_data.py, fixed seeds).
# Run from the repository root:
#   python tests/reference/crosscheck/lme4_stress/make_data.py     # simulated CSVs + big_200k.csv
#   Rscript tests/reference/crosscheck/lme4_stress/make_reference.R
# Writes data/<public case>.csv and reference.json.  R is not a dependency of openhlm.
#
# Optimiser protocol (per model): bobyqa (rhobeg 0.2, rhoend 1e-12, maxfun 1e6), then two
# polishes started at bobyqa's theta -- Nelder_Mead (FtolAbs 1e-15, XtolRel 1e-12) and
# nloptwrap/BOBYQA (xtol_abs 1e-14, ftol_abs 1e-15) -- and the lowest criterion wins.
# Badly scaled cases (offsets, calendar years, 1e6-scale predictors) are also fitted on an
# equivalent well-scaled version of the data (y - offset, year - 2005, ...); its estimates are
# mapped back exactly (X_raw = X_c M, Z_raw = Z_c M_Z: beta = M^-1 (beta_c + delta),
# T = M_Z^-1 T_c M_Z^-T, REML criterion + 2 log|det M|), and the reference is the lower
# of the raw and the mapped fit.
source("tests/reference/crosscheck/_common.R")
suppressPackageStartupMessages({ library(nlme, exclude = "lmList"); library(MASS) })
outdir <- "tests/reference/crosscheck/lme4_stress"
datadir <- file.path(outdir, "data")

ignore <- .makeCC(action = "ignore", tol = 1e-4)
ctl <- function(optimizer, optCtrl) {
  lmerControl(optimizer = optimizer, optCtrl = optCtrl, calc.derivs = FALSE,
              check.conv.singular = ignore, check.conv.grad = "ignore",
              check.conv.hess = "ignore", check.nobs.vs.nRE = "ignore")
}
crit <- function(f) if (isREML(f)) REMLcrit(f) else deviance(f)

fit_stress <- function(formula, data, REML) {
  b <- capture_warnings(lmer(formula, data = data, REML = REML,
                             control = ctl("bobyqa", list(rhobeg = 0.2, rhoend = 1e-12,
                                                          maxfun = 1e6))))
  th <- getME(b$value, "theta")
  nm <- capture_warnings(lmer(formula, data = data, REML = REML, start = list(theta = th),
                              control = ctl("Nelder_Mead", list(FtolAbs = 1e-15, FtolRel = 0,
                                                                XtolRel = 1e-12, maxfun = 1e6))))
  nl <- capture_warnings(lmer(formula, data = data, REML = REML, start = list(theta = th),
                              control = ctl("nloptwrap", list(xtol_abs = 1e-14, ftol_abs = 1e-15,
                                                              xtol_rel = 0, ftol_rel = 0,
                                                              maxeval = 1e6))))
  runs <- list(bobyqa = b, nelder_mead_polish = nm, nloptwrap_polish = nl)
  crits <- vapply(runs, function(r) crit(r$value), 0)
  best <- which.min(crits)
  list(fit = runs[[best]]$value, winner = names(runs)[best], criteria = as.list(crits),
       warnings = utils::head(unique(unlist(lapply(runs, `[[`, "warnings"))), 5))
}

record <- function(fit) {
  vc <- VarCorr(fit)[[1]]
  list(deviance = crit(fit), sigma2 = sigma(fit)^2,
       fixed_names = names(fixef(fit)), fixed = unname(fixef(fit)),
       fixed_se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       tau_names = colnames(vc), tau = unname(lapply(seq_len(nrow(vc)), function(i) unname(vc[i, ]))),
       theta = unname(getME(fit, "theta")), singular = isSingular(fit, tol = 1e-4))
}

# map a fit on the well-scaled data back to the raw parametrisation (see header)
map_back <- function(fc, fraw) {
  Xc <- getME(fc, "X"); Xr <- getME(fraw, "X")
  M <- qr.solve(Xc, Xr)
  delta <- qr.solve(Xc, getME(fraw, "y") - getME(fc, "y"))
  Mi <- solve(M)
  beta <- drop(Mi %*% (fixef(fc) + delta))
  V <- Mi %*% as.matrix(vcov(fc)) %*% t(Mi)
  Zc <- as.matrix(getME(fc, "mmList")[[1]]); Zr <- as.matrix(getME(fraw, "mmList")[[1]])
  MZi <- solve(qr.solve(Zc, Zr))
  Tc <- as.matrix(VarCorr(fc)[[1]])
  Tr <- MZi %*% Tc %*% t(MZi)
  dev <- crit(fc) + if (isREML(fc)) 2 * log(abs(det(M))) else 0
  list(deviance = dev, sigma2 = sigma(fc)^2, fixed_names = names(fixef(fraw)),
       fixed = unname(beta), fixed_se = unname(sqrt(diag(V))),
       tau_names = colnames(VarCorr(fraw)[[1]]),
       tau = unname(lapply(seq_len(nrow(Tr)), function(i) unname(Tr[i, ]))),
       theta = NULL, singular = isSingular(fc, tol = 1e-4),
       max_abs_design_residual = max(abs(Xr - Xc %*% M)))
}

run_case <- function(key, formula, data, REML, equations, conditioned = NULL, note = "") {
  cat(key, "\n")
  raw <- fit_stress(formula, data, REML)
  rec <- record(raw$fit)
  out <- list(equations = equations, lme4_formula = deparse1(formula),
              method = if (REML) "REML" else "ML", n_level1 = nrow(data),
              n_level2 = length(unique(data$g)), note = note,
              raw_fit = c(rec, list(winner = raw$winner, criteria = raw$criteria,
                                    warnings = raw$warnings)))
  ref <- rec; from <- "raw"
  if (!is.null(conditioned)) {
    cf <- fit_stress(formula, conditioned, REML)
    mapped <- map_back(cf$fit, raw$fit)
    out$conditioned_fit <- c(mapped, list(winner = cf$winner, criteria = cf$criteria,
                                          warnings = cf$warnings))
    # the mapped fit is exact arithmetic on well-scaled data: it is the reference unless the
    # raw fit is clearly lower (lme4 on raw offsets can land ~1e-8 *below*: rounding)
    if (mapped$deviance < rec$deviance + 1e-6) { ref <- mapped; from <- "conditioned (mapped back)" }
  }
  out$reference <- c(ref, list(from = from))
  out
}

# -- public data sets --------------------------------------------------------------------------
codes <- function(f) as.integer(factor(f, levels = unique(as.character(f))))
pub <- list(
  dyestuff = data.frame(g = codes(lme4::Dyestuff$Batch), y = lme4::Dyestuff$Yield),
  dyestuff2 = data.frame(g = codes(lme4::Dyestuff2$Batch), y = lme4::Dyestuff2$Yield),
  orthodont = with(nlme::Orthodont, data.frame(g = codes(Subject), age = age,
                                               female = as.numeric(Sex == "Female"),
                                               y = distance)),
  oxboys = with(nlme::Oxboys, data.frame(g = codes(Subject), age = age, age2 = age^2, y = height)),
  machines = with(nlme::Machines, data.frame(g = codes(Worker), mB = as.numeric(Machine == "B"),
                                             mC = as.numeric(Machine == "C"), y = score)),
  cake = with(lme4::cake, data.frame(g = as.integer(replicate), temp = temp, y = angle)),
  petrol = with(MASS::petrol, data.frame(g = codes(No), SG = SG, VP = VP, V10 = V10, EP = EP,
                                         y = Y)),
  insteval = local({
    d <- lme4::InstEval[as.integer(lme4::InstEval$d) <= 200, ]
    data.frame(g = as.integer(droplevels(d$d)), service = as.numeric(d$service == "1"),
               y = as.numeric(d$y))
  })
)
for (nm in names(pub)) {
  o <- order(pub[[nm]]$g, seq_len(nrow(pub[[nm]])))
  write_csv_full(pub[[nm]][o, ], file.path(datadir, paste0(nm, ".csv")))
}
rd <- function(nm) utils::read.csv(file.path(datadir, paste0(nm, ".csv")))
sim <- function(nm) if (nm == "big_200k") utils::read.csv(file.path(outdir, "big_200k.csv")) else rd(nm)

ri <- function(rhs, random) as.formula(paste("y ~", rhs, "+ (", random, "| g)"))
cases <- list(
  # key, data, formula, equations, conditioned data (or NULL), methods, note
  list("dyestuff", rd("dyestuff"), y ~ 1 + (1 | g), "y = B0 + R; B0 = G00 + U0", NULL),
  list("dyestuff2", rd("dyestuff2"), y ~ 1 + (1 | g), "y = B0 + R; B0 = G00 + U0", NULL,
       note = "tau00 = 0 at the optimum (lme4's standard singular example)"),
  list("orthodont", rd("orthodont"), y ~ age * female + (age | g),
       "y = B0 + B1*age + R; B0 = G00 + G01*female + U0; B1 = G10 + G11*female + U1",
       transform(rd("orthodont"), age = age - 11)),
  list("oxboys", rd("oxboys"), y ~ age + age2 + (age + age2 | g),
       "y = B0 + B1*age + B2*age2 + R; B0 = G00 + U0; B1 = G10 + U1; B2 = G20 + U2", NULL,
       note = "3x3 tau"),
  list("machines", rd("machines"), y ~ mB + mC + (mB + mC | g),
       "y = B0 + B1*mB + B2*mC + R; B0 = G00 + U0; B1 = G10 + U1; B2 = G20 + U2", NULL,
       note = "3x3 tau from 6 workers"),
  list("cake", rd("cake"), y ~ temp + (temp | g),
       "y = B0 + B1*temp + R; B0 = G00 + U0; B1 = G10 + U1",
       transform(rd("cake"), temp = temp - 200), note = "uncentred temperature 175-225"),
  list("petrol", rd("petrol"), y ~ SG + VP + V10 + EP + (1 | g),
       "y = B0 + B1*EP + R; B0 = G00 + G01*SG + G02*VP + G03*V10 + U0; B1 = G10",
       transform(rd("petrol"), EP = EP - 300, V10 = V10 - 200, SG = SG - 50)),
  list("insteval", rd("insteval"), y ~ service + (1 | g),
       "y = B0 + B1*service + R; B0 = G00 + U0; B1 = G10", NULL,
       note = "InstEval, lecturers d <= 200 only (nested view; units of 1 to hundreds of ratings)"),
  list("singular_tau", sim("singular_tau"), y ~ x + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", NULL),
  list("corr_plus1", sim("corr_plus1"), y ~ x + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", NULL),
  list("corr_minus1", sim("corr_minus1"), y ~ x + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", NULL),
  list("tau4x4", sim("tau4x4"), y ~ x1 + x2 + x3 + w + (x1 + x2 + x3 | g),
       "y = B0 + B1*x1 + B2*x2 + B3*x3 + R; B0 = G00 + G01*w + U0; B1 = G10 + U1; B2 = G20 + U2; B3 = G30 + U3",
       NULL),
  list("sizes_1_500", sim("sizes_1_500"), y ~ x + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", NULL),
  list("calendar_year", sim("calendar_year"), y ~ year + (year | g),
       "y = B0 + B1*year + R; B0 = G00 + U0; B1 = G10 + U1",
       transform(sim("calendar_year"), year = year - 2005)),
  list("offset_1e7", sim("offset_1e7"), y ~ 1 + (1 | g), "y = B0 + R; B0 = G00 + U0",
       transform(sim("offset_1e7"), y = y - 1e7)),
  list("offset_1e6_slope", sim("offset_1e6_slope"), y ~ x + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1",
       transform(sim("offset_1e6_slope"), y = y - 1e6)),
  list("scales_mixed", sim("scales_mixed"), y ~ big + small + (big | g),
       "y = B0 + B1*big + B2*small + R; B0 = G00 + U0; B1 = G10 + U1; B2 = G20",
       transform(sim("scales_mixed"), big = big / 1e6, small = small * 1e3)),
  list("big_200k", sim("big_200k"), y ~ x * w + (x | g),
       "y = B0 + B1*x + R; B0 = G00 + G01*w + U0; B1 = G10 + G11*w + U1", NULL,
       note = "data rebuilt from make_data.py's seed (not committed); checksum = sum(y)")
)

models <- list()
for (cs in cases) {
  key <- cs[[1]]
  for (REML in c(TRUE, FALSE)) {
    if (key == "big_200k" && !REML) next   # one fit of the large case is enough
    k <- paste0(key, if (REML) "_reml" else "_ml")
    models[[k]] <- run_case(k, cs[[3]], cs[[2]], REML, cs[[4]], cs[[5]],
                            note = if (is.null(cs$note)) "" else cs$note)
    models[[k]]$data <- key
    models[[k]]$checksum_sum_y <- round(sum(cs[[2]]$y), 6)
  }
}
write_reference_json(list(case = "lme4_stress", software = software_versions(c("nlme", "MASS")),
                          protocol = paste("bobyqa(rhobeg 0.2, rhoend 1e-12, maxfun 1e6), then",
                                           "Nelder_Mead and nloptwrap polishes from its theta;",
                                           "lowest criterion wins"),
                          models = models),
                     file.path(outdir, "reference.json"))
