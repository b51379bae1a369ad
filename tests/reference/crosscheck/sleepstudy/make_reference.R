# lme4::sleepstudy, Reaction ~ Days + (Days | Subject), REML and ML.
# Run from the repository root:  Rscript tests/reference/crosscheck/sleepstudy/make_reference.R
source("tests/reference/crosscheck/_common.R")
outdir <- "tests/reference/crosscheck/sleepstudy"
data("sleepstudy", package = "lme4")
d <- data.frame(Subject = as.integer(as.character(sleepstudy$Subject)),
                Days = sleepstudy$Days, Reaction = sleepstudy$Reaction)
write_csv_full(d, "tests/reference/data/sleepstudy.csv")
d <- utils::read.csv("tests/reference/data/sleepstudy.csv")   # fit exactly what was exported

spec <- list(outcome = "Reaction", id = "Subject",
             level1 = list(INTRCPT1 = list(x = NULL, random = TRUE, level2 = "1", lme4_ranef = "(Intercept)"),
                           DAYS = list(x = "Days", random = TRUE, level2 = "1", lme4_ranef = "Days")))
printed <- list(source = "HLM7 reliabilities for this model quoted on Stack Overflow (question 48438755); REML",
                reliability = c(INTRCPT1 = 0.730, DAYS = 0.815))
models <- list()
for (REML in c(TRUE, FALSE)) {
  key <- if (REML) "model_reml" else "model_ml"
  models[[key]] <- reference_record(key, spec, d, Reaction ~ Days + (Days | Subject), REML,
                                    "Reaction = B0 + B1*(DAYS) + R, both random (Days uncentred)", outdir,
                                    hlm_printed = if (REML) printed else NULL)
}
ref <- list(case = "sleepstudy", software = software_versions(),
            data = list(file = "tests/reference/data/sleepstudy.csv",
                        notes = "lme4::sleepstudy (180 rows, 18 subjects, Days 0-9); Subject stored as its integer label"),
            models = models)
write_reference_json(ref, file.path(outdir, "reference.json"))
