import COpenBLAS

/// Row-major GEMM (sgemm or dgemm): C = alpha·op(A)·op(B) + beta·C, where op(A) is
/// M×K and op(B) is K×N. Leading dimensions are row strides in elements.
@inline(__always)
func gemm<S: Real>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                   alpha: S = 1, a: UnsafePointer<S>, lda: Int,
                   b: UnsafePointer<S>, ldb: Int,
                   beta: S = 0, c: UnsafeMutablePointer<S>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C·beta; make the zero-K case explicit.
        for r in 0..<m { for q in 0..<n { c[r * ldc + q] = beta == 0 ? 0 : beta * c[r * ldc + q] } }
        return
    }
    S.blasGemm(transA: transA, transB: transB, m: Int32(m), n: Int32(n), k: Int32(k), alpha: alpha,
               a: a, lda: Int32(lda), b: b, ldb: Int32(ldb), beta: beta, c: c, ldc: Int32(ldc))
}

/// LAPACK complete/reduced QR of a row-major m×n matrix, through sgeqrf + sorgqr on its
/// column-major transpose. Returns (Q: m×kq, R: kq×n) with kq = m (complete) or min(m,n).
/// No sign correction, matching torch.linalg.qr on LAPACK.
func lapackQR<S: Real>(_ a: UnsafePointer<S>, m: Int, n: Int, complete: Bool) throws -> (q: [S], r: [S], kq: Int) {
    guard m <= Int(Int32.max), n <= Int(Int32.max) else { throw DFMError.invalid("qr", "matrix \(m)x\(n) too large for LAPACK") }
    let k = min(m, n)
    let kq = complete ? m : k
    let cols = max(n, kq)
    // Column-major m×cols work matrix: A in the first n columns.
    var w = [S](repeating: 0, count: m * max(cols, 1))
    for i in 0..<m { for j in 0..<n { w[j * m + i] = a[i * n + j] } }
    var tau = [S](repeating: 0, count: max(k, 1))
    var mi = Int32(m), ni = Int32(n), lda = Int32(max(m, 1)), info: Int32 = 0
    var lwork: Int32 = -1
    var q: S = 0
    S.geqrf(&mi, &ni, &w, &lda, &tau, &q, &lwork, &info)
    lwork = workSize(q)
    var work = [S](repeating: 0, count: Int(lwork))
    S.geqrf(&mi, &ni, &w, &lda, &tau, &work, &lwork, &info)
    guard info == 0 else { throw DFMError(.internal, "qr: sgeqrf failed with info \(info)") }
    // R: upper triangle of the first kq rows.
    var r = [S](repeating: 0, count: kq * n)
    // Rows at or beyond n (complete mode, m > n) are all zero.
    for i in 0..<min(kq, n) { for j in i..<n { r[i * n + j] = w[j * m + i] } }
    // Q: sorgqr builds the first kq columns from the reflectors.
    var kqi = Int32(kq), ki = Int32(k)
    lwork = -1
    S.orgqr(&mi, &kqi, &ki, &w, &lda, &tau, &q, &lwork, &info)
    lwork = workSize(q)
    work = [S](repeating: 0, count: Int(lwork))
    S.orgqr(&mi, &kqi, &ki, &w, &lda, &tau, &work, &lwork, &info)
    guard info == 0 else { throw DFMError(.internal, "qr: sorgqr failed with info \(info)") }
    var qo = [S](repeating: 0, count: m * kq)
    for i in 0..<m { for j in 0..<kq { qo[i * kq + j] = w[j * m + i] } }
    return (qo, r, kq)
}

/// LAPACK's workspace-query answer as an lwork (at least 1, never overflowing Int32).
private func workSize<S: Real>(_ q: S) -> Int32 {
    q.isFinite ? Int32(clamping: Int(Swift.max(1, Swift.min(q, 2e9)))) : 1
}
