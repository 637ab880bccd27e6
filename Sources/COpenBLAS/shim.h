// OpenBLAS: cblas plus the LAPACK routines dfm needs for QR (single and double precision).
// Debian's libopenblas-dev puts cblas.h on the default include path.
#pragma once
#include <cblas.h>

// LAPACK (Fortran calling convention), exported by libopenblas.
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work, const int *lwork,
             int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *work,
             const int *lwork, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
