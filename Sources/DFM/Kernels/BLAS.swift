import COpenBLAS
import Foundation

/// OpenBLAS set up once, before dfm's first BLAS call.
///
/// OpenBLAS builds with DYNAMIC_ARCH (Debian's) pick their kernels from the CPU model, and a
/// model newer than the library (0.3.21 on Sapphire/Emerald Rapids) falls back to the SSE3
/// "Prescott" kernels: sgemm at 7-12 GFLOP/s on a core whose AVX-512 kernel ("SkylakeX")
/// does 130+ (measured on this project's 2-core Xeon). When OpenBLAS chose such an old core
/// and the CPU and OS support AVX-512 (or AVX2+FMA), dfm re-runs OpenBLAS's dynamic kernel
/// selection with the matching core, as OPENBLAS_CORETYPE would at start-up. A user's own
/// OPENBLAS_CORETYPE is left alone, and so is every core OpenBLAS recognised properly.
enum BLASSetup {
    static let ready: Void = {
        selectCore()
        openblas_set_num_threads(1)
    }()

    /// One thread pool (dfm's): OpenBLAS runs single-threaded and `gemm` splits large products
    /// over dfm's threads itself. With OpenBLAS's own threads, its idle workers spin in
    /// sched_yield while dfm's parallel loops run and the other way round (26% of W1's time
    /// in the scheduler on a 2-core machine). False hands the threading back to OpenBLAS
    /// (a benchmark switch, `KernelBench.oneThreadPool`).
    nonisolated(unsafe) static var splitGemm = true {
        didSet { openblas_set_num_threads(Int32(splitGemm ? 1 : Parallel.threads)) }
    }

    /// Runs `body` (LAPACK calls, whose BLAS calls dfm cannot split) with OpenBLAS's own threads.
    static func withOpenBLASThreads<R>(_ body: () throws -> R) rethrows -> R {
        _ = ready
        guard splitGemm, Parallel.threads > 1 else { return try body() }
        openblas_set_num_threads(Int32(Parallel.threads))
        defer {
            openblas_set_num_threads(1)
            // Idle OpenBLAS workers spin in sched_yield for ~0.1 s against dfm's threads; stop
            // them (OpenBLAS restarts them at its next threaded call). Serial builds lack it.
            if let stop = threadShutdown { _ = stop() }
        }
        return try body()
    }

    private static let threadShutdown: (@convention(c) () -> Int32)? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_"
    ).map { unsafeBitCast($0, to: (@convention(c) () -> Int32).self) }

    /// The core OpenBLAS runs (its own name for it, e.g. "SkylakeX").
    static var coreName: String {
        _ = ready
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// Cores with AVX2 or wider kernels: OpenBLAS's choice stands.
    private static let modernCores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]

    private static func selectCore() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let cur = openblas_get_corename() else { return }
        let current = String(cString: cur).lowercased()
        guard !modernCores.contains(current) else { return }
        // /proc/cpuinfo lists only the features the kernel enabled (AVX-512 state in XCR0 included).
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return }
        let flags = Set(line.split(separator: " ").map(String.init))
        let target: String
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) {
            target = "SkylakeX"
        } else if ["avx2", "fma"].allSatisfy(flags.contains) {
            target = "Haswell"
        } else {
            return
        }
        // Only DYNAMIC_ARCH builds have these; a fixed-target OpenBLAS keeps its kernels.
        guard let quit = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_quit"),
            let initialise = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init")
        else { return }
        typealias Fn = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quit, to: Fn.self)()
        unsafeBitCast(initialise, to: Fn.self)()
        unsetenv("OPENBLAS_CORETYPE")
    }
}

/// Row-major GEMM (sgemm or dgemm): C = alpha·op(A)·op(B) + beta·C, where op(A) is
/// M×K and op(B) is K×N. Leading dimensions are row strides in elements.
@inline(__always)
func gemm<S: Real>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: S = 1, a: UnsafePointer<S>, lda: Int,
    b: UnsafePointer<S>, ldb: Int,
    beta: S = 0, c: UnsafeMutablePointer<S>, ldc: Int
) {
    _ = BLASSetup.ready
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C·beta; make the zero-K case explicit.
        for r in 0..<m { for q in 0..<n { c[r * ldc + q] = beta == 0 ? 0 : beta * c[r * ldc + q] } }
        return
    }
    // Split C into column (or, when it is narrow, row) blocks, one single-threaded GEMM per
    // block on dfm's threads. Every element is still one full-K dot product in the kernel's
    // order, and the blocks depend only on the shape and thread count: deterministic.
    let t = BLASSetup.splitGemm ? Parallel.threads : 1
    let work = m &* n &* k
    if t > 1, work >= gemmSplitMinWork {
        // Each block packs its share of one operand and all of the other: splitting columns
        // repeats the packing of op(A) (m×k) per block, splitting rows that of op(B) (k×n), so
        // split along the larger of m and n. Block edges on multiples of 32 columns / 16 rows
        // keep the AVX-512 micro-kernel's tiles whole.
        if n >= m {
            let blocks = min(t, max(1, n / 32))
            if blocks > 1 {
                let unit = 32
                let units = (n + unit - 1) / unit
                Parallel.chunks(blocks, costPerItem: 1 << 18) { r in
                    for p in r {
                        let c0 = min(n, units * p / blocks * unit)
                        let c1 = min(n, units * (p + 1) / blocks * unit)
                        if c0 >= c1 { continue }
                        S.blasGemm(
                            transA: transA, transB: transB, m: Int32(m), n: Int32(c1 - c0), k: Int32(k), alpha: alpha,
                            a: a, lda: Int32(lda), b: transB ? b + c0 * ldb : b + c0, ldb: Int32(ldb),
                            beta: beta, c: c + c0, ldc: Int32(ldc))
                    }
                }
                return
            }
        } else {
            let blocks = min(t, max(1, m / 16))
            if blocks > 1 {
                let unit = 16
                let units = (m + unit - 1) / unit
                Parallel.chunks(blocks, costPerItem: 1 << 18) { r in
                    for p in r {
                        let r0 = min(m, units * p / blocks * unit)
                        let r1 = min(m, units * (p + 1) / blocks * unit)
                        if r0 >= r1 { continue }
                        S.blasGemm(
                            transA: transA, transB: transB, m: Int32(r1 - r0), n: Int32(n), k: Int32(k), alpha: alpha,
                            a: transA ? a + r0 : a + r0 * lda, lda: Int32(lda), b: b, ldb: Int32(ldb),
                            beta: beta, c: c + r0 * ldc, ldc: Int32(ldc))
                    }
                }
                return
            }
        }
    }
    S.blasGemm(
        transA: transA, transB: transB, m: Int32(m), n: Int32(n), k: Int32(k), alpha: alpha,
        a: a, lda: Int32(lda), b: b, ldb: Int32(ldb), beta: beta, c: c, ldc: Int32(ldc))
}

/// Multiply-adds below which a GEMM runs on one thread: waking a second thread costs ~10-30 µs,
/// about what 2^20 multiply-adds take on one core.
let gemmSplitMinWork = 1 << 20

/// LAPACK complete/reduced QR of a row-major m×n matrix, through sgeqrf + sorgqr on its
/// column-major transpose. Returns (Q: m×kq, R: kq×n) with kq = m (complete) or min(m,n).
/// No sign correction, matching torch.linalg.qr on LAPACK.
func lapackQR<S: Real>(_ a: UnsafePointer<S>, m: Int, n: Int, complete: Bool) throws -> (q: [S], r: [S], kq: Int) {
    _ = BLASSetup.ready
    guard m <= Int(Int32.max), n <= Int(Int32.max) else {
        throw DFMError.invalid("qr", "matrix \(m)x\(n) too large for LAPACK")
    }
    let k = min(m, n)
    let kq = complete ? m : k
    let cols = max(n, kq)
    // Column-major m×cols work matrix: A in the first n columns.
    let w = UnsafeMutablePointer<S>.allocate(capacity: m * max(cols, 1))
    defer { w.deallocate() }
    transposeBlocked(a, rows: m, cols: n, w)
    (w + m * n).initialize(repeating: 0, count: m * (max(cols, 1) - n))
    var tau = [S](repeating: 0, count: max(k, 1))
    var mi = Int32(m)
    var ni = Int32(n)
    var lda = Int32(max(m, 1))
    var info: Int32 = 0
    var lwork: Int32 = -1
    var q: S = 0
    // LAPACK's blocked QR spends its time in OpenBLAS's level-3 calls; dfm's threads cannot
    // split those, so OpenBLAS gets the threads for the two calls (a 2080×2080 QR, W6's
    // StateExpDecay, once per forward: 295 -> 200 ms on 2 cores).
    try BLASSetup.withOpenBLASThreads {
        S.geqrf(&mi, &ni, w, &lda, &tau, &q, &lwork, &info)
        lwork = workSize(q)
        var work = [S](repeating: 0, count: Int(lwork))
        S.geqrf(&mi, &ni, w, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw DFMError(.internal, "qr: sgeqrf failed with info \(info)") }
    }
    // R: upper triangle of the first kq rows.
    var r = [S](repeating: 0, count: kq * n)
    // Rows at or beyond n (complete mode, m > n) are all zero.
    r.withUnsafeMutableBufferPointer { rp in
        for i in 0..<min(kq, n) { for j in i..<n { rp[i * n + j] = w[j * m + i] } }
    }
    // Q: sorgqr builds the first kq columns from the reflectors.
    var kqi = Int32(kq)
    var ki = Int32(k)
    try BLASSetup.withOpenBLASThreads {
        lwork = -1
        S.orgqr(&mi, &kqi, &ki, w, &lda, &tau, &q, &lwork, &info)
        lwork = workSize(q)
        var work = [S](repeating: 0, count: Int(lwork))
        S.orgqr(&mi, &kqi, &ki, w, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw DFMError(.internal, "qr: sorgqr failed with info \(info)") }
    }
    var qo = [S](repeating: 0, count: m * kq)
    qo.withUnsafeMutableBufferPointer { transposeBlocked(w, rows: kq, cols: m, $0.baseAddress!) }
    return (qo, r, kq)
}

/// dst (cols×rows) = srcᵀ for a row-major rows×cols src, in 32×32 tiles so that neither side
/// strides through memory a whole row at a time; bands of 32 rows in parallel.
private func transposeBlocked<S>(_ src: UnsafePointer<S>, rows: Int, cols: Int, _ dst: UnsafeMutablePointer<S>) {
    let tile = 32
    Parallel.chunks((rows + tile - 1) / tile, costPerItem: tile * cols) { bands in
        for band in bands {
            let i0 = band * tile
            let i1 = min(rows, i0 + tile)
            for j0 in stride(from: 0, to: cols, by: tile) {
                let j1 = min(cols, j0 + tile)
                for i in i0..<i1 { for j in j0..<j1 { dst[j * rows + i] = src[i * cols + j] } }
            }
        }
    }
}

/// LAPACK's workspace-query answer as an lwork (at least 1, never overflowing Int32).
private func workSize<S: Real>(_ q: S) -> Int32 {
    q.isFinite ? Int32(clamping: Int(Swift.max(1, Swift.min(q, 2e9)))) : 1
}
