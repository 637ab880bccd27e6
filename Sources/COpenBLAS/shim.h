// OpenBLAS: cblas plus the two LAPACK routines dfm needs for QR.
// Debian's libopenblas-dev puts cblas.h on the default include path.
#pragma once
#include <cblas.h>

// LAPACK (Fortran calling convention), exported by libopenblas.
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau,
             float *work, const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda,
             const float *tau, float *work, const int *lwork, int *info);
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
