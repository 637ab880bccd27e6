// dfm-bench: sgemm GFLOP/s and conv2d forward+backward GFLOP/s on ResNet-typical
// shapes, each as a fraction of the sgemm rate measured in the same run.
//
//   swift run -c release --scratch-path .build-bench dfm-bench [--threads 2] [--reps 5] [--tsv out.tsv]
//   dfm-bench workload W1 [--threads 2] [--warmup 2] [--reps 5] [--T n] [--checkpoint-steps]   (the W1-W6 model workloads, bench/run.sh)
//
// Times are the best of `reps` runs after one warm-up. Forward+backward computes the
// output, the input gradient and the weight gradient (no bias, as in ResNet), which is
// 3× the forward's 2·N·O·OH·OW·C·KH·KW FLOPs (padding taps included).
import DFM
import Dispatch
import Foundation

struct ConvShape {
    let name: String
    let n, c, h, w, o, k, stride, pad: Int
    var oh: Int { (h + 2 * pad - k) / stride + 1 }
    var ow: Int { (w + 2 * pad - k) / stride + 1 }
    var forwardFlops: Double { 2 * Double(n * o * oh * ow) * Double(c * k * k) }
}

/// The shapes shared with bench/conv_torch.py (keep the two lists identical).
let shapes: [ConvShape] = [
    ConvShape(name: "stem 7x7/2 3->64 @64x64 b32", n: 32, c: 3, h: 64, w: 64, o: 64, k: 7, stride: 2, pad: 3),
    ConvShape(name: "3x3 64->64 @32x32 b32", n: 32, c: 64, h: 32, w: 32, o: 64, k: 3, stride: 1, pad: 1),
    ConvShape(name: "3x3 64->64 @16x16 b32", n: 32, c: 64, h: 16, w: 16, o: 64, k: 3, stride: 1, pad: 1),
    ConvShape(name: "3x3 128->128 @8x8 b32", n: 32, c: 128, h: 8, w: 8, o: 128, k: 3, stride: 1, pad: 1),
    ConvShape(name: "3x3 512->512 @4x4 b32", n: 32, c: 512, h: 4, w: 4, o: 512, k: 3, stride: 1, pad: 1),
    ConvShape(name: "3x3 512->512 @2x2 b32", n: 32, c: 512, h: 2, w: 2, o: 512, k: 3, stride: 1, pad: 1),
    ConvShape(name: "3x3 512->512 @1x1 b32", n: 32, c: 512, h: 1, w: 1, o: 512, k: 3, stride: 1, pad: 1),
    ConvShape(name: "1x1/2 64->128 @32x32 b32", n: 32, c: 64, h: 32, w: 32, o: 128, k: 1, stride: 2, pad: 0),
    ConvShape(name: "1x1/2 256->512 @8x8 b32", n: 32, c: 256, h: 8, w: 8, o: 512, k: 1, stride: 2, pad: 0),
]

func arg(_ name: String) -> String? {
    let a = CommandLine.arguments
    guard let i = a.firstIndex(of: name), i + 1 < a.count else { return nil }
    return a[i + 1]
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

func randomTensor(_ shape: [Int], seed: UInt64) throws -> Tensor {
    var s = seed
    let n = shape.reduce(1, *)
    var v = [Float](repeating: 0, count: n)
    for i in 0..<n {
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        v[i] = Float(Int64(bitPattern: s >> 11) % 2001 - 1000) * 0.001
    }
    return try Tensor(v, shape: shape)
}

do {
    let threads = Int(arg("--threads") ?? "2") ?? 2
    let reps = max(1, Int(arg("--reps") ?? "5") ?? 5)
    try Parallel.setThreads(threads)
    // --openblas-pool: GEMMs threaded by OpenBLAS's own pool instead of dfm's (for comparison).
    if CommandLine.arguments.contains("--openblas-pool") { KernelBench.oneThreadPool = false }
    if let b = ProcessInfo.processInfo.environment["DFM_COLS_BUDGET"], let v = Int(b) { KernelBench.colsBudget = v }
    if ProcessInfo.processInfo.environment["DFM_GATHERED_GEMM"] == "0" { KernelBench.gatheredGemm = false }
    // `dfm-bench workload W1 [--threads 2] [--warmup 2] [--reps 5]`: one W1-W6 workload (Workloads.swift).
    if CommandLine.arguments.count > 2, CommandLine.arguments[1] == "workload" {
        try runWorkload(
            CommandLine.arguments[2], warmup: max(0, Int(arg("--warmup") ?? "2") ?? 2), reps: reps,
            steps: arg("--T").flatMap { Int($0) }, checkpoint: CommandLine.arguments.contains("--checkpoint-steps"))
        exit(0)
    }
    // `dfm-bench sgemm`: the n=1024 sgemm rate alone (best of reps), as JSON.
    if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "sgemm" {
        let t = try KernelBench.sgemmSeconds(n: 1024, reps: reps)
        print(
            "{\"impl\": \"sgemm\", \"ms\": \(t * 1e3), \"gflops\": \(2 * pow(1024.0, 3) / t * 1e-9), \"blas_core\": \"\(KernelBench.blasCore)\"}"
        )
        exit(0)
    }

    // sgemm is timed before and after the convs and the better rate kept, so that load from
    // other processes during one of the two measurements does not inflate the fractions.
    let sgemmN = 1024
    let sgemmBefore = try KernelBench.sgemmSeconds(n: sgemmN, reps: reps)
    print("threads \(threads), best of \(reps)")
    print("shape".padding(toLength: 30, withPad: " ", startingAt: 0) + "   fwd ms  fwd+bwd ms  GFLOP/s")

    var rows: [(String, Double, Double)] = []
    for s in shapes {
        let x = try randomTensor([s.n, s.c, s.h, s.w], seed: 1)
        let w = try randomTensor([s.o, s.c, s.k, s.k], seed: 2)
        try x.requiresGrad()
        try w.requiresGrad()
        let gy = try randomTensor([s.n, s.o, s.oh, s.ow], seed: 3)
        var bestFwd = Double.infinity
        var bestAll = Double.infinity
        for rep in 0...reps {
            x.grad = nil
            w.grad = nil
            let t0 = now()
            let y = try conv2d(x, w, stride: [s.stride], padding: [s.pad])
            let t1 = now()
            try y.backward(gy)
            let t2 = now()
            if rep > 0 {  // rep 0 warms up caches and allocations
                bestFwd = min(bestFwd, t1 - t0)
                bestAll = min(bestAll, t2 - t0)
            }
        }
        let rate = 3 * s.forwardFlops / bestAll * 1e-9
        print(
            s.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(format: " %8.2f  %10.2f  %7.1f", bestFwd * 1e3, bestAll * 1e3, rate))
        rows.append((s.name, bestAll * 1e3, rate))
    }
    let sgemmT = min(sgemmBefore, try KernelBench.sgemmSeconds(n: sgemmN, reps: reps))
    let sgemmRate = 2 * pow(Double(sgemmN), 3) / sgemmT * 1e-9
    print(String(format: "sgemm n=%d: %.2f ms, %.1f GFLOP/s (best of before/after)", sgemmN, sgemmT * 1e3, sgemmRate))
    var tsv = "sgemm n=\(sgemmN)\t\(sgemmT * 1e3)\t\(sgemmRate)\t1\n"
    for (name, ms, rate) in rows {
        print(
            name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(format: " %5.0f%% of sgemm", 100 * rate / sgemmRate))
        tsv += "\(name)\t\(ms)\t\(rate)\t\(rate / sgemmRate)\n"
    }
    if let path = arg("--tsv") {
        try tsv.write(toFile: path, atomically: true, encoding: .utf8)
    }
} catch {
    FileHandle.standardError.write(Data("dfm-bench: \(error)\n".utf8))
    exit(1)
}
