# mlmRev::Exam (4059 students in 65 schools).
# Run from the repository root:  Rscript tests/reference/crosscheck/exam/make_reference.R
source("tests/reference/crosscheck/_common.R")
suppressPackageStartupMessages(library(mlmRev))
outdir <- "tests/reference/crosscheck/exam"
data("Exam", package = "mlmRev")
ex <- data.frame(school = as.integer(as.character(Exam$school)),
                 student = as.integer(as.character(Exam$student)),
                 normexam = Exam$normexam, standLRT = Exam$standLRT,
                 female = as.integer(Exam$sex == "F"),
                 vr = as.character(Exam$vr), intake = as.character(Exam$intake),
                 schgend = as.character(Exam$schgend),
                 boys = as.integer(Exam$schgend == "boys"), girls = as.integer(Exam$schgend == "girls"),
                 schavg = Exam$schavg, type = as.character(Exam$type))
stopifnot(!is.unsorted(ex$school))
write_csv_full(ex, "tests/reference/data/exam.csv")
l2 <- ex[!duplicated(ex$school), c("school", "schgend", "boys", "girls", "schavg", "type")]
write_csv_full(l2, "tests/reference/data/exam_level2.csv")
d <- utils::read.csv("tests/reference/data/exam.csv")   # fit exactly what was exported

I1 <- function(level2 = "1", random = TRUE) list(x = NULL, random = random, level2 = level2, lme4_ranef = "(Intercept)")
LRT <- function(level2 = "1", random = TRUE) list(x = "standLRT", random = random, level2 = level2, lme4_ranef = "standLRT")
base <- list(outcome = "normexam", id = "school")

models <- list()
models$a_random_slope_reml <- reference_record(
  "a_random_slope_reml", c(base, list(level1 = list(INTRCPT1 = I1(), STANDLRT = LRT()))),
  d, normexam ~ standLRT + (standLRT | school), TRUE,
  "(a) normexam = B0 + B1*(STANDLRT) + R; B0 = G00 + U0; B1 = G10 + U1", outdir)
models$b_nonrandom_slope_reml <- reference_record(
  "b_nonrandom_slope_reml",
  c(base, list(level1 = list(INTRCPT1 = I1(c("1", "schavg")), STANDLRT = LRT(c("1", "schavg"), random = FALSE)))),
  d, normexam ~ standLRT * schavg + (1 | school), TRUE,
  "(b) non-randomly varying slope: B0 = G00 + G01*SCHAVG + U0; B1 = G10 + G11*SCHAVG (no U1)", outdir)
for (REML in c(TRUE, FALSE)) {
  key <- paste0("c_schgend_", if (REML) "reml" else "ml")
  rec <- reference_record(
    key, c(base, list(level1 = list(INTRCPT1 = I1(c("1", "boys", "girls")), STANDLRT = LRT()))),
    d, normexam ~ standLRT + boys + girls + (standLRT | school), REML,
    "(c) 3-level level-2 factor SCHGEND (reference: mixed) as two dummies on the intercept: B0 = G00 + G01*BOYS + G02*GIRLS + U0; B1 = G10 + U1",
    outdir)
  rec$glh <- list(wald(rec, c("G01", "G02")))
  models[[key]] <- rec
}
ref <- list(case = "exam", software = software_versions("mlmRev"),
            data = list(file = "tests/reference/data/exam.csv", level2_file = "tests/reference/data/exam_level2.csv",
                        notes = "mlmRev::Exam; school and student as integer labels; female = (sex == 'F'); boys/girls = schgend dummies (reference 'mixed'); schavg = school average intake score (level 2)"),
            models = models)
write_reference_json(ref, file.path(outdir, "reference.json"))
